"""Stage 3: h5 train/eval sets of whole Y planes: HR and the network's input, the
bicubic-upscaled LR frame (SRCNN's grid, ``results/h5/x{s}/``) or, for post-upsampling
networks, the LR frame itself (``results/h5/x{s}/lr/``, made only when a variant needs it).

Frames, not pre-cut patches: the reference's 33x33/stride-14 patch files hold each
pixel ~5.6 times (as float32) and run out of memory on whole 2160p scenes; patches are
cut at training time instead. Planes are 8-bit Y, rounded as MATLAB's ``rgb2ycbcr`` does
for 8-bit images (the original SRCNN's training data), and gzip-compressed: ~1/40 of
the reference's bytes for the same frame."""

from pathlib import Path

import h5py
import numpy as np
from PIL import Image

from srstudy.base.colour import Y_FORMULA, mse_uint8, psnr_from_mse, rgb_to_y
from srstudy.base.files import atomic_file, check_free_space
from srstudy.base.frames import damaged, frame_name, modcrop, read_rgb

CHUNK_SIDE = 256
COMPRESSION = {"compression": "gzip", "compression_opts": 1}  # on 720p frames: within 2% of level 9, 3x faster
# The network's input per input grid (srstudy.nets.registry): the degraded folder it comes from.
INPUT_FOLDERS = {"hr": "bicubic", "lr": "lr"}
GRIDS = tuple(INPUT_FOLDERS)


def y_plane(rgb: np.ndarray) -> np.ndarray:
    """8-bit Y plane (BT.601, 16..235, rounded); the network sees it as Y/255."""
    return np.rint(rgb_to_y(rgb)).astype(np.uint8)


def pack(
    frames_dir: str | Path,
    degraded_dir: str | Path,
    indices: list[int],
    scale: int,
    out_path: str | Path,
    attrs: dict | None = None,
    grid: str = "hr",
) -> None:
    """Write ``out_path`` with datasets ``hr`` and ``lr`` (N x H x W 8-bit Y; ``lr`` is the
    bicubic-upscaled LR frame on the HR grid) and ``frames`` (the indices). With ``grid``
    ``lr``, ``lr`` is the LR frame itself (N x H/scale x W/scale), and the attribute
    ``grid`` says so."""
    if grid not in GRIDS:
        raise ValueError(f"unknown input grid '{grid}'; choose one of {', '.join(GRIDS)}")
    frames_dir, degraded_dir = Path(frames_dir), Path(degraded_dir)
    with Image.open(frames_dir / frame_name(indices[0])) as first:  # reads the header only
        width, height = first.size
    shape = (len(indices), height - height % scale, width - width % scale)
    small = shape if grid == "hr" else (shape[0], shape[1] // scale, shape[2] // scale)
    chunks = (1, min(CHUNK_SIDE, shape[1]), min(CHUNK_SIDE, shape[2]))
    small_chunks = (1, min(CHUNK_SIDE, small[1]), min(CHUNK_SIDE, small[2]))
    check_free_space(out_path, shape[0] * (shape[1] * shape[2] + small[1] * small[2]))  # both planes, before gzip
    with atomic_file(out_path, ".h5") as tmp, h5py.File(tmp, "w") as h5:
        hr = h5.create_dataset("hr", shape, np.uint8, chunks=chunks, **COMPRESSION)
        lr = h5.create_dataset("lr", small, np.uint8, chunks=small_chunks, **COMPRESSION)
        h5.create_dataset("frames", data=np.asarray(indices, np.int64))
        for row, index in enumerate(indices):
            hr[row] = y_plane(modcrop(read_rgb(frames_dir / frame_name(index)), scale))
            lr[row] = y_plane(read_rgb(degraded_dir / INPUT_FOLDERS[grid] / frame_name(index)))
        h5.attrs.update(
            {
                "scale": scale,
                "frames": indices,
                "y_formula": Y_FORMULA,
                "y_scale": "8-bit Y, rounded; the network sees Y / 255",
                **({"grid": grid} if grid != "hr" else {}),  # SRCNN's sets stay as they were
                **(attrs or {}),
            }
        )


def _attributes(h5: h5py.File) -> dict:
    attrs = {key: value.item() if isinstance(value, np.generic) else value for key, value in h5.attrs.items()}
    return attrs | {"frames": h5["frames"][...].tolist()}


def _read(path: str | Path, read):
    if not Path(path).is_file():
        raise FileNotFoundError(path)
    try:
        with h5py.File(path, "r") as h5:
            return read(h5)
    except (OSError, RuntimeError, KeyError) as error:  # a cut or overwritten file
        raise damaged(path, error) from error


def read_frames(path: str | Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """``(hr, lr, attrs)`` of an h5 set, loaded into memory: 8-bit planes as stored, and
    the attributes as plain Python values plus ``frames`` (the indices)."""
    return _read(path, lambda h5: (h5["hr"][...], h5["lr"][...], _attributes(h5)))


def read_attributes(path: str | Path) -> dict:
    """The attributes of :func:`read_frames`, without loading the planes."""
    return _read(path, _attributes)


def bicubic_eval_psnr(eval_h5: str | Path) -> float:
    """Mean Y-PSNR of the bicubic planes of an h5 eval set against its HR planes, in the
    convention of training's eval PSNR (8-bit Y / 255, whole planes, data range 1): the
    line a model's eval PSNR has to clear. (Here, not in metrics: the score jobs, which
    import metrics, do not depend on the h5 code.)"""
    hr, lr, _ = read_frames(eval_h5)
    return float(np.mean([psnr_from_mse(mse_uint8(h, low) / 255.0**2, 1.0) for h, low in zip(hr, lr, strict=True)]))
