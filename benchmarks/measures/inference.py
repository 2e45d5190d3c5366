"""GFLOP/s of the default SRCNN on a 1080p Y plane vs this process's matmul (>= 0.7).

The SRCNN runs tiled and channels-last, as the upscale rule runs it; the baseline is a
float32 2048x2048 matmul, the machine's attainable rate, measured in the same process so
the ratio survives a shared machine's load."""

import numpy as np
import torch
from common import GB, median_seconds, row
from data import HD, default_spec
from srstudy.nets.arch import conv_macs, receptive_radius
from srstudy.nets.build import build_model
from srstudy.nets.tiling import infer_tiled, prepare_for_inference, tile_for

OPTIONS = ()
MATMUL_SIDE = 2048
TARGET = 0.7


def run(context, options) -> list[dict]:
    device, repeat = context.device, context.repeat
    a, b = (torch.rand(MATMUL_SIDE, MATMUL_SIDE, device=device) for _ in range(2))
    matmul = 2 * MATMUL_SIDE**3 / median_seconds(lambda: torch.mm(a, b), repeat, device) / GB
    spec = default_spec()
    model = prepare_for_inference(build_model(spec), device)
    plane = np.random.default_rng(0).random(HD, dtype=np.float32)
    halo, tile = receptive_radius(spec["layers"]), tile_for("auto", device)
    flop = 2 * conv_macs(spec["layers"]) * plane.size
    tiled = flop / median_seconds(lambda: infer_tiled(model, plane, halo, tile), repeat, device) / GB

    reference = build_model(spec).to(device).eval()  # NCHW, whole plane: the reference's way
    x = torch.from_numpy(plane)[None, None].to(device)

    def whole():
        with torch.inference_mode():
            return reference(x)[0, 0].cpu()

    nchw = flop / median_seconds(whole, repeat, device) / GB
    return [
        row(
            "inference efficiency (1920x1080 Y, default SRCNN)",
            f"{tiled:.1f} GFLOP/s",
            f"matmul {matmul:.1f} GFLOP/s",
            tiled / matmul,
            f">= {TARGET}",
            tiled / matmul >= TARGET,
            f"tile {tile}, channels-last; whole-plane NCHW (reference) {nchw:.1f} GFLOP/s = {nchw / matmul:.2f}",
        )
    ]
