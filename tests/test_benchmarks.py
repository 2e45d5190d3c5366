"""The benchmark script runs (its sizes, not its timings, are checked: timings belong to
the benchmark's own table, not to tests)."""

import json
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
