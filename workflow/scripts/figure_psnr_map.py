from pathlib import Path

from srstudy.base.frames import frame_name
from srstudy.base.joblog import logged
from srstudy.base.methods import BICUBIC
from srstudy.report.figures import psnr_map

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    frame, scale = frame_name(sm.params.frame), int(sm.wildcards.scale)
    grids = psnr_map(
        hr_path=Path(sm.input.hr) / frame,
        model_path=Path(sm.input.model) / frame,
        bicubic_path=Path(sm.input.degraded) / BICUBIC / frame,
        scale=scale,
        cell=sm.params.cell,
        out=sm.output[0],
        label=sm.params.label,
        title=f"Frame {sm.params.frame}, x{scale}: PSNR (RGB) per {sm.params.cell} px tile",
    )
    print(f"cell PSNR: min {grids['psnr'].min():.2f}, max {grids['psnr'].max():.2f} dB")
