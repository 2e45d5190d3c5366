from pathlib import Path

from srstudy.jobs import logged
from srstudy.models import set_tf32
from srstudy.slots import place_on_gpu
from srstudy.upscale import upscale_test_sets

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    place_on_gpu()  # before CUDA starts
    set_tf32(sm.config["train"]["tf32"])  # the numerics the models were trained with
    upscale_test_sets(
        sm.input.model,
        [
            (Path(degraded) / "bicubic", frames, out_dir)
            for degraded, frames, out_dir in zip(sm.input.degraded, sm.params.frames, sm.output, strict=True)
        ],
        spec=sm.params.spec,
        scale=int(sm.wildcards.scale),
        device=sm.params.device,
        tile=sm.params.tile,
        threads=sm.threads,
        precision=sm.params.precision,
        variant=sm.wildcards.variant,
    )
