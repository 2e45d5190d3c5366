"""benchmarks/gpu_check.sh on a machine without CUDA: every GPU section is reported as
skipped (none is faked), a report is still written, and the script exits 0."""

import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import REPO


@pytest.mark.skipif(torch.cuda.is_available(), reason="with a GPU the check runs for real (minutes)")
def test_without_cuda_the_gpu_check_reports_every_section_skipped(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "GPU_CHECK_OUT": str(tmp_path), "TMPDIR": str(tmp_path)}
    env.pop("GPU_CHECK_FORCE", None)
    result = subprocess.run(
        ["bash", str(REPO / "benchmarks/gpu_check.sh")], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [report] = tmp_path.glob("no-cuda_*.json")
    data = json.loads(report.read_text())
    status = {s["section"]: (s["status"], s["note"]) for s in data["sections"]}
    assert status["setup"][0] == "ok"
    for name in ("tests", "study", "throughput", "workflow"):
        assert status[name] == ("skipped", "no CUDA GPU on this machine")
    for target in data["targets"]:  # no figure without a measurement
        assert target["met"] is None and ("not measured" in target["measured"] or "skipped" in target["measured"])
    assert "| workflow | skipped |" in report.with_suffix(".md").read_text()
