"""Peak memory of upscaling one 2160p frame, tiled vs whole frame (<= 1.5 GB).

The default SRCNN, tiled as the upscale rule runs it, against the whole frame at once;
1920x1080 tiled beside it. Each case runs in a fresh process (``python -m
measures.memory``), so one case's peak cannot hide another's."""

import argparse
import json
import subprocess
import sys

import numpy as np
import torch
from common import GB, REPO, peak_memory, row
from data import default_spec
from srstudy.nets.arch import receptive_radius
from srstudy.nets.build import build_model
from srstudy.nets.device import select_device
from srstudy.nets.tiling import prepare_for_inference, tile_for
from srstudy.stages.inference import upscale_frame

OPTIONS = ()
TARGET_BYTES = 1.5 * GB


def case(size: str, tile: str, device) -> dict:
    """One upscale of a random ``size`` (HxW) frame in this process: its peak memory."""
    height, width = map(int, size.split("x"))
    spec = default_spec()
    model = prepare_for_inference(build_model(spec), device)
    frame = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    before = peak_memory(device)
    tile = tile_for("auto", device) if tile == "auto" else max(height, width)
    upscale_frame(model, frame, receptive_radius(spec["layers"]), tile)
    return {"peak": peak_memory(device), "before": before, "tile": tile}


def in_child(size: str, tile: str, context) -> dict:
    command = [sys.executable, "-m", "measures.memory", size, tile, str(context.device), str(context.threads)]
    result = subprocess.run(command, cwd=REPO / "benchmarks", check=True, capture_output=True, text=True)
    return json.loads(result.stdout)


def run(context, options) -> list[dict]:
    hd, uhd = in_child("1080x1920", "auto", context), in_child("2160x3840", "auto", context)
    whole = in_child("2160x3840", "whole", context)
    what = "GPU memory allocated" if context.device.type == "cuda" else "max RSS"
    return [
        row(
            f"memory: upscale one 3840x2160 frame ({what})",
            f"{uhd['peak'] / GB:.2f} GB (tile {uhd['tile']})",
            f"whole frame {whole['peak'] / GB:.2f} GB",
            uhd["peak"] / whole["peak"],
            "<= 1.5 GB",
            uhd["peak"] <= TARGET_BYTES,
            f"1920x1080 tiled {hd['peak'] / GB:.2f} GB; the process before inference {uhd['before'] / GB:.2f} GB. "
            "Tiled activations are fixed by the tile; what grows with the frame is the frame's own arrays",
        )
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="one case of the memory measure; prints its JSON")
    parser.add_argument("size", help="HEIGHTxWIDTH")
    parser.add_argument("tile", choices=["auto", "whole"])
    parser.add_argument("device")
    parser.add_argument("threads", type=int)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(json.dumps(case(args.size, args.tile, select_device(args.device))))
