"""srstudy: the logic behind the high-resolution SRCNN study workflow, in layers that
import downward only (a rule's code inputs are its script's import closure, so an
import is a rerun trigger):

* ``base``: files and atomic writes, frames, colour, job logs, GPU slots;
* ``nets``: the model registry, one module per network, devices, tiled inference;
* ``stages``: video, degradation, h5 sets, upscaling, metrics, encoded videos;
* ``train``: patches, steps, resuming, the training loop;
* ``search``: the Optuna worker;
* ``plan``: the config, its checks, cross-validation folds and the DAG's jobs (parse time);
* ``report``: scores, comparisons, statistics, tables, figures, run summary, trials.

Each module is plain functions, callable and testable without Snakemake.
"""
