"""Stage 5: upscale test frames with a trained model: Y through the network (tiled,
exact, in bounded memory), Cb/Cr from the bicubic upscale, 8-bit RGB PNGs out."""

from pathlib import Path

import numpy as np
import torch
from torch import nn

from srstudy.images import atomic_directory, frame_name, read_rgb, rgb_to_ycbcr, to_uint8, write_png, ycbcr_to_rgb
from srstudy.models import build_model, model_spec, receptive_radius, select_device


class CheckpointMismatch(ValueError):
    """A checkpoint that does not belong to the configured variant or scale."""


def prepare_for_inference(model: nn.Module, device: torch.device) -> nn.Module:
    model = model.to(device).eval()
    # Channels-last convolutions run ~2x faster on CPUs (oneDNN) and are native on GPUs.
    return model.to(memory_format=torch.channels_last)


@torch.inference_mode()
def infer_tiled(model: nn.Module, y: np.ndarray, halo: int, tile: int = 256, device=None) -> np.ndarray:
    """Model output for a whole HxW plane, computed tile by tile. Each tile is read with
    a margin of ``halo`` pixels (at least the receptive radius) that is cut off again, so
    the result equals whole-plane inference while memory stays bounded by the tile."""
    device = device or next(model.parameters()).device
    height, width = y.shape
    out = np.empty((height, width), np.float32)
    plane = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            bottom, right = min(top + tile, height), min(left + tile, width)
            y0, x0 = max(top - halo, 0), max(left - halo, 0)
            y1, x1 = min(bottom + halo, height), min(right + halo, width)
            patch = plane[y0:y1, x0:x1][None, None].to(device).contiguous(memory_format=torch.channels_last)
            result = model(patch)[0, 0]
            out[top:bottom, left:right] = result[top - y0 : bottom - y0, left - x0 : right - x0].float().cpu().numpy()
    return out


def load_checkpoint(path: str | Path, spec: dict | None = None, scale: int | None = None) -> dict:
    """Load a checkpoint safely (``weights_only=True``: no pickled code runs) and refuse
    one whose model spec or scale differs from the configured ones."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    problems = []
    if spec is not None and model_spec(checkpoint["spec"]) != model_spec(spec):
        problems.append(f"its model is {model_spec(checkpoint['spec'])}, the config asks for {model_spec(spec)}")
    if scale is not None and checkpoint["scale"] != scale:
        problems.append(f"it was trained for scale {checkpoint['scale']}, not {scale}")
    if problems:
        raise CheckpointMismatch(
            f"checkpoint '{path}' does not match: " + "; ".join(problems) + ". Retrain it (delete the file and rerun)"
        )
    return checkpoint


def upscale_frame(model: nn.Module, bicubic_rgb: np.ndarray, halo: int, tile: int = 256) -> np.ndarray:
    """8-bit RGB super-resolved frame from the bicubic-upscaled one."""
    ycbcr = rgb_to_ycbcr(bicubic_rgb)
    y = infer_tiled(model, (ycbcr[..., 0] / 255.0).astype(np.float32), halo, tile)
    ycbcr[..., 0] = np.clip(y, 0.0, 1.0) * 255.0
    return to_uint8(ycbcr_to_rgb(ycbcr))


def upscale_test_sets(
    checkpoint_path: str | Path,
    test_sets: list[tuple[str | Path, list[int], str | Path]],
    spec: dict,
    scale: int,
    device: str = "auto",
    tile: int = 256,
    threads: int | None = None,
) -> None:
    """Upscale several test sets, each ``(bicubic_dir, frame indices, out_dir)``, with one
    model loaded once. Writes ``out_dir/NNNNNN.png``; each folder appears atomically."""
    if threads:
        torch.set_num_threads(threads)
    checkpoint = load_checkpoint(checkpoint_path, spec, scale)
    model = build_model(checkpoint["spec"])
    model.load_state_dict(checkpoint["state_dict"])
    model = prepare_for_inference(model, select_device(device))
    halo = receptive_radius(checkpoint["spec"]["layers"])
    for bicubic_dir, indices, out_dir in test_sets:
        with atomic_directory(out_dir) as tmp:
            for index in indices:
                frame = upscale_frame(model, read_rgb(Path(bicubic_dir) / frame_name(index)), halo, tile)
                write_png(tmp / frame_name(index), frame)
