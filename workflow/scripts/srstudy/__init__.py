"""srstudy: the logic behind the high-resolution SRCNN study workflow.

One module per stage (video, degrade, dataset, models, train, upscale, metrics,
tables, figures); each is plain functions, callable and testable without Snakemake.
"""
