"""Lint and formatting as tests, so CI goes red when the code drifts."""

import subprocess
import sys

import pytest
from conftest import REPO

PYTHON_PATHS = [p for p in ("workflow", "tests", "benchmarks") if (REPO / p).is_dir()]


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "command",
    [["ruff", "check", "--no-cache"], ["ruff", "format", "--check", "--no-cache"]],
    ids=["ruff-check", "ruff-format"],
)
def test_ruff(command):
    result = run(sys.executable, "-m", *command, *PYTHON_PATHS)
    assert result.returncode == 0, f"{' '.join(command)} {' '.join(PYTHON_PATHS)}:\n{result.stdout}{result.stderr}"


def test_snakefmt():
    result = run(sys.executable, "-m", "snakefmt", "--check", "Snakefile", "workflow/rules")
    assert result.returncode == 0, f"snakefmt --check Snakefile workflow/rules:\n{result.stdout}{result.stderr}"
