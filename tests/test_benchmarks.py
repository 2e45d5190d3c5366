"""The benchmark script runs (its sizes, not its timings, are checked: timings belong to
the benchmark's own table, not to tests)."""

import json
import os
import shutil
import subprocess
import sys

from conftest import REPO


def test_benchmark_script_measures_h5_size_and_loader(tmp_path):
    out = tmp_path / "study"
    command = [sys.executable, str(REPO / "benchmarks/study.py"), "--only", "h5,loader", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {row["measure"]: row for row in json.loads(out.with_suffix(".json").read_text())["rows"]}
    size = rows["train h5 bytes per 1920x1080 frame"]
    assert size["ratio"] <= 0.1 and size["met"]  # bytes on disk: deterministic, not a timing
    assert rows["training loader, patches/s (33x33, batch 16, CPU)"]["ratio"] > 0
    assert "| train h5 bytes per 1920x1080 frame |" in out.with_suffix(".md").read_text()


BENCHMARKS = REPO / "benchmarks"


def run_in_benchmarks(code: str) -> str:
    """Python run in benchmarks/ (its modules import each other by name), in a child so
    the test session's imports do not meet names such as ``common`` or ``data``."""
    result = subprocess.run([sys.executable, "-c", code], cwd=BENCHMARKS, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_each_measure_is_a_module_with_its_own_options_only():
    code = """
import json, study
parser, owned = study.parser_and_options()
args = parser.parse_args(["--only", "vram", "--precision", "bf16", "--checkpoint", "m.pt"])
print(json.dumps({
    "owned": owned,
    "vram": vars(study.own_options(args, owned["vram"])),
    "precision": {k: str(v) for k, v in vars(study.own_options(args, owned["precision"])).items()},
    "modules": {name: [callable(m.run), bool(m.__doc__)] for name, m in study.MEASURES.items()},
}))
"""
    found = json.loads(run_in_benchmarks(code))
    assert set(found["modules"]) == {"inference", "memory", "loader", "h5", "dag", "e2e", "precision", "uhd", "vram"}
    assert all(run and doc for run, doc in found["modules"].values())
    dests = [dest for options in found["owned"].values() for dest in options]
    assert len(dests) == len(set(dests))  # no option shared between two measures
    assert found["vram"] == {"precision": "bf16"}  # vram sees its own option and nothing of precision's
    assert set(found["precision"]) == {"results", "checkpoint"} and found["precision"]["checkpoint"] == "m.pt"


def test_precision_alone_without_a_trained_model_says_what_to_run(tmp_path):
    out = tmp_path / "study"
    command = [sys.executable, str(BENCHMARKS / "study.py"), "--only", "precision", "--results", str(tmp_path)]
    result = subprocess.run(command + ["--out", str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    [row] = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert row["met"] is None and row["note"].startswith("skipped: no trained model at " + str(tmp_path))
    assert "bash run.sh study" in row["note"]


def test_memory_case_runs_in_a_process_of_its_own():
    command = [sys.executable, "-m", "measures.memory", "180x320", "whole", "cpu", "1"]
    result = subprocess.run(command, cwd=BENCHMARKS, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    case = json.loads(result.stdout)
    assert case["tile"] == 320 and case["peak"] >= case["before"] > 0


def test_results_table_and_files_share_one_layout(tmp_path):
    code = f"""
import json
from pathlib import Path
from common import row, write_table
import gpu_report
rows = [row("a", "1 s", "2 s", 0.5, "<= 1", True, "n"), row("b", "x")]
text = write_table(Path({str(tmp_path / "t")!r}), "title", "header", rows, raw={{"k": Path("p")}})
print(json.dumps({{"text": text, "report": gpu_report.markdown(
    {{"gpu": {{}}, "date": "d", "elapsed_s": 0, "budget_s": 0, "jobs_per_gpu": 1, "targets": [], "sections": [],
      "tests": None, "study": rows, "throughput": None, "compile": None, "workflow": None}}, Path("."))}}))
"""
    found = json.loads(run_in_benchmarks(code))
    lines = found["text"].splitlines()
    assert lines[:3] == ["# title", "", "header"]
    assert "| a | 1 s | 2 s | 0.5 | <= 1 | yes | n |" in lines and "| b | x |  |  |  |  |  |" in lines
    data = json.loads((tmp_path / "t.json").read_text())
    assert data == {"header": "header", "rows": data["rows"], "raw": {"k": "p"}} and len(data["rows"]) == 2
    assert (tmp_path / "t.md").read_text() == found["text"]
    table = "\n".join(lines[4:]).strip()  # the GPU check's report shows the same table
    assert table in found["report"]


def test_fault_summary_of_a_run_that_ended_before_any_kill():
    code = """
import json, faults
print(json.dumps([faults.summary("SIGTERM", [], 50), faults.summary("SIGKILL", [
    {"steps_redone": 3, "exit_seconds": 0.1}, {"steps_redone": 60, "exit_seconds": 0.3}], 50)]))
"""
    none, two = json.loads(run_in_benchmarks(code))
    assert none["kills"] == 0 and none["worst_steps_redone"] is None and none["within_one_interval"] is None
    assert two["kills"] == 2 and two["worst_steps_redone"] == 60 and two["within_one_interval"] is False


def test_the_gpu_profile_rehearses_on_the_cpu(tmp_path):
    """benchmarks/gpu_profile.py's CPU rehearsal: both parts profiled, the top operators
    named with their share of the time."""
    out = tmp_path / "profile"
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks/gpu_profile.py"), "--device", "cpu", "--size", "64x96"]
        + ["--steps", "3", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.with_suffix(".json").read_text())
    step, infer = report["parts"]["training step"], report["parts"]["96x64 inference"]
    assert step["eager_ms_per_step"] > 0 and step["kernels"] and infer["kernels"]
    assert any("conv" in k["kernel"] for k in step["kernels"])
    assert 0 < sum(k["share"] for k in step["kernels"]) <= 1.0001


def test_reverdict_leaves_tables_it_wrote_unchanged(tmp_path):
    """benchmarks/reverdict.py rewrote the committed H200 tables; run again on them it
    must change nothing (no second banner, flag or 'unresolved' mark)."""
    committed = BENCHMARKS / "results/NVIDIA-H200_2026-11-26_gpu-yaml"
    copy = tmp_path / "run"
    shutil.copytree(committed, copy)
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "reverdict.py"), str(copy)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO / "workflow/scripts")},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "0 of 27 converged (27 still rising)"
    changed = [p.name for p in sorted(committed.iterdir()) if p.read_bytes() != (copy / p.name).read_bytes()]
    assert changed == []
