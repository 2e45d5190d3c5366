"""The GPU check's report: gathers what benchmarks/gpu_check.sh's sections left in its work
folder (section status, pytest's junit XML, the benchmarks' JSON, the workflow's results)
and writes <out>/<gpu-model>_<date>.md and .json, with every target of the GPU work and
whether this run met it. Only figures measured in this run are written; a section that
failed, timed out or was skipped says so instead.

    python benchmarks/gpu_report.py --work /tmp/gpu-check.XXXX --out benchmarks/results

The work folder also comes back from the GPU machine as gpu-check-artifacts.tar.gz: a
report can be written again from it anywhere (the GPU's identity is kept in gpu.json).
"""

import argparse
import json
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from common import REPO, table, write_results
from srstudy.train import convergence  # the one convergence rule (common puts workflow/scripts on the path)

# The benchmarks' JSON in the work folder (one per gpu_check.sh run of a benchmark script).
BENCHMARKS = (
    ("study", "benchmarks/study.py"),
    ("throughput", "benchmarks/train_throughput.py"),
    ("tf32", "benchmarks/train_throughput.py, TF32 convolutions"),
    ("bf16", "benchmarks/train_throughput.py, bf16 autocast"),
    ("mps", "benchmarks/train_throughput.py, concurrent jobs under CUDA MPS"),
    ("compile", "benchmarks/train_throughput.py, torch.compile"),
    ("fused_tf32", "benchmarks/fused_throughput.py, fused training, TF32 convolutions"),
    ("fused_bf16", "benchmarks/fused_throughput.py, fused training, bf16 autocast"),
    ("fused_mps", "benchmarks/fused_throughput.py, concurrent fused jobs under CUDA MPS"),
)


def gpu_identity() -> dict:
    """Model, memory and driver from nvidia-smi (none without a GPU), torch's CUDA."""
    info = {"model": None}
    try:
        line = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.splitlines()
        if line:
            name, memory, driver = (part.strip() for part in line[0].split(","))
            info |= {"model": name, "memory": memory, "driver": driver, "count": len(line)}
    except (OSError, subprocess.TimeoutExpired):
        pass
    try:
        import torch

        info |= {"torch": torch.__version__, "cuda": torch.version.cuda}
    except ImportError:
        pass
    return info


def sections(work: Path) -> list[dict]:
    path = work / "sections.tsv"
    rows = []
    for line in path.read_text().splitlines() if path.exists() else []:
        name, status, seconds, limit, note = (line.split("\t") + [""] * 5)[:5]
        rows.append({"section": name, "status": status, "seconds": int(seconds or 0), "limit": int(limit or 0)})
        rows[-1]["note"] = note
    return rows


def tests(work: Path) -> dict | None:
    path = work / "tests.xml"
    if not path.exists():
        return None
    root = ElementTree.parse(path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    out = {key: int(suite.get(key, 0)) for key in ("tests", "failures", "errors", "skipped")}
    out["failed"] = []
    for case in suite.iter("testcase"):
        for problem in [*case.findall("failure"), *case.findall("error")]:
            message = (problem.get("message") or "").splitlines()[:1]
            out["failed"].append(f"{case.get('name')}: {message[0] if message else problem.tag}")
    return out


def benchmark_rows(work: Path, name: str) -> list[dict] | None:
    path = work / f"{name}.json"
    return json.loads(path.read_text())["rows"] if path.exists() else None


def workflow(work: Path) -> dict | None:
    """Progress, and the study's answer if it finished: scores against bicubic and
    whether every model's eval PSNR has flattened."""
    log, results = work / "workflow.log", work / "workflow/results"
    if not log.exists():
        return None
    text = log.read_text(errors="replace")
    progress = re.findall(r"(\d+) of (\d+) steps \((\d+)%\) done", text)
    out = {"steps_done": None, "steps_total": None}
    if progress:
        out["steps_done"], out["steps_total"] = int(progress[-1][0]), int(progress[-1][1])
    summary = results / "tables/summary.csv"
    if summary.exists():
        import pandas as pd

        table = pd.read_csv(summary)
        means = table.groupby(["scale", "variant"])["psnr_y"].mean()
        by_scale = {}
        for scale in sorted(table["scale"].unique()):
            bicubic = means[(scale, "bicubic")]
            by_scale[int(scale)] = {
                variant: round(float(means[(scale, variant)] - bicubic), 3)
                for variant in table[table["scale"] == scale]["variant"].unique()
                if variant != "bicubic"
            }
        out["gain_over_bicubic_db"] = by_scale
    flat, verdicts = {}, {}
    for path in sorted(results.glob("models/x*/*/seed*/log.csv")):
        import pandas as pd

        result = convergence.judge(pd.read_csv(path)["eval_psnr_y"].tolist())
        key = "/".join(path.parts[-4:-1])
        flat[key] = round(result.drift_db, 3)
        verdicts[key] = result.verdict
    out["last_quarter_gain_db"] = flat
    out["verdicts"] = verdicts
    return out


def targets(parts: dict) -> list[dict]:
    """Each target of the GPU work, with the figure this run measured (or why none)."""
    out = []

    def add(target, value, met):
        out.append({"target": target, "measured": value, "met": met})

    study = {r["measure"]: r for r in parts.get("study") or []}
    vram = [r for name, r in study.items() if name.startswith("GPU memory:")]
    add(
        "VRAM of every thesis variant (train and 2160p inference) <= 8 GB",
        "; ".join(f"{r['measure'][12:]}: {r['workflow']}" for r in vram) or "not measured",
        all(r["met"] for r in vram) if vram else None,
    )
    bf16 = next((r for name, r in study.items() if name.startswith("3840x2160 inference") and "bf16" in name), None)
    add(
        "3840x2160 default inference, bf16 <= 10 ms",
        bf16["workflow"] if bf16 else "not measured",
        bf16["met"] if bf16 else None,
    )
    throughput = {r["measure"]: r for r in (parts.get("throughput") or []) + (parts.get("compile") or [])}
    # Rows with a target are GPU rows (a CPU run of the script sets none).
    fast = [r for name, r in throughput.items() if name.startswith("train step") and r["ratio"] and r["target"]]
    best = max(fast, key=lambda r: r["ratio"]) if fast else None
    add(
        ">= 5x the eager baseline's patches/s (default variant)",
        f"{best['ratio']:.2f}x ({best['measure']})" if best else "not measured",
        best["ratio"] >= 5 if best else None,
    )
    projection = throughput.get("projected training time, config/thesis.yaml")
    add(
        "projected config/thesis.yaml training time <= 2 h",
        projection["workflow"] if projection else "not measured",
        projection["met"] if projection else None,
    )
    fused = [r for name in ("fused_tf32", "fused_bf16", "fused_mps") for r in parts.get(name) or []]
    projections = [r for r in fused if r["measure"].startswith("projected training time") and r["target"]]
    fastest = min(projections, key=lambda r: float(r["workflow"].split()[0].replace(",", ""))) if projections else None
    add(
        "fused: projected config/thesis.yaml training (135 models, all seeds) <= 6 h",
        f"{fastest['workflow']} ({fastest['measure'][len('projected training time, ') :]})"
        if fastest
        else "not measured",
        fastest["met"] if fastest else None,
    )
    gains = [r for r in fused if r["measure"].startswith("fused G=") and r["target"]]
    widest = (
        max(gains, key=lambda r: float(r["note"].split("all / eager baseline ")[1].split("x")[0])) if gains else None
    )
    add(
        "fused: default-variant aggregate patches/s >= 10x the eager baseline",
        (widest["note"].split("; ")[1] + f" ({widest['measure']})") if widest else "not measured",
        widest["met"] if widest else None,
    )
    flow = parts.get("workflow") or {}
    section = {s["section"]: s for s in parts["sections"]}.get("workflow")
    finished = section is not None and section["status"] == "ok"
    add(
        "config/gpu.yaml workflow time <= 6 min",
        f"{section['seconds']} s ({section['status']})" if section else "not run",
        (section["seconds"] <= 360) if finished else None,
    )
    gains = flow.get("gain_over_bicubic_db") or {}
    x3 = gains.get(3, {}).get("default")
    add(
        "config/gpu.yaml: default >= 1 dB Y-PSNR over bicubic at x3",
        f"{x3:+.3f} dB" if x3 is not None else "not measured",
        (x3 >= 1) if x3 is not None else None,
    )
    below = [
        f"{variant} x{scale} ({gain:+.2f} dB)"
        for scale, row in gains.items()
        for variant, gain in row.items()
        if gain <= 0
    ]
    add(
        "config/gpu.yaml: every variant above bicubic",
        ("below: " + ", ".join(below)) if below else ("all above" if gains else "not measured"),
        (not below) if gains else None,
    )
    verdicts = flow.get("verdicts") or {}
    add(
        "config/gpu.yaml: every model converged (report.convergence, srstudy/train/convergence.py)",
        convergence.counts_text(verdicts.values()) if verdicts else "not measured",
        all(v == convergence.CONVERGED for v in verdicts.values()) if verdicts and finished else None,
    )
    return out


def graph_rates(work: Path) -> dict[str, float]:
    """The default variant's graph-step patches/s per precision, and the fp32 eager
    baseline's, from the throughput runs' raw figures (each run its own process, one
    after another)."""
    rates = {}
    for name, label in (("throughput", "fp32"), ("tf32", "tf32"), ("bf16", "bf16")):
        path = work / f"{name}.json"
        modes = json.loads(path.read_text()).get("raw", {}).get("modes", {}) if path.exists() else {}
        if "patches_per_s" in modes.get("graph", {}):
            rates[label] = modes["graph"]["patches_per_s"]
        if name == "throughput" and "patches_per_s" in modes.get("baseline", {}):
            rates["baseline"] = modes["baseline"]["patches_per_s"]
    return rates


def markdown(report: dict, work: Path) -> str:
    gpu = report["gpu"]
    lines = [
        f"# GPU check: {gpu.get('model') or 'no CUDA GPU'}, {report['date']}",
        "",
        f"GPU: {gpu.get('model')} ({gpu.get('memory', '?')}, driver {gpu.get('driver', '?')}, {gpu.get('count', 0)} "
        f"visible); torch {gpu.get('torch', '?')}, CUDA {gpu.get('cuda', '?')}; commit {report.get('commit') or '?'}. "
        f"Whole check: {report['elapsed_s']} s "
        f"of a {report['budget_s']} s budget; workflow with JOBS_PER_GPU={report['jobs_per_gpu']}.",
        "",
        "## Targets",
        "",
        "| target | measured here | met |",
        "|---|---|---|",
    ]
    for t in report["targets"]:
        met = {True: "yes", False: "**no**", None: "-"}[t["met"]]
        lines.append(f"| {t['target']} | {t['measured']} | {met} |")
    lines += ["", "## Sections", "", "| section | status | seconds | limit | note |", "|---|---|---|---|---|"]
    for s in report["sections"]:
        lines.append(f"| {s['section']} | {s['status']} | {s['seconds']} | {s['limit']} | {s['note']} |")
    if report["tests"]:
        t = report["tests"]
        lines += [
            "",
            "## pytest -m cuda",
            "",
            f"{t['tests']} tests: {t['failures']} failed, {t['errors']} errors, {t['skipped']} skipped",
        ]
        lines += [f"- {failure}" for failure in t["failed"]]
    for name, title in BENCHMARKS:
        if report.get(name):
            lines += ["", f"## {title}", "", table(report[name])]
    rates = report.get("graph_rates") or {}
    if len(rates) > 1 and "baseline" in rates:
        lines += ["", f"Default variant, patches/s against the fp32 eager baseline ({rates['baseline']:,.0f}): "]
        lines[-1] += ", ".join(
            f"graph {label} {rate:,.0f} ({rate / rates['baseline']:.1f}x)"
            for label, rate in rates.items()
            if label != "baseline"
        )
    flow = report["workflow"]
    if flow:
        lines += ["", "## config/gpu.yaml", "", f"Jobs done: {flow['steps_done']} of {flow['steps_total']}."]
        for scale, row in (flow.get("gain_over_bicubic_db") or {}).items():
            lines.append(f"- x{scale}, Y-PSNR over bicubic (dB): " + ", ".join(f"{v} {g:+.2f}" for v, g in row.items()))
    if report.get("notes"):
        lines += ["", "## Notes", "", report["notes"].strip()]
    for s in report["sections"]:
        log = work / f"{s['section']}.log"
        if s["status"] in ("failed", "timeout") and log.exists():
            tail = log.read_text(errors="replace").splitlines()[-30:]
            lines += ["", f"## {s['section']}: last lines of its log", "", "```", *tail, "```"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results")
    parser.add_argument("--budget", type=int, default=0)
    parser.add_argument("--elapsed", type=int, default=0)
    parser.add_argument("--jobs-per-gpu", type=int, default=1)
    parser.add_argument("--commit", default="", help="the commit checked (the GPU machine has no git)")
    parser.add_argument("--notes", type=Path, help="Markdown to add under 'Notes' (e.g. how a report was assembled)")
    args = parser.parse_args()
    # The identity of the GPU the sections ran on, kept in the work folder, so a report
    # can be written again elsewhere from what came back.
    identity = args.work / "gpu.json"
    gpu = json.loads(identity.read_text()) if identity.exists() else gpu_identity()
    if not identity.exists():
        identity.write_text(json.dumps(gpu))
    report = {
        "gpu": gpu,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": args.commit,
        "budget_s": args.budget,
        "elapsed_s": args.elapsed,
        "jobs_per_gpu": args.jobs_per_gpu,
        "sections": sections(args.work),
        "tests": tests(args.work),
        **{name: benchmark_rows(args.work, name) for name, _ in BENCHMARKS},
        "graph_rates": graph_rates(args.work),
        "workflow": workflow(args.work),
    }
    report["targets"] = targets(report)
    stem = re.sub(r"[^A-Za-z0-9]+", "-", gpu.get("model") or "no-cuda").strip("-")
    stem += "_" + time.strftime("%Y-%m-%d", time.gmtime())
    args.out.mkdir(parents=True, exist_ok=True)
    report["notes"] = args.notes.read_text() if args.notes else ""
    text = markdown(report, args.work)
    write_results(args.out / stem, text, report)  # the stem has no dot for with_suffix to cut
    print(text, file=sys.stderr)
    print(args.out / f"{stem}.md", args.out / f"{stem}.json")


if __name__ == "__main__":
    main()
