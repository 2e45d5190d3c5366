from srstudy.base.joblog import logged
from srstudy.report.costs import write_costs

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    write_costs(
        sm.input.benchmarks,
        sm.params.jobs,
        csv_path=sm.output.csv,
        markdown_path=sm.output.markdown,
        html_path=sm.output.html,
    )
