import json

from srstudy.images import atomic_file
from srstudy.jobs import logged
from srstudy.search import run_worker

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    done = run_worker(
        sm.params.journal,
        sm.input.train,
        sm.input.eval,
        name=sm.wildcards.search,
        scale=int(sm.wildcards.scale),
        search=sm.params.search,
        defaults=sm.params.defaults,
        worker=int(sm.wildcards.worker),
        scratch=sm.params.scratch,
        device=sm.params.device,
        threads=sm.threads,
        precision=sm.params.precision,
    )
    with atomic_file(sm.output[0], ".json") as tmp:
        tmp.write_text(json.dumps(done, indent=1))
