from pathlib import Path

from srstudy.base.frames import frame_name
from srstudy.base.joblog import logged
from srstudy.base.methods import BICUBIC
from srstudy.report.figures import crop_panel

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    crop, scale = sm.params.crop, int(sm.wildcards.scale)
    frame = frame_name(crop["frame"])
    upscaled = {BICUBIC: Path(sm.input.degraded) / BICUBIC / frame}
    upscaled |= {v: Path(folder) / frame for v, folder in zip(sm.params.variants, sm.input.variants, strict=True)}
    x, y, width, height = crop["box"]
    title = f"{crop['name']}: frame {crop['frame']}, x{scale}, {width}x{height} px at {x},{y}; PSNR (RGB) of the crop"
    psnrs = crop_panel(Path(sm.input.hr) / frame, upscaled, box=crop["box"], scale=scale, out=sm.output[0], title=title)
    print("\n".join(f"{label}: {value:.3f} dB" for label, value in psnrs.items()))
