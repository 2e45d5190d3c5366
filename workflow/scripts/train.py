from srstudy.jobs import logged
from srstudy.train import train

sm = snakemake  # noqa: F821 (injected by Snakemake)
# Read from the config, not params: changing when progress is saved must not retrain.
progress = sm.config["progress"]
with logged(sm.log[0]):
    train(
        sm.input.train,
        sm.input.eval,
        sm.params.spec,
        seed=int(sm.wildcards.seed),
        scale=int(sm.wildcards.scale),
        model_path=sm.output.model,
        log_path=sm.output.log,
        device=sm.params.device,
        threads=sm.threads,
        precision=sm.params.precision,
        name=sm.wildcards.variant,
        save_every_steps=progress["save_every_steps"],
        save_every_seconds=progress["save_every_seconds"],
        step_delay=progress["step_delay_seconds"],
    )
