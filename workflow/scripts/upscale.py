from pathlib import Path

from srstudy.base.gpu_slots import place_on_gpu
from srstudy.base.joblog import logged
from srstudy.base.methods import BICUBIC
from srstudy.nets.device import set_tf32
from srstudy.nets.registry import resolve_spec
from srstudy.stages.inference import upscale_test_sets, write_timing

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    place_on_gpu()  # before CUDA starts
    set_tf32(sm.config["train"]["tf32"])  # the numerics the models were trained with
    timings = upscale_test_sets(
        sm.input.model,
        [(Path(sm.input.degraded) / BICUBIC, sm.params.frames, sm.output.frames)],
        spec=resolve_spec(sm.params.spec),
        scale=int(sm.wildcards.scale),
        # Not params: the tile size and device give the same frames (tiling is exact).
        device=sm.config["device"],
        tile=sm.config["upscale"]["tile"],
        threads=sm.threads,
        precision=sm.params.precision,
        variant=sm.wildcards.variant,
        thesis_code=sm.params.thesis_code,
    )
    labels = {"scale": int(sm.wildcards.scale), "variant": sm.wildcards.variant, "seed": int(sm.wildcards.seed)}
    write_timing(sm.output.timing, labels | timings[0])
