"""The report's About page: the software that ran the study (torch, CUDA, ffmpeg,
Snakemake ...), the devices the models were trained on (from their checkpoints) and the
git commit of the workflow."""

import html
import importlib.metadata
import platform
import subprocess
from collections import Counter
from pathlib import Path

from srstudy.base.files import atomic_file
from srstudy.stages.video import ffmpeg_binary

# The environment variable the Snakefile passes the workflow's commit in.
COMMIT_ENV = "SRSTUDY_WORKFLOW_COMMIT"
PACKAGES = ("snakemake", "torch", "numpy", "scipy", "h5py", "pillow", "imageio", "imageio-ffmpeg", "pandas")


def git_commit(folder: str | Path) -> str:
    """The commit checked out in ``folder``, with "+ local changes" when tracked files differ."""
    try:
        run = {"cwd": folder, "capture_output": True, "text": True, "timeout": 10}
        head = subprocess.run(["git", "rev-parse", "HEAD"], check=True, **run).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], check=True, **run).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout, or git is not installed)"
    return head + (" + local changes" if dirty.strip() else "")


def ffmpeg_version(ffmpeg_exe: str | None = None) -> str:
    try:
        out = subprocess.run([ffmpeg_binary(ffmpeg_exe), "-version"], capture_output=True, text=True, timeout=30)
        return out.stdout.splitlines()[0].removeprefix("ffmpeg version ").split(" Copyright")[0]
    except (OSError, IndexError, subprocess.SubprocessError) as error:
        return f"unknown ({error})"


def software(ffmpeg_exe: str | None = None) -> dict[str, str]:
    """Versions where this job runs."""
    import torch  # here, not at the top: the Snakefile imports this module for git_commit

    found = {"python": platform.python_version(), "platform": platform.platform()}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    found["CUDA (torch build)"] = torch.version.cuda or "none (CPU build)"
    found["cuDNN"] = str(torch.backends.cudnn.version()) if torch.backends.cudnn.is_available() else "none"
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    found["GPUs here"] = ", ".join(gpus) or "none"
    found["ffmpeg"] = ffmpeg_version(ffmpeg_exe)
    return found


def training_devices(checkpoints: list[str | Path]) -> dict[str, int]:
    """How many models were trained on each device and torch version (from the checkpoints)."""
    import torch

    counts = Counter()
    for path in checkpoints:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        counts[f"{checkpoint.get('device', 'unknown')}, torch {checkpoint.get('torch', 'unknown')}"] += 1
    return dict(counts)


def write_about(out: str | Path, checkpoints: list[str | Path], commit: str, ffmpeg_exe: str | None = None) -> None:
    rows = {"workflow commit": commit}
    for device, count in training_devices(checkpoints).items():
        rows[f"models trained on {device}"] = str(count)
    rows |= software(ffmpeg_exe)
    cells = "".join(
        f"<tr><th style='text-align:left;padding:2px 12px'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
        for k, v in rows.items()
    )
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>About this run</title></head>"
        "<body style='font-family:sans-serif'><h3>Software, devices and commit of this run</h3>"
        f"<table>{cells}</table></body></html>"
    )
    with atomic_file(out, ".html") as tmp:
        tmp.write_text(page, encoding="utf-8")
