from srstudy.jobs import logged
from srstudy.run_summary import write_run_summary

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    write_run_summary(
        sm.config,
        sm.input.models,
        sm.input.logs,
        dict(zip(sm.params.scales, sm.input.train, strict=True)),
        dict(zip(sm.params.scales, sm.input.eval, strict=True)),
        sm.output.csv,
        sm.output.markdown,
        sm.output.html,
    )
