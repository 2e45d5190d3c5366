"""Where a training step and a 2160p inference spend their GPU time: the CUDA kernels of
the default variant, by total time, from torch.profiler. The fast step modes replay a CUDA
graph, which the profiler sees as one launch, so the step is profiled eagerly (same
kernels, one launch each) next to its graph time per step.

    python benchmarks/gpu_profile.py --out benchmarks/results/profile
    python benchmarks/gpu_profile.py --device cpu --size 270x480       # a rehearsal: CPU ops

Writes <out>.md (tables of the top kernels) and <out>.json.
"""

import argparse
import sys
import time
from pathlib import Path

import torch
from common import REPO, synchronize, write_results
from data import default_spec
from srstudy.nets.build import build_model, halo_of
from srstudy.nets.device import set_tf32
from srstudy.nets.tiling import infer_tiled, prepare_for_inference, tile_for
from srstudy.train.patches import sample_patches
from srstudy.train.steps import TrainSteps, grad_scaler, make_optimizer
from torch.profiler import ProfilerActivity, profile


def profiled(device):
    activity = ProfilerActivity.CUDA if device.type == "cuda" else ProfilerActivity.CPU
    return profile(activities=[activity])


def self_time_us(event, device) -> float:
    return event.self_device_time_total if device.type == "cuda" else event.self_cpu_time_total


def kernels(prof, device, top: int) -> list[dict]:
    """The top kernels (CPU: operators) by their own total time, as rows."""
    kind = torch.autograd.DeviceType.CUDA if device.type == "cuda" else torch.autograd.DeviceType.CPU
    events = [e for e in prof.key_averages() if e.device_type == kind and self_time_us(e, device) > 0]
    total = sum(self_time_us(e, device) for e in events) or 1.0
    events.sort(key=lambda e: self_time_us(e, device), reverse=True)
    return [
        {
            "kernel": e.key[:110],
            "calls": e.count,
            "total_ms": round(self_time_us(e, device) / 1e3, 3),
            "share": round(self_time_us(e, device) / total, 4),
        }
        for e in events[:top]
    ]


def training(device, spec, size, precision: str, steps: int, top: int) -> dict:
    torch.manual_seed(0)
    model = build_model(spec).to(device).to(memory_format=torch.channels_last)
    lr, hr = (torch.randint(0, 256, (8, *size), dtype=torch.uint8, device=device) for _ in "lh")
    patch, batch = spec["patch_size"], spec["batch_size"]
    origins = sample_patches(torch.Generator().manual_seed(1), hr.shape, patch, steps * batch).to(device)
    out = {}
    for mode in ("eager", "graph") if device.type == "cuda" else ("eager",):
        optimizer = make_optimizer(model, spec, device, mode)
        runner = TrainSteps(
            model, optimizer, grad_scaler(device, precision), lr, hr, patch, batch, steps * batch, precision, mode
        )
        runner.begin_epoch(origins)
        for _ in range(min(20, steps)):  # warm-up: kernel choice, graph capture
            runner.step()
        runner.readback()
        if mode == "eager":
            runner.begin_epoch(origins)
            with profiled(device) as prof:
                for _ in range(steps):
                    runner.step()
                synchronize(device)
            out["kernels"] = kernels(prof, device, top)
            out["kernel_ms_per_step"] = sum(k["total_ms"] for k in kernels(prof, device, 10**6)) / steps
        runner.begin_epoch(origins)
        synchronize(device)
        start = time.perf_counter()
        for _ in range(steps):
            runner.step()
        runner.readback()
        synchronize(device)
        out[f"{mode}_ms_per_step"] = (time.perf_counter() - start) * 1e3 / steps
    return out


def inference(device, spec, size, precision: str, top: int) -> dict:
    model = prepare_for_inference(build_model(spec), device)
    plane = torch.rand(size).numpy()
    tile = tile_for("auto", device)
    halo = halo_of(spec)
    infer_tiled(model, plane, halo, tile, device, precision)  # warm-up: kernel choice
    with profiled(device) as prof:
        infer_tiled(model, plane, halo, tile, device, precision)
        synchronize(device)
    return {"tile": tile, "kernels": kernels(prof, device, top)}


def markdown(report: dict) -> str:
    lines = [f"# GPU profile: {report['gpu']}, {report['date']}", "", report["setting"], ""]
    for name, part in report["parts"].items():
        lines += [f"## {name}", ""]
        lines += [f"- {key}: {value:.3f}" for key, value in part.items() if key.endswith("per_step")]
        lines += ["", "| kernel | calls | total ms | share |", "|---|---:|---:|---:|"]
        lines += [f"| `{k['kernel']}` | {k['calls']} | {k['total_ms']} | {k['share']:.1%} |" for k in part["kernels"]]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--tf32", action="store_true")
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu (a rehearsal)")
    parser.add_argument("--size", default="2160x3840", help="planes, HEIGHTxWIDTH (default 2160x3840)")
    parser.add_argument("--steps", type=int, default=200, help="training steps profiled and timed")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--out", type=Path, default=REPO / "results/benchmarks/gpu_profile")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_profile.py: no CUDA GPU here (--device cpu rehearses it on the CPU)")
    size = tuple(int(n) for n in args.size.split("x"))
    spec = default_spec()
    set_tf32(args.tf32)
    torch.backends.cudnn.benchmark = True  # as the train and upscale jobs run
    report = {
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "setting": f"default SRCNN, {args.precision}, tf32 {args.tf32}, batch {spec['batch_size']} of "
        f"{spec['patch_size']}x{spec['patch_size']}; "
        f"inference: one {size[1]}x{size[0]} plane; torch {torch.__version__}",
        "parts": {
            "training step": training(device, spec, size, args.precision, args.steps, args.top),
            f"{size[1]}x{size[0]} inference": inference(device, spec, size, args.precision, args.top),
        },
    }
    write_results(args.out, markdown(report), report)
    print(markdown(report))


if __name__ == "__main__":
    main()
