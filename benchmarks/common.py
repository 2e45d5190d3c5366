"""What every benchmark script shares: the result row and its Markdown table, median
timing with device syncs, peak memory, and writing the results (.md and .json, each
atomically). Kept free of torch at import time, so the GPU check's report can use the
table without starting CUDA."""

import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow/scripts"))
from srstudy.base.files import atomic_file  # noqa: E402

GB = 1e9
COLUMNS = ("measure", "workflow", "baseline", "ratio", "target", "met", "note")


def row(measure, workflow, baseline="", ratio=None, target="", met=None, note="") -> dict:
    """One result: the workflow's figure against a baseline measured in the same run
    (``ratio``: workflow / baseline), and whether it ``met`` its ``target`` (None: no
    target, or not measurable here)."""
    return dict(zip(COLUMNS, (measure, workflow, baseline, ratio, target, met, note), strict=True))


def table(rows: list[dict]) -> str:
    """The rows as a Markdown table (the layout benchmarks/gpu_report.py repeats)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.3g}"
        met = {True: "yes", False: "**no**", None: ""}[r["met"]]
        lines.append(
            f"| {r['measure']} | {r['workflow']} | {r['baseline']} | {ratio} | {r['target']} | {met} | {r['note']} |"
        )
    return "\n".join(lines)


def write_results(out: Path, markdown: str, data: dict) -> None:
    """``out``.md and ``out``.json, each replaced whole: a run cut off by a time limit
    leaves the last complete pair, never half a file. Values JSON has no type for
    (paths, dates) are written as text."""
    out.parent.mkdir(parents=True, exist_ok=True)
    for suffix, content in ((".md", markdown), (".json", json.dumps(data, indent=1, default=str) + "\n")):
        with atomic_file(out.with_suffix(suffix), suffix) as tmp:
            Path(tmp).write_text(content)


def write_table(out: Path, title: str, header: str, rows: list[dict], **extra) -> str:
    """The rows under a title and a header line (what ran where) as ``out``.md, and
    ``{"header", "rows", **extra}`` as ``out``.json; returns the Markdown."""
    text = f"# {title}\n\n{header}\n\n{table(rows)}\n"
    write_results(out, text, {"header": header, "rows": rows, **extra})
    return text


def synchronize(device) -> None:
    """Wait for the device's queued work: CUDA calls return before the GPU is done."""
    if device is not None and device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)


def median_seconds(fn, repeat: int, device=None, warmup: bool = True) -> float:
    """Median wall time of ``repeat`` calls of ``fn``; the median, not the mean, because
    shared machines add one-sided outliers. ``warmup``: one untimed call first (kernel
    choice, allocations, caches)."""
    if warmup:
        fn()
    times = []
    for _ in range(repeat):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_memory(device) -> int:
    """Peak bytes: allocated on a CUDA device, else this process's resident high-water mark."""
    if device.type == "cuda":
        import torch

        return torch.cuda.max_memory_allocated(device)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork and
    # exec, so a child of a big process would report the parent's peak.
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_header(device, threads: int) -> str:
    """What ran where and when: the line above every table."""
    import torch

    return (
        f"torch {torch.__version__}, {device}, {threads} threads, {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )
