"""Stage 5: upscale test frames with a trained model: Y through the network (tiled,
exact, in bounded memory), Cb/Cr from the bicubic upscale, 8-bit RGB PNGs out.

With ``thesis_code`` each frame is also built as the thesis's test script built it
(:func:`thesis_code_frame`) and written to ``thesis_code/`` inside the output folder, so
the thesis's own numbers can be reproduced beside the corrected ones."""

import pickle
from pathlib import Path

import numpy as np
import torch
from torch import nn

from srstudy.images import (
    THESIS_CODE_DIR,
    atomic_directory,
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
from srstudy.models import build_model, model_spec, receptive_radius, select_device


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
    model: nn.Module, y: np.ndarray, halo: int, tile: int = 512, device=None, precision: str = "fp32"
) -> np.ndarray:
    """Model output for a whole HxW plane, computed tile by tile. Each tile is read with
    a margin of ``halo`` pixels (at least the receptive radius) that is cut off again, so
    the result equals whole-plane inference while memory stays bounded by the tile."""
    device = device or next(model.parameters()).device
    height, width = y.shape
    plane = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))
    if device.type == "cuda":
        # One pinned, asynchronous copy of the plane; tiles are cut and stitched on the GPU.
        plane = plane.pin_memory().to(device, non_blocking=True)
    out = torch.empty((height, width), dtype=torch.float32, device=plane.device)
    with autocast(device, precision):
        for top in range(0, height, tile):
            for left in range(0, width, tile):
                bottom, right = min(top + tile, height), min(left + tile, width)
                y0, x0 = max(top - halo, 0), max(left - halo, 0)
                y1, x1 = min(bottom + halo, height), min(right + halo, width)
                patch = plane[y0:y1, x0:x1][None, None].to(device).contiguous(memory_format=torch.channels_last)
                result = model(patch)[0, 0]
                out[top:bottom, left:right] = result[top - y0 : bottom - y0, left - x0 : right - x0]
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
    if spec is not None and model_spec(checkpoint["spec"]) != model_spec(spec):
        problems.append(f"its model is {model_spec(checkpoint['spec'])}, the config asks for {model_spec(spec)}")
    if scale is not None and checkpoint["scale"] != scale:
        problems.append(f"it was trained for scale {checkpoint['scale']}, not {scale}")
    if problems:
        raise CheckpointMismatch(
            f"checkpoint '{path}' does not match: " + "; ".join(problems) + ". Retrain it (delete the file and rerun)"
        )
    return checkpoint


def upscale_frame(
    model: nn.Module, bicubic_rgb: np.ndarray, halo: int, tile: int = 512, precision: str = "fp32"
) -> np.ndarray:
    """8-bit RGB super-resolved frame from the bicubic-upscaled one."""
    ycbcr = rgb_to_ycbcr(bicubic_rgb)
    y = infer_tiled(model, (ycbcr[..., 0] / 255.0).astype(np.float32), halo, tile, precision=precision)
    ycbcr[..., 0] = np.clip(y, 0.0, 1.0) * 255.0
    return to_uint8(ycbcr_to_rgb(ycbcr))


def thesis_code_frame(
    model: nn.Module, bicubic_rgb: np.ndarray, halo: int, tile: int = 512, precision: str = "fp32"
) -> np.ndarray:
    """The same model's output built as the thesis's test script built it: float32, Y in
    with the 64.738 typo, the network's Y (clamped to 0..1) with the input's Cb/Cr back
    through the correct inverse, clipped and truncated to 8 bits (not rounded)."""
    ycbcr = rgb_to_ycbcr_thesis_code(bicubic_rgb)
    y = infer_tiled(model, ycbcr[..., 0] / np.float32(255.0), halo, tile, precision=precision)
    ycbcr[..., 0] = np.clip(y, 0.0, 1.0) * np.float32(255.0)
    return to_uint8_truncated(ycbcr_to_rgb(ycbcr))


def upscale_test_sets(
    checkpoint_path: str | Path,
    test_sets: list[tuple[str | Path, list[int], str | Path]],
    spec: dict,
    scale: int,
    device: str = "auto",
    tile: int | str = "auto",
    threads: int | None = None,
    precision: str = "fp32",
    variant: str | None = None,
    thesis_code: bool = False,
) -> None:
    """Upscale several test sets, each ``(bicubic_dir, frame indices, out_dir)``, with one
    model loaded once. Writes ``out_dir/NNNNNN.png`` (and, with ``thesis_code``,
    ``out_dir/thesis_code/NNNNNN.png``); each folder appears atomically."""
    if threads:
        torch.set_num_threads(threads)
    checkpoint = load_checkpoint(checkpoint_path, spec, scale, variant)
    model = build_model(checkpoint["spec"])
    model.load_state_dict(checkpoint["state_dict"])
    device = select_device(device)
    model = prepare_for_inference(model, device)
    halo, tile = receptive_radius(checkpoint["spec"]["layers"]), tile_for(tile, device)
    for bicubic_dir, indices, out_dir in test_sets:
        with atomic_directory(out_dir) as tmp:
            for index in progress_bar(indices, desc=str(out_dir), unit="frame"):
                bicubic = read_rgb(Path(bicubic_dir) / frame_name(index))
                write_png(tmp / frame_name(index), upscale_frame(model, bicubic, halo, tile, precision))
                if thesis_code:
                    twin = thesis_code_frame(model, bicubic, halo, tile, precision)
                    write_png(tmp / THESIS_CODE_DIR / frame_name(index), twin)
