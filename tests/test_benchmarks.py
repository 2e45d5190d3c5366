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
