"""srstudy: the logic behind the high-resolution SRCNN study workflow.

One module per stage (video, degrade, dataset, models, train, upscale, metrics,
tables, figures, run_summary; the tables' statistics and the thesis's published numbers
in statistics and published; hyperparameter searches in search); each is plain
functions, callable and testable without Snakemake. The study's jobs are declared once
in dag, rules' code inputs come from codedeps.
"""
