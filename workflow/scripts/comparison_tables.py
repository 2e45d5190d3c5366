from srstudy.jobs import logged
from srstudy.tables import write_scale_tables

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    write_scale_tables(
        sm.input.comparisons,
        sm.input.seeds,
        sm.params.variants,
        sm.params.baseline,
        sm.params.comparisons,
        int(sm.wildcards.scale),
        sm.params.test_set,
        sm.output.markdown,
        sm.output.html,
        training_csv=sm.input.training,
        thesis=sm.params.thesis,
        settings=sm.params.statistics,
        timing_paths=sm.input.timings,
    )
