"""Image helpers shared by every stage: lossless PNG I/O (imageio), written atomically,
the BT.601 colour conversions of the reference SRCNN implementation, and the error for
a damaged intermediate file."""

import errno
import math
import os
import re
import shutil
import tempfile
import zlib
from contextlib import contextmanager
from pathlib import Path

import imageio.v3 as iio
import numpy as np

# BT.601 "studio swing" conversion used by the reference SRCNN (R, G, B in 0..255).
# The reference's Y row has a typo (64.738); this is the standard coefficient.
Y_FORMULA = "Y = 16 + (65.738 R + 129.057 G + 25.064 B) / 256  (BT.601, RGB in 0..255)"


def rgb_to_y(rgb: np.ndarray) -> np.ndarray:
    """Y plane (float64, 16..235) of an HxWx3 RGB array in 0..255."""
    rgb = np.asarray(rgb, dtype=np.float64)
    return 16.0 + (65.738 * rgb[..., 0] + 129.057 * rgb[..., 1] + 25.064 * rgb[..., 2]) / 256.0


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 YCbCr (float64) of an RGB array in 0..255, as the reference computes it."""
    rgb = np.asarray(rgb, dtype=np.float64)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = rgb_to_y(rgb)
    cb = 128.0 + (-37.945 * r - 74.494 * g + 112.439 * b) / 256.0
    cr = 128.0 + (112.439 * r - 94.154 * g - 18.285 * b) / 256.0
    return np.stack([y, cb, cr], axis=-1)


def ycbcr_to_rgb(ycbcr: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_ycbcr` (float64, not clipped)."""
    y, cb, cr = ycbcr[..., 0], ycbcr[..., 1], ycbcr[..., 2]
    r = 298.082 * y / 256.0 + 408.583 * cr / 256.0 - 222.921
    g = 298.082 * y / 256.0 - 100.291 * cb / 256.0 - 208.120 * cr / 256.0 + 135.576
    b = 298.082 * y / 256.0 + 516.412 * cb / 256.0 - 276.836
    return np.stack([r, g, b], axis=-1)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Clamp to 0..255 and round to 8 bit."""
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


# The thesis's test script (the reference SRCNN's test.py and utils.py) builds its output
# differently: float32 throughout, Y in with the typo'd 64.738 coefficient, the correct
# inverse back, then clip and ``astype(np.uint8)``, which truncates instead of rounding.
THESIS_CODE_Y_RED = 64.738
THESIS_CODE_DIR = "thesis_code"  # the subfolder of an upscaled folder that holds them


def rgb_to_ycbcr_thesis_code(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 YCbCr (float32) as the reference's test script computes it: Y with the
    64.738 typo, Cb and Cr as in :func:`rgb_to_ycbcr`."""
    rgb = np.asarray(rgb, dtype=np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 16.0 + (THESIS_CODE_Y_RED * r + 129.057 * g + 25.064 * b) / 256.0
    cb = 128.0 + (-37.945 * r - 74.494 * g + 112.439 * b) / 256.0
    cr = 128.0 + (112.439 * r - 94.154 * g - 18.285 * b) / 256.0
    return np.stack([y, cb, cr], axis=-1).astype(np.float32)


def to_uint8_truncated(image: np.ndarray) -> np.ndarray:
    """Clamp to 0..255 and cut to 8 bit (``astype(np.uint8)`` truncates), as the
    reference's test script does."""
    return np.clip(image, 0.0, 255.0).astype(np.uint8)


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


_UMASK = os.umask(0)
os.umask(_UMASK)


# Write errors that mean "no room": a full disk, a full quota, or a file size limit.
NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class DiskFullError(OSError):
    """An output could not be written for lack of space; the message names it."""

    def __str__(self) -> str:
        return self.strerror


def _errno(error: BaseException) -> int | None:
    if isinstance(error, OSError):
        return error.errno
    # HDF5 (h5py) reports a failed write as a RuntimeError with the errno in its text.
    found = re.search(r"\berrno = (\d+)", str(error))
    return int(found.group(1)) if found else None


def _no_space(error: BaseException, final: Path) -> DiskFullError | None:
    """A :class:`DiskFullError` naming ``final`` (the outermost output being written) if
    ``error`` is a lack of space, else None."""
    if (number := _errno(error)) not in NO_SPACE:
        return None
    return DiskFullError(
        number,
        f"could not write '{final}': {os.strerror(number)} (disk full, quota or file size limit). "
        "Free some space and run the workflow again: finished outputs are kept, this one is redone",
    )


def check_free_space(final: str | os.PathLike, needed: int) -> None:
    """Refuse to start writing ``final`` when its disk has less than ``needed`` bytes free
    (for writers such as HDF5 that fail badly when the disk fills mid-write)."""
    folder = Path(final).parent
    folder.mkdir(parents=True, exist_ok=True)
    if (free := shutil.disk_usage(folder).free) < needed:
        raise DiskFullError(
            errno.ENOSPC,
            f"could not write '{final}': it needs up to {needed / 1e6:.0f} MB and the disk has "
            f"{free / 1e6:.0f} MB free. Free some space and run the workflow again: finished outputs are kept",
        )


def _remove_leftovers(final: Path, suffix: str) -> None:
    """Remove what a killed writer of ``final`` left: its temporary siblings (a rerun
    writes ``final`` anew, and nothing else writes it meanwhile)."""
    prefix = f".{final.name}."
    with os.scandir(final.parent) as entries:
        for entry in entries:
            rest = entry.name[len(prefix) :]
            if not (entry.name.startswith(prefix) and len(rest) == 8 + len(suffix) and rest.endswith(suffix)):
                continue
            if entry.is_dir(follow_symlinks=False):
                _rmtree(Path(entry.path))
            else:
                Path(entry.path).unlink(missing_ok=True)


def atomic_path(final: str | os.PathLike, suffix: str = "") -> Path:
    """A fresh temporary path beside ``final``: write there, then ``os.replace``."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    suffix = suffix or final.suffix
    _remove_leftovers(final, suffix)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix, dir=final.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs get the usual mode
    return Path(tmp)


@contextmanager
def atomic_file(final: str | os.PathLike, suffix: str = ""):
    """Yield a temporary path beside ``final`` to write; it replaces ``final`` when the
    block succeeds and is removed when it fails, so readers never see a partial file.
    A write that fails for lack of space raises :class:`DiskFullError` naming ``final``."""
    tmp = atomic_path(final, suffix)
    try:
        yield tmp
        os.replace(tmp, final)
    except (OSError, RuntimeError) as error:
        if (no_space := _no_space(error, Path(final))) is None:
            raise
        raise no_space from error
    finally:
        tmp.unlink(missing_ok=True)


def write_png(path: str | os.PathLike, rgb: np.ndarray, compress_level: int = 1) -> None:
    """Write an 8-bit RGB PNG atomically (a reader never sees a half-written file)."""
    with atomic_file(path, ".png") as tmp:
        iio.imwrite(
            tmp, np.asarray(rgb, dtype=np.uint8), plugin="pillow", extension=".png", compress_level=compress_level
        )


def mse_uint8(a: np.ndarray, b: np.ndarray, rows: int = 256) -> float:
    """Mean squared error of two uint8 arrays, exact: integer squares summed in int64
    (row strips bound the temporaries)."""
    total = 0
    for r0 in range(0, a.shape[0], rows):
        diff = np.subtract(a[r0 : r0 + rows], b[r0 : r0 + rows], dtype=np.int32)
        total += int(np.square(diff).sum(dtype=np.int64))
    return total / a.size


def psnr_from_mse(mse: float, data_range: float = 255.0) -> float:
    """``10 log10(data_range^2 / mse)``; ``inf`` for identical images."""
    return math.inf if mse == 0 else 10.0 * math.log10(data_range * data_range / mse)


def frame_name(index: int) -> str:
    """File name of frame ``index`` (0-based, as decoded)."""
    return f"{index:06d}.png"


class atomic_directory:
    """Context manager that fills a temporary sibling folder and renames it to
    ``final`` only when the block succeeds, so a failed job leaves no partial output."""

    def __init__(self, final: str | os.PathLike):
        self.final = Path(final)

    def __enter__(self) -> Path:
        self.final.parent.mkdir(parents=True, exist_ok=True)
        _remove_leftovers(self.final, "")
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.final.name}.", dir=self.final.parent))
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            _rmtree(self.tmp)
            if no_space := _no_space(exc, self.final):
                raise no_space from exc
            return
        self.tmp.chmod(0o777 & ~_UMASK)
        if self.final.exists():
            _rmtree(self.final)
        os.replace(self.tmp, self.final)


def _rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
