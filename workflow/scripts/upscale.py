from pathlib import Path

from srstudy.config import resolve_spec
from srstudy.jobs import logged
from srstudy.methods import BICUBIC
from srstudy.upscale import upscale_test_sets

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    upscale_test_sets(
        sm.input.model,
        [(Path(sm.input.degraded) / BICUBIC, sm.params.frames, sm.output[0])],
        spec=resolve_spec(sm.params.spec),
        scale=int(sm.wildcards.scale),
        # Not params: the tile size and device give the same frames (tiling is exact).
        device=sm.config["device"],
        tile=sm.config["upscale"]["tile"],
        threads=sm.threads,
        precision=sm.params.precision,
        variant=sm.wildcards.variant,
    )
