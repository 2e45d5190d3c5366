"""Checkpoints: loaded without unpickling arbitrary objects, checked against the
settings they were asked for, and turned into a network ready for inference."""

import pickle
from pathlib import Path

import torch
from torch import nn

from srstudy.base.frames import damaged
from srstudy.nets.build import build_model, halo_of
from srstudy.nets.device import select_device
from srstudy.nets.registry import model_spec
from srstudy.nets.tiling import prepare_for_inference, tile_for


class CheckpointMismatch(ValueError):
    """A checkpoint that does not belong to the configured variant or scale."""


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


def inference_model(checkpoint: dict, device: str, tile: int | str) -> tuple[nn.Module, torch.device, int, int]:
    """A loaded checkpoint's network ready for tiled inference: the model on the chosen
    device, that device, the network's halo and the tile size for the device."""
    spec, scale = checkpoint["spec"], int(checkpoint["scale"])
    model = build_model(spec, scale)
    model.load_state_dict(checkpoint["state_dict"])
    device = select_device(device)
    return prepare_for_inference(model, device), device, halo_of(spec, scale), tile_for(tile, device)
