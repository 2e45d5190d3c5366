from pathlib import Path

from srstudy.base.joblog import logged
from srstudy.report.tables import write_summaries

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    write_summaries(
        sm.input.scores,
        variants=sm.params.variants,
        baseline=sm.params.baseline,
        comparisons=sm.params.comparisons,
        out_dir=Path(sm.output.summary).parent,
        settings=sm.params.statistics,
    )
