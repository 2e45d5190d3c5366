from srstudy.config import resolve_spec
from srstudy.jobs import logged
from srstudy.slots import place_on_gpu
from srstudy.train import train

sm = snakemake  # noqa: F821 (injected by Snakemake)
# Read from the config, not params: changing when progress is saved must not retrain.
progress = sm.config["progress"]
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
        device=sm.config["device"],  # not a param: it cannot change the model
        threads=sm.threads,
        precision=sm.params.precision,
        tf32=sm.params.tf32,
        # Execution settings, read from the config (not params): changing them must not retrain.
        step_mode=sm.config["train"]["step"],
        log_every_steps=sm.config["train"]["log_every_steps"],
        name=sm.wildcards.variant,
        save_every_steps=progress["save_every_steps"],
        save_every_seconds=progress["save_every_seconds"],
        step_delay=progress["step_delay_seconds"],
    )
