"""Stage 5: upscale test frames with a trained model: Y through the network (tiled,
exact, in bounded memory), Cb/Cr from the bicubic upscale, 8-bit RGB PNGs out.

With ``thesis_code`` each frame is also built as the thesis's test script built it
(:func:`thesis_code_frame`) and written to ``thesis_code/`` inside the output folder, so
the thesis's own numbers can be reproduced beside the corrected ones."""

import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from srstudy.base.colour import rgb_to_ycbcr, rgb_to_ycbcr_thesis_code, to_uint8, to_uint8_truncated, ycbcr_to_rgb
from srstudy.base.files import atomic_directory, atomic_file
from srstudy.base.frames import THESIS_CODE_DIR, damaged, frame_name, read_rgb, write_png
from srstudy.base.joblog import progress_bar
from srstudy.nets.checkpoint import inference_model, load_checkpoint
from srstudy.nets.registry import arch_of
from srstudy.nets.tiling import infer_tiled


def _factor(bicubic_rgb: np.ndarray, lr_rgb: np.ndarray | None) -> int:
    """How much a post-upsampling network enlarges ``lr_rgb`` to the bicubic frame's size."""
    if lr_rgb is None:
        return 1
    factor = bicubic_rgb.shape[0] // lr_rgb.shape[0]
    if lr_rgb.shape[0] * factor != bicubic_rgb.shape[0] or lr_rgb.shape[1] * factor != bicubic_rgb.shape[1]:
        raise ValueError(
            f"the LR frame ({lr_rgb.shape[1]}x{lr_rgb.shape[0]}) is not the bicubic frame "
            f"({bicubic_rgb.shape[1]}x{bicubic_rgb.shape[0]}) divided by a whole scale"
        )
    return factor


def upscale_frame(
    model: nn.Module,
    bicubic_rgb: np.ndarray,
    halo: int,
    tile: int = 512,
    precision: str = "fp32",
    lr_rgb: np.ndarray | None = None,
) -> np.ndarray:
    """8-bit RGB super-resolved frame: Y through the network, from the bicubic-upscaled
    frame's Y, or from ``lr_rgb``'s (the LR frame) for a network on the LR grid; Cb/Cr
    from the bicubic frame."""
    ycbcr = rgb_to_ycbcr(bicubic_rgb)
    source = ycbcr if lr_rgb is None else rgb_to_ycbcr(lr_rgb)
    factor = _factor(bicubic_rgb, lr_rgb)
    y = infer_tiled(model, (source[..., 0] / 255.0).astype(np.float32), halo, tile, precision=precision, factor=factor)
    ycbcr[..., 0] = np.clip(y, 0.0, 1.0) * 255.0
    return to_uint8(ycbcr_to_rgb(ycbcr))


def thesis_code_frame(
    model: nn.Module,
    bicubic_rgb: np.ndarray,
    halo: int,
    tile: int = 512,
    precision: str = "fp32",
    lr_rgb: np.ndarray | None = None,
) -> np.ndarray:
    """The same model's output built as the thesis's test script built it: float32, Y in
    with the 64.738 typo (from ``lr_rgb`` for a network on the LR grid), the network's Y
    (clamped to 0..1) with the bicubic frame's Cb/Cr back through the correct inverse,
    clipped and truncated to 8 bits (not rounded)."""
    ycbcr = rgb_to_ycbcr_thesis_code(bicubic_rgb)
    source = ycbcr if lr_rgb is None else rgb_to_ycbcr_thesis_code(lr_rgb)
    factor = _factor(bicubic_rgb, lr_rgb)
    y = infer_tiled(model, source[..., 0] / np.float32(255.0), halo, tile, precision=precision, factor=factor)
    ycbcr[..., 0] = np.clip(y, 0.0, 1.0) * np.float32(255.0)
    return to_uint8_truncated(ycbcr_to_rgb(ycbcr))


def write_timing(path: str | Path, timing: dict) -> None:
    """An upscale job's timing (:func:`upscale_test_sets`), as JSON, atomically."""
    with atomic_file(path, ".json") as tmp:
        tmp.write_text(json.dumps(timing, indent=1) + "\n")


def read_timing(path: str | Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise damaged(path, error) from error


def upscale_test_sets(
    checkpoint_path: str | Path,
    test_sets: list[tuple[str | Path, list[int], str | Path]],
    *,  # the rest by name: too many settings to pass by position safely
    spec: dict,
    scale: int,
    device: str = "auto",
    tile: int | str = "auto",
    threads: int | None = None,
    precision: str = "fp32",
    variant: str | None = None,
    thesis_code: bool = False,
) -> list[dict]:
    """Upscale several test sets, each ``(bicubic_dir, frame indices, out_dir)``, with one
    model loaded once; a network on the LR grid reads the LR frames from the ``lr``
    folder beside ``bicubic_dir`` (the degraded folder's layout). Writes
    ``out_dir/NNNNNN.png`` (and, with ``thesis_code``, ``out_dir/thesis_code/NNNNNN.png``);
    each folder appears atomically. Returns per test set how long a frame took on this
    device (``ms_per_frame``: the median; ``ms``: each frame's), for :func:`write_timing`."""
    if threads:
        torch.set_num_threads(threads)
    checkpoint = load_checkpoint(checkpoint_path, spec, scale, variant)
    arch = arch_of(checkpoint["spec"])
    model, device, halo, tile = inference_model(checkpoint, device, tile)
    timings = []
    for bicubic_dir, indices, out_dir in test_sets:
        seconds = []
        with atomic_directory(out_dir) as tmp:
            for index in progress_bar(indices, desc=str(out_dir), unit="frame"):
                bicubic = read_rgb(Path(bicubic_dir) / frame_name(index))
                lr = read_rgb(Path(bicubic_dir).parent / "lr" / frame_name(index)) if arch.grid == "lr" else None
                started = time.perf_counter()  # the frame's conversions and network (the result syncs)
                frame = upscale_frame(model, bicubic, halo, tile, precision, lr_rgb=lr)
                seconds.append(time.perf_counter() - started)
                write_png(tmp / frame_name(index), frame)
                if thesis_code:
                    twin = thesis_code_frame(model, bicubic, halo, tile, precision, lr_rgb=lr)
                    write_png(tmp / THESIS_CODE_DIR / frame_name(index), twin)
        timings.append(
            {
                "ms_per_frame": 1000 * float(np.median(seconds)) if seconds else None,
                "ms": [1000 * s for s in seconds],
                "width": int(bicubic.shape[1]) if seconds else None,
                "height": int(bicubic.shape[0]) if seconds else None,
                "device": str(device),
                "tile": tile,
                "precision": precision,
            }
        )
    return timings
