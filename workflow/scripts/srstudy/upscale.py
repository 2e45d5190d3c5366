"""Stage 5: upscale test frames with a trained model: Y through the network (tiled,
exact, in bounded memory), Cb/Cr from the bicubic upscale, 8-bit RGB PNGs out.

With ``thesis_code`` each frame is also built as the thesis's test script built it
(:func:`thesis_code_frame`) and written to ``thesis_code/`` inside the output folder, so
the thesis's own numbers can be reproduced beside the corrected ones."""

import json
import pickle
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from srstudy.archs import arch_of
from srstudy.images import (
    THESIS_CODE_DIR,
    atomic_directory,
    atomic_file,
    damaged,
    frame_name,
    read_rgb,
    rgb_to_ycbcr,
    rgb_to_ycbcr_thesis_code,
    to_uint8,
    to_uint8_truncated,
    write_png,
    ycbcr_to_rgb,
)
from srstudy.jobs import progress_bar
from srstudy.models import build_model, halo_of, model_spec, select_device


class CheckpointMismatch(ValueError):
    """A checkpoint that does not belong to the configured variant or scale."""


# Tile side for ``tile: auto``: on a CPU, 512 px tiles keep the halo overhead at 6% and
# the activations in cache-friendly blocks (~15% faster than 256, 70 MB of activations);
# on a GPU larger tiles fill the device (1024 px: ~0.5 GB of activations at full width).
AUTO_TILE = {"cpu": 512}
AUTO_TILE_ACCELERATOR = 1024
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def tile_for(tile: int | str, device: torch.device) -> int:
    if tile == "auto":
        return AUTO_TILE.get(device.type, AUTO_TILE_ACCELERATOR)
    return int(tile)


def autocast(device: torch.device, precision: str = "fp32"):
    """Mixed precision for ``bf16``/``fp16`` (convolutions in half precision, weights and
    the loss in fp32); a no-op for ``fp32``."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision '{precision}'; choose one of {sorted(PRECISIONS)}")
    dtype = PRECISIONS[precision]
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def prepare_for_inference(model: nn.Module, device: torch.device) -> nn.Module:
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # tiles repeat one shape: tune the kernel once
    model = model.to(device).eval()
    # Channels-last convolutions run ~2x faster on CPUs (oneDNN) and are native on GPUs.
    return model.to(memory_format=torch.channels_last)


@torch.inference_mode()
def infer_tiled(
    model: nn.Module,
    y: np.ndarray,
    halo: int,
    tile: int = 512,
    device=None,
    precision: str = "fp32",
    factor: int = 1,
) -> np.ndarray:
    """Model output for a whole HxW input plane, computed tile by tile: HxW, or
    (factor H)x(factor W) for a network that upscales by ``factor`` itself (its input is
    the LR plane). Tiles are cut on the input grid, ``tile`` output pixels a side, each
    read with a margin of ``halo`` input pixels (at least the receptive radius) whose
    output is cut off again, so the result equals whole-plane inference while memory
    stays bounded by the tile."""
    device = device or next(model.parameters()).device
    height, width = y.shape
    step = max(1, tile // factor)  # the tile on the input grid
    plane = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))
    if device.type == "cuda":
        # One pinned, asynchronous copy of the plane; tiles are cut and stitched on the GPU.
        plane = plane.pin_memory().to(device, non_blocking=True)
    out = torch.empty((height * factor, width * factor), dtype=torch.float32, device=plane.device)
    f = factor
    with autocast(device, precision):
        for top in range(0, height, step):
            for left in range(0, width, step):
                bottom, right = min(top + step, height), min(left + step, width)
                y0, x0 = max(top - halo, 0), max(left - halo, 0)
                y1, x1 = min(bottom + halo, height), min(right + halo, width)
                patch = plane[y0:y1, x0:x1][None, None].to(device).contiguous(memory_format=torch.channels_last)
                result = model(patch)[0, 0]
                out[top * f : bottom * f, left * f : right * f] = result[
                    (top - y0) * f : (bottom - y0) * f, (left - x0) * f : (right - x0) * f
                ]
    return out.cpu().numpy()


class UnsafeCheckpoint(pickle.UnpicklingError):
    """A checkpoint holding pickled objects other than tensors and plain data."""


def load_checkpoint(
    path: str | Path, spec: dict | None = None, scale: int | None = None, variant: str | None = None
) -> dict:
    """Load a checkpoint safely (``weights_only=True``: no pickled code runs) and refuse
    one whose model spec, scale or variant differs from the configured ones."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise UnsafeCheckpoint(
            f"checkpoint '{path}' refused: it holds pickled objects other than tensors and plain data "
            "(it may carry code, which is never run); use a checkpoint this workflow wrote, or delete it and rerun"
        ) from error
    except (RuntimeError, EOFError) as error:  # a cut or overwritten file
        raise damaged(path, error) from error
    problems = []
    if variant is not None and checkpoint.get("variant", variant) != variant:
        problems.append(f"it belongs to variant '{checkpoint['variant']}', not '{variant}'")
    have, want = model_spec(checkpoint["spec"]), model_spec(spec) if spec is not None else None
    if want is not None and have["arch"] != want["arch"]:
        problems.append(f"its arch is {have['arch']}, the config asks for {want['arch']}")
    elif want is not None and have != want:
        sizes = [{k: v for k, v in s.items() if k != "arch"} for s in (have, want)]
        problems.append(f"its model is {sizes[0]}, the config asks for {sizes[1]}")
    if scale is not None and checkpoint["scale"] != scale:
        problems.append(f"it was trained for scale {checkpoint['scale']}, not {scale}")
    if problems:
        raise CheckpointMismatch(
            f"checkpoint '{path}' does not match: " + "; ".join(problems) + ". Retrain it (delete the file and rerun)"
        )
    return checkpoint


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


def inference_model(checkpoint: dict, device: str, tile: int | str) -> tuple[nn.Module, torch.device, int, int]:
    """A loaded checkpoint's network ready for tiled inference: the model on the chosen
    device, that device, the network's halo and the tile size for the device."""
    spec, scale = checkpoint["spec"], int(checkpoint["scale"])
    model = build_model(spec, scale)
    model.load_state_dict(checkpoint["state_dict"])
    device = select_device(device)
    return prepare_for_inference(model, device), device, halo_of(spec, scale), tile_for(tile, device)


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
