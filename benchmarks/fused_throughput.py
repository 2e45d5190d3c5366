"""Fused training (issue 21): what stacking G models into one step buys, measured here.

    .venv/bin/python benchmarks/fused_throughput.py                      # CPU: layers, G=1,3,5 vs separate
    .venv/bin/python benchmarks/fused_throughput.py --device cuda --tf32 --groups 1,3,5,15,45 --jobs 1,4
    .venv/bin/python benchmarks/fused_throughput.py --device cuda --precision bf16 --sections throughput

Sections (--sections):
  layers      each convolution of the default variant, forward + backward of G members at
              batch 16 of 33x33, run each way FusedNet offers (grouped conv, unfold + bmm,
              torch.func.vmap): ms per fused step; the fastest per layer is what
              train.fuse_conv: auto should pick on this kind of device
  throughput  the default variant trained separately (TrainSteps, one model) against G
              members fused (FusedSteps): patches/s per model and in all; ratio = all /
              separate
  project     config/thesis.yaml's training time for all its seeds: each thesis variant's
              fused rate at G = its scales (the default grouping: one job per variant and
              seed), summed over variants and seeds; with --jobs, divided by the measured
              gain of that many concurrent fused jobs (MPS on a GPU)
  jobs        aggregate patches/s of K concurrent processes, each training a fused group

Every figure is measured in this run. The table goes to stdout and to --out (.md, .json).
"""

import argparse
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from common import REPO, median_seconds, row, synchronize, write_table
from data import UHD, load_config
from srstudy.base.gpu_slots import place_on_gpu
from srstudy.nets.build import build_model
from srstudy.nets.device import select_device, set_tf32
from srstudy.nets.fused import CONV_KINDS, FusedNet
from srstudy.plan.variants import variant_spec
from srstudy.train.fused import conv_kinds
from srstudy.train.fused_steps import FusedSteps, StackedAdam, member_lrs
from srstudy.train.patches import sample_patches
from srstudy.train.steps import TrainSteps, grad_scaler, make_optimizer, resolve_step_mode
from train_throughput import BATCH, PATCH, concurrent, rate, resident_planes, thesis, thesis_patches_per_model

CHUNK = 256  # origins per refill (steps per epoch in miniature)


def members(spec: dict, count: int, device) -> list:
    models = []
    for seed in range(count):
        torch.manual_seed(seed)
        models.append(build_model(spec).to(device).to(memory_format=torch.channels_last))
    return models


def fused_runner(spec, count, planes, device, precision, mode, conv="auto"):
    batch = spec["batch_size"]
    """G members of ``spec`` fused, each with its own planes' view (the same planes here)."""
    models = members(spec, count, device)
    optimizers = [make_optimizer(m, spec, device, mode) for m in models]
    net = FusedNet(models, conv_kinds(models, device, conv)).to(device)
    adam = StackedAdam(net.stacked(), member_lrs(models, optimizers, net), capturable=mode == "graph")
    return FusedSteps(net, adam, [planes] * count, PATCH, batch, CHUNK * batch, precision, mode)


def separate_runner(spec, planes, device, precision, mode):
    batch = spec["batch_size"]
    (model,) = members(spec, 1, device)
    optimizer = make_optimizer(model, spec, device, mode)
    return TrainSteps(
        model, optimizer, grad_scaler(device, precision), *planes, PATCH, batch, CHUNK * batch, precision, mode
    )


def timed(runner, count: int | None, planes, seconds: float, device) -> dict:
    """Steps per second of ``runner`` (``count`` members) over about ``seconds``."""
    generator = torch.Generator().manual_seed(1)
    shape = planes[1].shape

    def origins():
        one = sample_patches(generator, shape, PATCH, CHUNK * runner.batch).to(planes[1].device)
        return one if count is None else [one] * count

    def run(steps):
        done = 0
        while done < steps:
            runner.begin_epoch(origins())
            for _ in range(min(CHUNK, steps - done)):
                runner.step()
                done += 1
            runner.readback()

    started = time.perf_counter()
    run(10)  # kernel choice, graph capture
    synchronize(device)
    warmup = time.perf_counter() - started
    steps, elapsed = 4, 0.0
    while elapsed < seconds:
        steps = steps * 2 if elapsed < seconds / 4 else int(steps * seconds / max(elapsed, 1e-9)) + 1
        start = time.perf_counter()
        run(steps)
        synchronize(device)
        elapsed = time.perf_counter() - start
    return {"patches_per_s": steps * runner.batch / elapsed, "steps": steps, "seconds": elapsed, "warmup_s": warmup}


def layer_rows(args, device, raw) -> Iterator[dict]:
    spec = variant_spec(thesis(), "default")
    for count in args.group_counts:
        models = members(spec, count, device)
        x = torch.rand(BATCH, count, PATCH, PATCH, device=device).contiguous(memory_format=torch.channels_last)
        for index in range(len(spec["layers"])):
            times = {}
            for kind in CONV_KINDS:
                net = FusedNet(models, kind).to(device)
                # Inputs of layer ``index``: run the layers before it once, untimed.
                with torch.no_grad():
                    inputs = net.layers[: 2 * index](x) if index else x
                inputs = inputs.detach().requires_grad_(index > 0)
                layer = net.layers[2 * index]

                def step(layer=layer, inputs=inputs):
                    with torch.autocast(device.type, torch.bfloat16, enabled=args.precision == "bf16"):
                        out = layer(inputs)
                    out.float().square().mean().backward()

                times[kind] = median_seconds(step, args.repeat, device) * 1000
            best = min(times, key=times.get)
            raw.setdefault("layers", []).append({"G": count, "layer": index, "ms": times, "best": best})
            shape = spec["layers"][index]
            yield row(
                f"layer {index + 1} ({shape['kernel']}x{shape['kernel']}:{shape['channels']}), G={count}, ms/step",
                " / ".join(f"{k} {v:.2f}" for k, v in times.items()),
                "",
                None,
                "",
                None,
                f"fastest: {best}; forward + backward, batch {BATCH} of {PATCH}x{PATCH}, median of {args.repeat}",
            )


def throughput_rows(args, device, planes, mode, raw) -> Iterator[dict]:
    spec = variant_spec(load_config(args.config) if args.config else thesis(), "default")
    eager = rate(device, spec, planes, mode="baseline", precision=args.precision, seconds=args.seconds)
    raw["baseline"] = eager["patches_per_s"]
    yield row(
        "eager baseline (one model, host sync per step), patches/s",
        f"{eager['patches_per_s']:,.0f}",
        "",
        None,
        "",
        None,
        f"train_throughput.py's baseline at batch {BATCH}: the target's reference (>= 10x on one H100/H200)",
    )
    # Separate and each G take turns, round after round, each keeping its median round:
    # a load that comes and goes on a shared machine hits them alike.
    runners = {None: separate_runner(spec, planes, device, args.precision, mode)}
    for count in args.group_counts:
        try:
            runners[count] = fused_runner(spec, count, planes, device, args.precision, mode, args.conv)
        except Exception as error:  # a size that fails here (memory) is a finding, not a crash
            yield row(f"fused G={count}", "failed", "", None, "", False, f"{type(error).__name__}: {error}")
    rounds = {count: [] for count in runners}
    for _ in range(args.rounds):
        for count, runner in list(runners.items()):
            print(f"measuring {'separate' if count is None else f'G={count}'} ...", file=sys.stderr, flush=True)
            try:
                rounds[count].append(timed(runner, count, planes, args.seconds, device))
            except Exception as error:
                yield row(f"fused G={count}", "failed", "", None, "", False, f"{type(error).__name__}: {error}")
                del runners[count]
    median = {c: sorted(r, key=lambda x: x["patches_per_s"])[len(r) // 2] for c, r in rounds.items() if r}
    separate = median[None]
    base = separate["patches_per_s"]
    raw["separate"] = base
    raw["rounds"] = {str(c): [round(x["patches_per_s"], 1) for x in r] for c, r in rounds.items()}
    yield row(
        f"separate (one model, '{mode}'), patches/s",
        f"{base:,.0f}",
        "",
        None,
        "",
        None,
        f"TrainSteps, default variant, batch {spec['batch_size']}; median of {len(rounds[None])} rounds",
    )
    for count in args.group_counts:
        if count not in median:
            continue
        per_model = median[count]["patches_per_s"]
        raw.setdefault("fused", {})[count] = per_model
        over_eager = per_model * count / raw["baseline"]
        target = ">= 10x the eager baseline (one H100/H200)" if device.type == "cuda" else ""
        yield row(
            f"fused G={count}, patches/s per model (all)",
            f"{per_model:,.0f} ({per_model * count:,.0f})",
            f"separate {base:,.0f}",
            per_model * count / base,
            target,
            (over_eager >= 10) if target else None,
            f"FusedSteps '{mode}', conv {args.conv}; ratio = all members / one separate model; "
            f"all / eager baseline {over_eager:.1f}x; median of {len(rounds[count])} rounds",
        )


def project_rows(args, device, planes, mode, raw) -> Iterator[dict]:
    config = thesis()
    scales = len(config["scales"])
    per_model = thesis_patches_per_model(config)
    total, models = 0.0, 0
    for name in config["variants"]:
        spec = variant_spec(config, name)
        seeds = len(spec["seeds"])
        models += seeds * scales
        print(f"measuring variant {name} fused G={scales} ...", file=sys.stderr, flush=True)
        result = timed(
            fused_runner(spec, scales, planes, device, args.precision, mode, args.conv),
            scales,
            planes,
            args.seconds,
            device,
        )
        rate = result["patches_per_s"]  # of each member
        total += seeds * per_model / rate
        raw.setdefault("variant_rates", {})[name] = rate
    hours = total / 3600
    raw["projected_hours"] = hours
    yield row(
        "projected training time, config/thesis.yaml, all seeds, one job at a time",
        f"{hours:,.2f} h",
        "",
        None,
        "<= 6 h (one H100/H200)" if device.type == "cuda" else "",
        (hours <= 6) if device.type == "cuda" else None,
        f"{models} models: {len(config['variants'])} variants x their seeds, one fused job of {scales} scales each, "
        f"{per_model:,} patches per model; eval not included",
    )
    gain = raw.get("jobs_gain")
    if gain:
        count, factor = gain
        yield row(
            f"projected training time, config/thesis.yaml, {count} concurrent fused jobs",
            f"{hours / factor:,.2f} h",
            "",
            None,
            "<= 6 h (one H100/H200)" if device.type == "cuda" else "",
            (hours / factor <= 6) if device.type == "cuda" else None,
            f"the serial projection / the measured gain of {count} concurrent fused jobs ({factor:.2f}x)",
        )


def job_rows(args, raw) -> Iterator[dict]:
    import tempfile

    counts = [int(c) for c in args.jobs.split(",") if c]
    with tempfile.TemporaryDirectory(prefix="srstudy-slots-") as tmp:
        single = None
        for count in counts:
            print(f"measuring {count} concurrent fused jobs ...", file=sys.stderr, flush=True)
            try:
                result = concurrent(
                    args, count, Path(tmp) / f"k{count}", script=__file__, extra=["--fuse", str(args.fuse)]
                )
            except Exception as error:
                yield row(f"{count} concurrent fused jobs", "failed", "", None, "", False, str(error))
                continue
            single = single or (result["patches_per_s"] if count == 1 else None)
            if single and count > 1:
                best = raw.get("jobs_gain", (1, 1.0))
                if result["patches_per_s"] / single > best[1]:
                    raw["jobs_gain"] = (count, result["patches_per_s"] / single)
            yield row(
                f"{count} concurrent jobs of G={args.fuse}, aggregate patches/s",
                f"{result['patches_per_s']:,.0f}",
                f"one job {single:,.0f}" if single and count > 1 else "",
                result["patches_per_s"] / single if single and count > 1 else None,
                "",
                None,
                f"default variant, JOBS_PER_GPU={count}, "
                + ("under CUDA MPS" if os.environ.get("CUDA_MPS_PIPE_DIRECTORY") else "no MPS daemon"),
            )


def worker(args) -> None:
    """One of K concurrent jobs (see train_throughput.concurrent): a fused group of --fuse."""
    import json

    place_on_gpu(args.slot_dir)
    device = select_device(args.device)
    set_tf32(args.tf32)
    torch.backends.cudnn.benchmark = device.type == "cuda"
    spec = variant_spec(thesis(), "default")
    planes = resident_planes(device, args.frames, UHD if device.type == "cuda" else (540, 960))
    mode = resolve_step_mode("auto", device, args.precision)
    runner = fused_runner(spec, args.fuse, planes, device, args.precision, mode, args.conv)
    generator = torch.Generator().manual_seed(os.getpid())

    def epoch():
        runner.begin_epoch(
            [sample_patches(generator, planes[1].shape, PATCH, CHUNK * runner.batch).to(planes[1].device)] * args.fuse
        )

    epoch()
    for _ in range(10):
        runner.step()
    synchronize(device)
    print("ready", flush=True)
    start_at, until = map(float, sys.stdin.readline().split())
    while time.time() < start_at:
        time.sleep(0.001)
    steps, start = 0, time.perf_counter()
    while time.time() < until:
        epoch()
        for _ in range(64):
            runner.step()
        steps += 64
        runner.readback()
    elapsed = time.perf_counter() - start
    all_members = steps * runner.batch * args.fuse / elapsed
    print(json.dumps({"patches_per_s": all_members, "device": os.environ.get("CUDA_VISIBLE_DEVICES")}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--tf32", action="store_true", help="TF32 convolutions (CUDA)")
    parser.add_argument("--groups", default="1,3,5", help="members per fused step to measure")
    parser.add_argument("--conv", default="auto", help=f"auto or one of {', '.join(CONV_KINDS)} for every layer")
    parser.add_argument("--sections", default="layers,throughput", help="layers, throughput, project, jobs")
    parser.add_argument("--jobs", default="", help="concurrent fused job counts, e.g. 1,4")
    parser.add_argument("--fuse", type=int, default=5, help="members per concurrent job")
    parser.add_argument("--config", type=Path, help="throughput of this config's default variant (default: thesis)")
    parser.add_argument("--rounds", type=int, default=1, help="turns separate and fused take (median kept)")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--frames", type=int)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--out", type=Path, default=REPO / "results/benchmarks/fused_throughput")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--slot-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.group_counts = [int(g) for g in args.groups.split(",") if g]
    if args.case == "worker":
        args.frames = args.frames or 4
        return worker(args)
    device = select_device(args.device)
    set_tf32(args.tf32)
    torch.backends.cudnn.benchmark = device.type == "cuda"
    args.frames = args.frames or (30 if device.type == "cuda" else 4)
    size = UHD if device.type == "cuda" else (540, 960)
    mode = resolve_step_mode("auto", device, args.precision)
    header = f"torch {torch.__version__}, {device}"
    if device.type == "cuda":
        header += f" ({torch.cuda.get_device_name(device)})"
    header += f", {args.precision}, tf32 {args.tf32}, step '{mode}', {args.threads} threads"
    header += f", {time.strftime('%Y-%m-%d %H:%M')}"
    rows, raw = [], {}
    planes = resident_planes(device, args.frames, size)
    wanted = [s for s in args.sections.split(",") if s]
    sections = {
        "layers": lambda: layer_rows(args, device, raw),
        "throughput": lambda: throughput_rows(args, device, planes, mode, raw),
        "jobs": lambda: job_rows(args, raw),
        "project": lambda: project_rows(args, device, planes, mode, raw),
    }
    for name in ("layers", "throughput", "jobs", "project"):  # jobs before project: it uses their gain
        if name not in wanted:
            continue
        for result in sections[name]():
            rows.append(result)
            write_table(args.out, "srstudy fused training", header, rows, raw=raw)
    print(write_table(args.out, "srstudy fused training", header, rows, raw=raw))


if __name__ == "__main__":
    main()
