import json
from pathlib import Path

from srstudy.base.joblog import logged
from srstudy.report.trials import summarize

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    (study,) = {json.loads(Path(path).read_text())["study"] for path in sm.input.workers}
    summarize(
        sm.params.journal,
        study,
        name=sm.wildcards.search,
        scale=int(sm.wildcards.scale),
        search=sm.params.search,
        defaults=sm.params.defaults,
        outputs=dict(sm.output.items()),
    )
