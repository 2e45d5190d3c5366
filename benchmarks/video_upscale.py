"""Frames per second of the standalone video upscaler (`bash run.sh upscale`), against
the model alone on the same frames in the same process (the ratio is what decoding,
bicubic, colour conversion and encoding cost on top of the network).

    .venv/bin/python benchmarks/video_upscale.py                      # CPU, 3 frames of the embedded clip
    .venv/bin/python benchmarks/video_upscale.py --device cuda --frames 60

The default SRCNN (9-5-5, 64/32 channels; random weights: speed does not depend on
them) upscales the embedded 1280x720 Big Buck Bunny clip x2 to 2560x1440.
"""

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import torch
from common import synchronize
from data import BBB
from srstudy.nets.arch import receptive_radius
from srstudy.nets.build import build_model
from srstudy.nets.device import select_device
from srstudy.nets.tiling import infer_tiled, prepare_for_inference, tile_for
from srstudy.stages.upscale_video import decoded_frames, upscale_video
from srstudy.stages.video import probe, resolve_video
from srstudy.train.resume import save_atomic

SPEC = {
    "layers": [{"kernel": 9, "channels": 64}, {"kernel": 5, "channels": 32}, {"kernel": 5, "channels": 1}],
    "activation": "relu",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--lossless", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clip = resolve_video(BBB)
    device = select_device(args.device)
    with tempfile.TemporaryDirectory() as work:
        model_path = Path(work) / "model.pt"
        torch.manual_seed(0)
        model = build_model(SPEC)
        save_atomic({"state_dict": model.state_dict(), "spec": SPEC, "scale": args.scale}, model_path)

        # Baseline: the network alone on the Y planes of the same (upscaled-size) frames.
        info = probe(clip)
        model = prepare_for_inference(model, device)
        halo, tile = receptive_radius(SPEC["layers"]), tile_for("auto", device)
        height, width = info.height * args.scale, info.width * args.scale
        planes = [torch.rand(height, width).numpy() for _ in range(args.frames)]
        infer_tiled(model, planes[0], halo, tile)  # warm-up (cuDNN autotune, allocator)
        started = time.perf_counter()
        for plane in planes:
            infer_tiled(model, plane, halo, tile)
        synchronize(device)
        model_fps = args.frames / (time.perf_counter() - started)
        decode_started = time.perf_counter()
        decoded = sum(1 for _ in decoded_frames(clip, info, limit=args.frames))
        decode_fps = decoded / (time.perf_counter() - decode_started)

        done = upscale_video(
            clip, model_path, Path(work) / "out.mkv", device=args.device, lossless=args.lossless,
            limit=args.frames, progress=False,
        )  # fmt: skip
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"device {done['device']}, {args.threads} threads, {info.width}x{info.height} -> {done['size']}")
    print("| measure | frames/s |")
    print("|---|---|")
    print(f"| decode only (ffmpeg PPM pipe) | {decode_fps:.2f} |")
    print(f"| model only (Y plane, tiled) | {model_fps:.3f} |")
    print(f"| `bash run.sh upscale` end to end ({done['frames']} frames) | {done['fps']:.3f} |")
    print(f"end to end / model only: {done['fps'] / model_fps:.2f}; peak RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
