from srstudy.config import resolve_spec
from srstudy.jobs import logged
from srstudy.train import train

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    train(
        sm.input.train,
        sm.input.eval,
        resolve_spec(sm.params.spec),
        seed=int(sm.wildcards.seed),
        scale=int(sm.wildcards.scale),
        model_path=sm.output.model,
        log_path=sm.output.log,
        device=sm.config["device"],  # not a param: it cannot change the model
        threads=sm.threads,
        precision=sm.params.precision,
        name=sm.wildcards.variant,
    )
