from pathlib import Path

from srstudy.base.joblog import logged
from srstudy.report.crossval import write_cv_tables

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
