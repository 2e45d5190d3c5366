from srstudy.base.joblog import logged
from srstudy.report.tables import write_scale_tables

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    write_scale_tables(
        comparisons_csv=sm.input.comparisons,
        seeds_csv=sm.input.seeds,
        variants=sm.params.variants,
        baseline=sm.params.baseline,
        comparisons=sm.params.comparisons,
        scale=int(sm.wildcards.scale),
        test_set=sm.params.test_set,
        markdown=sm.output.markdown,
        html_path=sm.output.html,
        training_csv=sm.input.training,
        thesis=sm.params.thesis,
        settings=sm.params.statistics,
        timing_paths=sm.input.timings,
    )
