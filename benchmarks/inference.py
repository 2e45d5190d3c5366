"""Inference speed and memory of the upscale stage, as ratios measured in one run.

Compares, on one Y plane of the given size (default 1280x720; use 3840x2160 for the
thesis's frames): whole-plane NCHW (the reference's way), whole-plane channels-last, and
the workflow's tiled channels-last inference, for the default SRCNN. Each case runs in its
own process, so peak memory (max RSS on the CPU, torch's peak allocation on CUDA) is
the case's own.

    .venv/bin/python benchmarks/inference.py [--size 3840x2160] [--device cuda] [--repeat 3]
"""

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow/scripts"))
from srstudy.models import build_model, receptive_radius, select_device  # noqa: E402
from srstudy.upscale import infer_tiled, prepare_for_inference  # noqa: E402

DEFAULT = {
    "layers": [{"kernel": 9, "channels": 64}, {"kernel": 5, "channels": 32}, {"kernel": 5, "channels": 1}],
    "activation": "relu",
}


def peak_bytes(device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def timed(fn, device, repeat):
    fn()  # warm-up (kernel selection, allocations)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best, peak_bytes(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--case", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case is None:
        return compare(args)
    torch.set_num_threads(args.threads)
    width, height = map(int, args.size.split("x"))
    device = select_device(args.device)
    torch.manual_seed(0)
    plane = np.random.default_rng(0).random((height, width), dtype=np.float32)
    model = build_model(DEFAULT).to(device).eval()
    halo = receptive_radius(DEFAULT["layers"])

    def whole(memory_format):
        def run():
            with torch.inference_mode():
                m = model.to(memory_format=memory_format)
                x = torch.from_numpy(plane)[None, None].to(device).contiguous(memory_format=memory_format)
                return m(x)[0, 0].cpu().numpy()

        return run

    fast = prepare_for_inference(build_model(DEFAULT), device)
    fast.load_state_dict(model.state_dict())
    cases = {
        "whole NCHW (reference)": whole(torch.contiguous_format),
        "whole channels-last": whole(torch.channels_last),
        f"tiled {args.tile} channels-last (workflow)": lambda: infer_tiled(fast, plane, halo, args.tile, device),
    }
    name, fn = list(cases.items())[args.case]
    seconds, peak = timed(fn, device, args.repeat)
    print(json.dumps({"name": name, "seconds": seconds, "peak": peak, "device": str(device)}))


def compare(args) -> None:
    results = []
    for case in range(3):
        command = [sys.executable, __file__, "--case", str(case), *sys.argv[1:]]
        results.append(json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout))
    print(f"default SRCNN, {args.size} Y plane, {results[0]['device']}, {args.threads} threads, best of {args.repeat}")
    base = results[0]["seconds"]
    for r in results:
        speed, peak = base / r["seconds"], r["peak"] / 2**20
        print(f"  {r['name']:38s} {r['seconds']:7.3f} s  speed x{speed:4.2f}  peak {peak:6.0f} MiB")


if __name__ == "__main__":
    main()
