"""Frame files: 8-bit RGB PNGs named by frame number, read with a clear error when
damaged (naming the output to delete), and the modcrop every stage applies."""

import os
import zlib
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from srstudy.base.files import atomic_file

THESIS_CODE_DIR = "thesis_code"  # the subfolder of an upscaled folder that holds them


def modcrop(image: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right edge so both sides are multiples of ``scale`` (never resize)."""
    height, width = image.shape[:2]
    return image[: height - height % scale, : width - width % scale]


class DamagedFile(ValueError):
    """An intermediate file that exists but cannot be read (cut off, overwritten): the
    message names it and the output to delete."""


# Folders a rule writes as a whole, by the name of the results folder they sit in and
# their depth below it: frames/{split}/, degraded/{split}/x{s}/, upscaled/x{s}/{variant}/seed{n}/.
# Deleting one file inside would not make Snakemake rerun the rule; deleting the folder does.
WHOLE_OUTPUTS = {"frames": 1, "degraded": 2, "upscaled": 3}


def output_holding(path: str | os.PathLike) -> Path:
    """The output of the workflow that holds ``path``: the folder written as a whole, or
    the file itself."""
    parts = Path(path).parts
    for i in range(len(parts) - 2, -1, -1):
        depth = WHOLE_OUTPUTS.get(parts[i])
        if depth is not None and i + depth < len(parts) - 1:
            return Path(*parts[: i + depth + 1])
    return Path(path)


def damaged(path: str | os.PathLike, reason: BaseException | str) -> DamagedFile:
    """The error for a damaged file: what is wrong and what to delete before rerunning."""
    holder = output_holding(path)
    what = f"'{holder}' (the output that holds it)" if holder != Path(path) else "it"
    reason = str(reason).strip().splitlines()[0] if str(reason).strip() else type(reason).__name__
    reason = reason if len(reason) <= 100 else reason[:97] + "..."
    return DamagedFile(
        f"'{path}' is damaged and cannot be read ({reason}): delete {what} and run the workflow again; "
        "it is made anew, and what depends on it after it"
    )


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """HxWx3 uint8 RGB array of an image file; a damaged file raises :class:`DamagedFile`."""
    try:
        image = iio.imread(path, plugin="pillow", mode="RGB")
    except FileNotFoundError:
        raise
    except (OSError, SyntaxError, ValueError, zlib.error) as error:  # what Pillow raises for bad data
        raise damaged(path, error) from error
    return image


def write_png(path: str | os.PathLike, rgb: np.ndarray, compress_level: int = 1) -> None:
    """Write an 8-bit RGB PNG atomically (a reader never sees a half-written file)."""
    with atomic_file(path, ".png") as tmp:
        iio.imwrite(
            tmp, np.asarray(rgb, dtype=np.uint8), plugin="pillow", extension=".png", compress_level=compress_level
        )


def frame_name(index: int) -> str:
    """File name of frame ``index`` (0-based, as decoded)."""
    return f"{index:06d}.png"
