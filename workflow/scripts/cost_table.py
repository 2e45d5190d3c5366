from srstudy.costs import write_costs
from srstudy.jobs import logged

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    write_costs(sm.input.benchmarks, sm.params.jobs, sm.output.csv, sm.output.markdown, sm.output.html)
