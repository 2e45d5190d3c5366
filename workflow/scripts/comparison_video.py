from pathlib import Path

from srstudy.base.joblog import logged
from srstudy.stages.encode import video_page, write_comparison
from srstudy.stages.video import read_manifest

sm = snakemake  # noqa: F821 (injected by Snakemake)
scale, variant = int(sm.wildcards.scale), sm.wildcards.variant
with logged(sm.log[0]):
    panels = [
        ("bicubic", Path(sm.input.degraded) / "bicubic"),
        (f"{variant} (seed {sm.wildcards.seed})", sm.input.upscaled[0]),
        ("ground truth", sm.input.frames),
    ]
    fps = read_manifest(sm.input.frames)["fps"] / sm.params.step
    write_comparison(panels, sm.params.frames, scale, sm.output.video, fps, ffmpeg_exe=sm.params.ffmpeg)
    video_page(sm.output.video, sm.output.page, f"x{scale}: bicubic | {variant} | ground truth")
