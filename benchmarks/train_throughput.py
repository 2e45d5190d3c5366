"""Training throughput (patches/s) at the thesis's setting: batch 16, 33x33 patches, Adam
with the per-layer lr, cut from resident 8-bit planes.

    .venv/bin/python benchmarks/train_throughput.py                     # CPU: baseline vs fast, default variant
    .venv/bin/python benchmarks/train_throughput.py --device cuda --variants all --jobs 1,2,4,8

Rows:
  modes       the default variant: the eager baseline (one host sync per step: loss.item(),
              per-parameter Adam on a CPU, the chunked loader) against each TrainSteps mode
              that runs on the device (eager; graph and compile on CUDA); ratio = mode / baseline
  variants    every variant of config/thesis.yaml in the fastest mode, and the projected
              training time of the full thesis study: each model's patches (epochs x the
              patch grid of its 30 2160p train frames) / its variant's rate, summed over
              variants x scales
  jobs        aggregate patches/s of K concurrent training processes (default variant),
              each placed on a GPU by slot (JOBS_PER_GPU=K); ratio = aggregate / one job

Every figure is measured here, in this run; nothing is assumed. The table goes to stdout
and to --out (.md and .json).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from common import REPO, row, synchronize, write_table
from data import THESIS, UHD, load_config
from srstudy.nets.arch import conv_macs
from srstudy.nets.build import build_model, parameter_groups
from srstudy.nets.device import select_device, set_tf32
from srstudy.plan.frames import frame_ids
from srstudy.plan.variants import variant_spec
from srstudy.train.patches import grid_patch_count, patch_batches, sample_patches
from srstudy.train.steps import TrainSteps, grad_scaler, make_optimizer, resolve_step_mode, train_step

BATCH, PATCH = 16, 33


def thesis() -> dict:
    return load_config(THESIS)


def resident_planes(device: torch.device, frames: int, size) -> tuple[torch.Tensor, torch.Tensor]:
    """8-bit LR and HR planes where train() keeps them (the GPU, or host memory)."""
    generator = torch.Generator().manual_seed(0)
    lr, hr = (torch.randint(0, 256, (frames, *size), dtype=torch.uint8, generator=generator) for _ in "lh")
    return lr.to(device), hr.to(device)


def rate(device, spec, planes, *, mode: str, precision: str, seconds: float, warmup: int = 10) -> dict:
    """Patches/s of ``mode`` ('baseline' or a TrainSteps mode) over about ``seconds``."""
    torch.manual_seed(0)
    model = build_model(spec).to(device).to(memory_format=torch.channels_last)
    scaler = grad_scaler(device, precision)
    lr, hr = planes
    chunk = 512  # origins per refill: steps per epoch in miniature
    generator = torch.Generator().manual_seed(1)

    def origins():
        return sample_patches(generator, hr.shape, PATCH, chunk * BATCH).to(hr.device)

    if mode == "baseline":
        optimizer = torch.optim.Adam(parameter_groups(model, spec["lr"], spec["last_layer_lr_factor"]))

        def run(steps):
            done = 0
            while done < steps:
                for inputs, targets in patch_batches(lr, hr, origins()[: (steps - done) * BATCH], PATCH, BATCH, device):
                    train_step(model, optimizer, scaler, inputs, targets, precision)
                    done += 1
    else:
        optimizer = make_optimizer(model, spec, device, mode)
        runner = TrainSteps(model, optimizer, scaler, lr, hr, PATCH, BATCH, chunk * BATCH, precision, mode)

        def run(steps):
            done = 0
            while done < steps:
                runner.begin_epoch(origins())
                for _ in range(min(chunk, steps - done)):
                    runner.step()
                    done += 1
                runner.readback()  # the loop's periodic sync (and NaN check)

    compile_start = time.perf_counter()
    run(warmup)  # kernel choice, graph capture or compilation
    synchronize(device)
    first = time.perf_counter() - compile_start
    steps, elapsed = 8, 0.0
    while elapsed < seconds:  # grow the step count until one timed run lasts long enough
        steps = steps * 2 if elapsed < seconds / 4 else int(steps * seconds / max(elapsed, 1e-9)) + 1
        start = time.perf_counter()
        run(steps)
        synchronize(device)
        elapsed = time.perf_counter() - start
    return {"patches_per_s": steps * BATCH / elapsed, "steps": steps, "seconds": elapsed, "warmup_s": first}


def modes_for(device, precision) -> list[str]:
    if device.type == "cuda":
        return ["baseline", "eager", "graph", "compile"] if precision != "fp16" else ["baseline", "eager"]
    return ["baseline", "eager"]


def thesis_patches_per_model(config) -> int:
    """Patches one thesis model trains on: epochs x the patch grid of its train frames."""
    frames = len(frame_ids(config["frames"]["train"]))
    spec = variant_spec(config, "default")
    per_epoch = spec["patches_per_epoch"] or grid_patch_count((frames, *UHD), spec["patch_size"], spec["patch_stride"])
    return spec["epochs"] * per_epoch


def worker(args) -> None:
    """One of K concurrent jobs: placed by slot, warmed up, then steps until --until."""
    from srstudy.base.gpu_slots import place_on_gpu

    place_on_gpu(args.slot_dir)  # before CUDA starts
    device = select_device(args.device)
    set_tf32(args.tf32)
    torch.backends.cudnn.benchmark = device.type == "cuda"  # as train() runs: kernels tuned to the shape
    spec = variant_spec(thesis(), "default")
    planes = resident_planes(device, args.frames, UHD if device.type == "cuda" else (540, 960))
    mode = resolve_step_mode("auto", device, args.precision)
    torch.manual_seed(0)
    model = build_model(spec).to(device).to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, spec, device, mode)
    runner = TrainSteps(
        model, optimizer, grad_scaler(device, args.precision), *planes, PATCH, BATCH, 512 * BATCH, args.precision, mode
    )
    generator = torch.Generator().manual_seed(os.getpid())
    runner.begin_epoch(sample_patches(generator, planes[1].shape, PATCH, 512 * BATCH).to(planes[1].device))
    for _ in range(10):
        runner.step()
    synchronize(device)
    print("ready", flush=True)
    start_at, until = map(float, sys.stdin.readline().split())  # the parent's go, once all are ready
    while time.time() < start_at:  # every job starts timing at the same moment
        time.sleep(0.001)
    steps, start = 0, time.perf_counter()
    while time.time() < until:
        runner.begin_epoch(sample_patches(generator, planes[1].shape, PATCH, 512 * BATCH).to(planes[1].device))
        for _ in range(64):
            runner.step()
        steps += 64
        runner.readback()
    elapsed = time.perf_counter() - start
    print(json.dumps({"patches_per_s": steps * BATCH / elapsed, "device": os.environ.get("CUDA_VISIBLE_DEVICES")}))


def concurrent(args, count: int, slot_dir: Path, script: str = __file__, extra: tuple = ()) -> dict:
    """Aggregate patches/s of ``count`` processes training at once: each starts CUDA,
    warms up (graph capture) and says ready; then all time the same window. ``script``
    (with ``extra`` arguments) is the benchmark whose ``--case worker`` they run."""
    command = [sys.executable, script, "--case", "worker", "--device", args.device, "--precision", args.precision]
    command += list(extra)
    command += ["--slot-dir", str(slot_dir), "--frames", str(args.frames)]
    command += ["--threads", str(max(1, args.threads // count))] + ["--tf32"] * args.tf32
    env = {**os.environ, "JOBS_PER_GPU": str(count)}
    processes = [
        subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(count)
    ]
    try:
        for process in processes:
            line = process.stdout.readline()
            while line and line.strip() != "ready":
                line = process.stdout.readline()
            if not line:
                raise RuntimeError(f"a concurrent training job failed before it was ready (exit {process.wait()})")
        start_at = time.time() + 0.5
        for process in processes:
            process.stdin.write(f"{start_at} {start_at + args.seconds}\n")
            process.stdin.flush()
        results = []
        for process in processes:
            out, _ = process.communicate(timeout=args.seconds + 120)
            if process.returncode:
                raise RuntimeError(f"a concurrent training job failed (exit {process.returncode})")
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    return {"patches_per_s": sum(r["patches_per_s"] for r in results), "per_job": results}


def mode_row(mode, result, *, base, device, precision) -> dict:
    if "error" in result:
        return row(f"train step '{mode}', default variant", "failed", "", None, "", False, result["error"])
    ratio = result["patches_per_s"] / base if base and mode != "baseline" else None
    target = ">= 5x (one H100)" if device.type == "cuda" and mode != "baseline" else ""
    return row(
        f"train step '{mode}', default variant, {precision}, patches/s",
        f"{result['patches_per_s']:,.0f}",
        f"baseline {base:,.0f}" if base and mode != "baseline" else "",
        ratio,
        target,
        (ratio >= 5) if target and ratio else None,
        f"batch {BATCH}, {PATCH}x{PATCH}, median of {len(result.get('rounds', [1]))} rounds "
        f"({result['steps']} steps in {result['seconds']:.2f} s); "
        f"first 10 steps (warm-up, capture or compilation) {result['warmup_s']:.1f} s",
    )


def measure_mode(device, spec, planes, *, mode, precision, seconds) -> dict:
    print(f"measuring mode {mode} ...", file=sys.stderr, flush=True)
    try:
        return rate(device, spec, planes, mode=mode, precision=precision, seconds=seconds)
    except Exception as error:  # a mode that fails here is a finding, not a crash
        first = str(error).splitlines()[0] if str(error) else ""
        return {"error": f"{type(error).__name__}: {first}"}


def base_rate(rates: dict) -> float | None:
    return rates.get("baseline", {}).get("patches_per_s")


def mode_rows(args, device, spec, planes, modes: list[str], raw: dict) -> Iterator[dict]:
    """One row per step mode (``raw["modes"]``: each mode's median round)."""
    rates = raw["modes"]
    # Modes take turns, round after round, and each keeps its median round: a load that
    # comes and goes on a shared machine then hits every mode alike.
    rounds = {mode: [] for mode in modes}
    for _ in range(args.rounds):
        for mode in modes:
            rounds[mode].append(
                measure_mode(device, spec, planes, mode=mode, precision=args.precision, seconds=args.seconds)
            )
    for mode in modes:
        good = sorted((r for r in rounds[mode] if "error" not in r), key=lambda r: r["patches_per_s"])
        rates[mode] = good[len(good) // 2] if good else rounds[mode][0]
        rates[mode]["rounds"] = [round(r["patches_per_s"], 1) for r in good]
        yield mode_row(mode, rates[mode], base=base_rate(rates), device=device, precision=args.precision)


def variant_rows(args, device, planes, config: dict, raw: dict) -> Iterator[dict]:
    """Each variant of ``--variants`` in the fastest mode measured, and with all of the
    thesis's variants the projected thesis training time (``raw["variants"]``,
    ``raw["projected_hours"]``)."""
    rates = raw["modes"]
    usable = [m for m in rates if m != "baseline" and "error" not in rates[m]]
    best_mode = max(usable, key=lambda m: rates[m]["patches_per_s"]) if usable else None
    names = list(config["variants"]) if args.variants == "all" else [n for n in args.variants.split(",") if n]
    if not (best_mode and names):
        return
    per_model = thesis_patches_per_model(config)
    total_s, variant_rates = 0.0, {}
    for name in names:
        spec = variant_spec(config, name)
        print(f"measuring variant {name} ({best_mode}) ...", file=sys.stderr, flush=True)
        measured = (
            rates[best_mode]
            if name == "default"
            else rate(device, spec, planes, mode=best_mode, precision=args.precision, seconds=args.seconds)
        )
        variant_rates[name] = measured["patches_per_s"]
        seconds = len(config["scales"]) * per_model / measured["patches_per_s"]
        total_s += seconds
        gflops = 6 * conv_macs(spec["layers"]) * PATCH**2 * measured["patches_per_s"] / 1e9
        raw["variants"] = variant_rates
        yield row(
            f"variant {name}, '{best_mode}', patches/s",
            f"{measured['patches_per_s']:,.0f}",
            "",
            None,
            "",
            None,
            f"{gflops:,.0f} GFLOP/s (fwd+bwd = 3x fwd); {len(config['scales'])} models: {seconds / 3600:.2f} h",
        )
    if set(names) == set(config["variants"]):
        hours = total_s / 3600
        target = "<= 2 h (one H100)" if device.type == "cuda" else ""
        raw["projected_hours"] = hours
        yield row(
            "projected training time, config/thesis.yaml",
            f"{hours:,.2f} h",
            "",
            None,
            target,
            (hours <= 2) if target else None,
            f"{len(names)} variants x {len(config['scales'])} scales, {per_model:,} patches each, "
            f"at the rates above ('{best_mode}' on {device.type}); eval and upscaling not included",
        )


def job_rows(args, raw: dict) -> Iterator[dict]:
    """Aggregate patches/s of each count of ``--jobs`` concurrent jobs (``raw["jobs_K"]``)."""
    counts = [int(c) for c in args.jobs.split(",") if c]
    with tempfile.TemporaryDirectory(prefix="srstudy-slots-") as tmp:
        single = None
        for count in counts:
            print(f"measuring {count} concurrent jobs ...", file=sys.stderr, flush=True)
            try:
                result = concurrent(args, count, Path(tmp) / f"k{count}")
            except Exception as error:  # a count that fails here is a finding, not a crash
                yield row(f"{count} concurrent training jobs", "failed", "", None, "", False, str(error))
                continue
            raw[f"jobs_{count}"] = result
            single = single or (result["patches_per_s"] if count == 1 else None)
            placed = sorted(str(r["device"]) for r in result["per_job"])
            yield row(
                f"{count} concurrent training jobs, aggregate patches/s",
                f"{result['patches_per_s']:,.0f}",
                f"one job {single:,.0f}" if single and count > 1 else "",
                result["patches_per_s"] / single if single and count > 1 else None,
                "",
                None,
                f"default variant, step auto, JOBS_PER_GPU={count}; CUDA_VISIBLE_DEVICES per job: {', '.join(placed)}",
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, auto")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--tf32", action="store_true", help="TF32 convolutions (CUDA)")
    parser.add_argument("--variants", default="default", help="'all' (the thesis's) or a comma-separated list")
    parser.add_argument("--modes", help="comma-separated subset of baseline,eager,graph,compile ('': none)")
    parser.add_argument("--jobs", default="", help="concurrent job counts to measure, e.g. 1,2,4,8")
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per figure")
    parser.add_argument("--rounds", type=int, default=3, help="turns each step mode takes (median kept)")
    parser.add_argument("--frames", type=int, help="resident frames (default: 30 2160p on CUDA, 4 540p on a CPU)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--out", type=Path, default=REPO / "results/benchmarks/train_throughput")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--slot-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.case == "worker":
        args.frames = args.frames or 4
        return worker(args)

    device = select_device(args.device)
    set_tf32(args.tf32)
    torch.backends.cudnn.benchmark = device.type == "cuda"  # as train() runs: kernels tuned to the shape
    args.frames = args.frames or (30 if device.type == "cuda" else 4)
    size = UHD if device.type == "cuda" else (540, 960)
    header = f"torch {torch.__version__}, {device}"
    if device.type == "cuda":
        header += f" ({torch.cuda.get_device_name(device)})"
    header += f", {args.precision}, tf32 {args.tf32}, {args.frames} resident planes of {size[1]}x{size[0]}"
    header += f", {args.threads} threads, {time.strftime('%Y-%m-%d %H:%M')}"
    rows, raw = [], {"modes": {}}

    def write() -> str:
        """After every row: a run cut off by a time limit keeps what it measured."""
        return write_table(args.out, "srstudy training throughput", header, rows, raw=raw)

    config = thesis()
    default = variant_spec(config, "default")
    planes = resident_planes(device, args.frames, size)
    # --modes "": no step-mode rows (e.g. only the concurrent jobs)
    modes = [m for m in args.modes.split(",") if m] if args.modes is not None else modes_for(device, args.precision)
    # torch.compile takes the longest to warm up: measured last, after everything else.
    early = [m for m in modes if m != "compile"]
    sections = [
        mode_rows(args, device, default, planes, early, raw),
        variant_rows(args, device, planes, config, raw),
        job_rows(args, raw),
    ]
    for section in sections:
        for result in section:
            rows.append(result)
            write()
    if "compile" in modes:
        rates = raw["modes"]
        rates["compile"] = measure_mode(
            device, default, planes, mode="compile", precision=args.precision, seconds=args.seconds
        )
        rows.append(
            mode_row("compile", rates["compile"], base=base_rate(rates), device=device, precision=args.precision)
        )
    print(write())


if __name__ == "__main__":
    main()
