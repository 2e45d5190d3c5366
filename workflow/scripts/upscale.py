from pathlib import Path

from srstudy.jobs import logged
from srstudy.upscale import upscale_test_sets

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
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
        thesis_code=sm.params.thesis_code,
    )
