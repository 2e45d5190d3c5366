from srstudy.base.joblog import logged
from srstudy.report.run_summary import write_run_summary

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    write_run_summary(
        sm.config,
        checkpoints=sm.input.models,
        logs=sm.input.logs,
        train_sets=dict(zip(sm.params.scales, sm.input.train, strict=True)),
        eval_sets=dict(zip(sm.params.scales, sm.input.eval, strict=True)),
        csv_path=sm.output.csv,
        markdown_path=sm.output.markdown,
        html_path=sm.output.html,
    )
