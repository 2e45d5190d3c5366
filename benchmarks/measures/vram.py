"""CUDA: peak GPU memory of every thesis variant, training and 2160p inference (<= 8 GB).

The thesis cut its widths to fit 8 GB; this says what fits. Training: batch 16, 30
resident 8-bit 2160p planes, the step mode train jobs use; inference: 3840x2160, tiled."""

import numpy as np
import torch
from common import GB, row
from data import THESIS, UHD, load_config
from srstudy.nets.arch import receptive_radius
from srstudy.nets.build import build_model
from srstudy.nets.tiling import infer_tiled, prepare_for_inference, tile_for
from srstudy.plan.variants import variant_spec
from srstudy.train.patches import sample_patches
from srstudy.train.steps import TrainSteps, grad_scaler, make_optimizer, resolve_step_mode

from measures import option

OPTIONS = (option("--precision", default="fp32", choices=["fp32", "bf16", "fp16"], help="for vram"),)
TARGET_BYTES = 8 * GB
RESIDENT_FRAMES = 30  # the thesis's train set, held on the GPU as train() holds it
BATCH, STEPS = 16, 20


def run(context, options) -> list[dict]:
    device = context.device
    if device.type != "cuda":
        return [row("GPU memory per thesis variant", "", "", None, "<= 8 GB", None, "skipped: needs --device cuda")]
    config = load_config(THESIS)
    planes = [torch.zeros((RESIDENT_FRAMES, *UHD), dtype=torch.uint8, device=device) for _ in range(2)]
    return [
        variant_row(name, variant_spec(config, name), planes, device, options.precision) for name in config["variants"]
    ]


def variant_row(name: str, spec: dict, planes, device, precision: str) -> dict:
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    trained, model = train_peak(spec, planes, device, precision)
    model = prepare_for_inference(model, device)
    torch.cuda.reset_peak_memory_stats(device)
    plane = np.random.default_rng(0).random(UHD, dtype=np.float32)
    infer_tiled(model, plane, receptive_radius(spec["layers"]), tile_for("auto", device), precision=precision)
    inferred = torch.cuda.max_memory_allocated(device)
    return row(
        f"GPU memory: {name} ({precision})",
        f"train {trained / GB:.2f} GB, infer {inferred / GB:.2f} GB",
        "",
        None,
        "<= 8 GB",
        max(trained, inferred) <= TARGET_BYTES,
        "train: batch 16 + 30 resident 2160p planes (0.5 GB); infer: 3840x2160, tile auto",
    )


def train_peak(spec: dict, planes, device, precision: str) -> tuple[int, torch.nn.Module]:
    """Peak bytes of a few training steps as a train job runs them, and the model."""
    lr_planes, hr_planes = planes
    model = build_model(spec).to(device).to(memory_format=torch.channels_last)
    mode = resolve_step_mode("auto", device, precision)  # as train jobs run: a CUDA graph for fp32/bf16
    optimizer = make_optimizer(model, spec, device, mode)
    scaler = grad_scaler(device, precision)
    patches = STEPS * BATCH
    origins = sample_patches(torch.Generator().manual_seed(0), hr_planes.shape, spec["patch_size"], patches)
    steps = TrainSteps(
        model, optimizer, scaler, lr_planes, hr_planes, spec["patch_size"], BATCH, patches, precision, mode
    )
    steps.begin_epoch(origins.to(device))
    for _ in range(STEPS):
        steps.step()
    steps.readback()
    return torch.cuda.max_memory_allocated(device), model
