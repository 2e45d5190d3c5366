"""Time of one 2160p Y plane, default SRCNN, fp32 and bf16 (bf16 <= 10 ms on an H100).

Tiled as the upscale rule runs it, host copies included; fp32 without TF32 (the
workflow's default). The ratio is bf16 against fp32; off CUDA the times are reported
without a target."""

import numpy as np
from common import median_seconds, row
from data import UHD, default_spec
from srstudy.nets.arch import conv_macs, receptive_radius
from srstudy.nets.build import build_model
from srstudy.nets.device import set_tf32
from srstudy.nets.tiling import infer_tiled, prepare_for_inference, tile_for

OPTIONS = ()
TARGET_S = 0.010  # bf16 on a CUDA device


def run(context, options) -> list[dict]:
    device, repeat = context.device, context.repeat
    set_tf32(False)  # fp32 as the workflow runs it by default (train.tf32: false)
    spec = default_spec()
    model = prepare_for_inference(build_model(spec), device)
    plane = np.random.default_rng(0).random(UHD, dtype=np.float32)
    halo, tile = receptive_radius(spec["layers"]), tile_for("auto", device)
    times = {
        name: median_seconds(lambda n=name: infer_tiled(model, plane, halo, tile, precision=n), repeat, device)
        for name in ("fp32", "bf16")
    }
    flop = 2 * conv_macs(spec["layers"]) * plane.size
    targeted = device.type == "cuda"
    return [
        row(
            f"3840x2160 inference, default SRCNN, {name} ({device.type})",
            f"{seconds * 1000:,.1f} ms",
            f"fp32 {times['fp32'] * 1000:,.1f} ms" if name != "fp32" else "",
            seconds / times["fp32"] if name != "fp32" else None,
            f"<= {TARGET_S * 1000:.0f} ms (one H100)" if name == "bf16" and targeted else "report",
            seconds <= TARGET_S if name == "bf16" and targeted else None,
            f"tile {tile}, plane copied to the device and back, fp32 without TF32; "
            f"{flop / seconds / 1e12:.2f} TFLOP/s; median of {repeat}",
        )
        for name, seconds in times.items()
    ]
