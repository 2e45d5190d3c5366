from srstudy.base.gpu_slots import place_on_gpu
from srstudy.base.joblog import logged
from srstudy.nets.registry import resolve_spec
from srstudy.train.loop import execution_options, train

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    place_on_gpu()  # before CUDA starts
    train(
        sm.input.train,
        sm.input.eval,
        resolve_spec(sm.params.spec),
        seed=int(sm.wildcards.seed),
        scale=int(sm.wildcards.scale),
        model_path=sm.output.model,
        log_path=sm.output.log,
        threads=sm.threads,
        precision=sm.params.precision,
        tf32=sm.params.tf32,
        name=sm.wildcards.variant,
        **execution_options(sm.config),
    )
