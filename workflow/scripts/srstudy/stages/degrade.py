"""Stage 2: the degradation model of the study, per scale: modcrop the HR frame,
bicubic downscale (Pillow, antialiased, as the reference), bicubic upscale back."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from srstudy.base.files import atomic_directory
from srstudy.base.frames import frame_name, modcrop, read_rgb, write_png

# Smallest LR side we accept: below this, bicubic has too few pixels to mean anything.
MIN_LR_SIDE = 8


class FrameSizeError(ValueError):
    """A frame too small for the requested scale."""


def check_frame_size(width: int, height: int, scale: int, what: str = "frame") -> None:
    if min(width, height) // scale < MIN_LR_SIDE:
        raise FrameSizeError(
            f"{what} of {width}x{height} is too small for scale {scale}: its low-resolution version "
            f"would be {width // scale}x{height // scale}, under {MIN_LR_SIDE} px a side. "
            f"Remove scale {scale} from 'scales' or use a larger video"
        )


def degrade(hr: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(hr_cropped, lr, bicubic)``: the modcropped HR frame, its bicubic downscale by
    ``scale``, and that LR frame bicubic-upscaled back to the cropped HR grid."""
    height, width = hr.shape[:2]
    check_frame_size(width, height, scale)
    hr = modcrop(hr, scale)
    height, width = hr.shape[:2]
    lr = Image.fromarray(hr).resize((width // scale, height // scale), Image.Resampling.BICUBIC)
    bicubic = lr.resize((width, height), Image.Resampling.BICUBIC)
    return hr, np.asarray(lr), np.asarray(bicubic)


def degrade_frames(
    frames_dir: str | Path, indices: list[int], scale: int, out_dir: str | Path, threads: int = 1
) -> None:
    """Write ``out_dir/lr/NNNNNN.png`` and ``out_dir/bicubic/NNNNNN.png`` for each frame.
    The folder appears atomically, when every frame is done."""
    frames_dir = Path(frames_dir)

    def one(index: int, tmp: Path) -> None:
        _, lr, bicubic = degrade(read_rgb(frames_dir / frame_name(index)), scale)
        write_png(tmp / "lr" / frame_name(index), lr)
        write_png(tmp / "bicubic" / frame_name(index), bicubic)

    with atomic_directory(out_dir) as tmp, ThreadPoolExecutor(max(1, threads)) as pool:
        (tmp / "lr").mkdir()
        (tmp / "bicubic").mkdir()
        for done in [pool.submit(one, index, tmp) for index in indices]:
            done.result()
