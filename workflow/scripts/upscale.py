from pathlib import Path

from srstudy.jobs import logged
from srstudy.upscale import upscale_frames

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    upscale_frames(
        sm.input.model,
        Path(sm.input.degraded) / "bicubic",
        sm.params.frames,
        sm.output[0],
        spec=sm.params.spec,
        scale=int(sm.wildcards.scale),
        device=sm.params.device,
        tile=sm.params.tile,
        threads=sm.threads,
    )
