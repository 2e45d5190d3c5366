import json

from srstudy.base.files import atomic_file
from srstudy.base.gpu_slots import place_on_gpu
from srstudy.base.joblog import logged
from srstudy.search.worker import run_worker
from srstudy.train.loop import execution_options

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    place_on_gpu()  # before CUDA starts
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
        threads=sm.threads,
        precision=sm.params.precision,
        tf32=sm.params.tf32,
        **execution_options(sm.config),
    )
    with atomic_file(sm.output[0], ".json") as tmp:
        tmp.write_text(json.dumps(done, indent=1))
