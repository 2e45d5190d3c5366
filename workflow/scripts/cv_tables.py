from pathlib import Path

from srstudy.crossval import write_cv_tables
from srstudy.jobs import logged

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    write_cv_tables(
        sm.input.scores,
        sm.params.folds,
        sm.params.variants,
        sm.params.baseline,
        Path(sm.output.summary).parent,
        sm.params.settings,
    )
