"""Reliability and security, every case tried for real: a bad config is refused
before any job runs, naming the key and what is allowed; a bad video fails naming the file
and the problem, an unusual but valid one gives exact frames; a diverging training job
fails naming variant, scale and epoch, a killed one resumes; a full disk or a killed writer
never leaves a complete-looking output; a checkpoint never runs code; a failure reads as
one or two lines, its traceback only in the job's log or with SRSTUDY_DEBUG=1.

Covered by other modules and not run twice here:
- a killed train() process resumes to the checkpoint of an uninterrupted run:
  test_train.py::test_a_killed_job_resumes_from_its_last_epoch
- NaN training data: test_train.py::test_nan_loss_stops_with_variant_scale_and_epoch
- a video with fewer frames than asked for, at extraction:
  test_video.py::test_more_frames_than_the_video_has
- missing, empty and text videos at extraction: test_video.py::test_bad_video_extract_leaves_no_output
"""

import ast
import contextlib
import hashlib
import json
import os
import pickle
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import BBB_SPEC, REPO, SCHEMA, explain, make_lavfi_clip, png_ids, rename_key, set_key, snakemake
from srstudy.base import files
from srstudy.base.files import DiskFullError, atomic_file, check_free_space
from srstudy.base.frames import frame_name, read_rgb, write_png
from srstudy.base.joblog import DEBUG_ENV
from srstudy.nets.build import build_model
from srstudy.nets.checkpoint import CheckpointMismatch, load_checkpoint
from srstudy.plan import dag
from srstudy.plan.config import validate_schema
from srstudy.plan.errors import ConfigError
from srstudy.plan.preflight import check_semantics, check_videos
from srstudy.report import about, crossval, figures
from srstudy.stages import encode, inference, metrics
from srstudy.stages.dataset import pack
from srstudy.stages.degrade import degrade, degrade_frames
from srstudy.stages.video import VideoError, download, extract_frames, probe, read_manifest, resolve_video
from srstudy.train.loop import LOG_COLUMNS, train, write_log
from srstudy.train.resume import save_atomic

TRACEBACK = "Traceback (most recent call last)"
TINY = {
    "layers": [{"kernel": 9, "channels": 16}, {"kernel": 5, "channels": 8}, {"kernel": 5, "channels": 1}],
    "activation": "relu",
    "lr": 1e-3,
    "last_layer_lr_factor": 0.1,
    "batch_size": 8,
    "epochs": 1,
    "patch_size": 21,
    "patch_stride": 14,
    "patches_per_epoch": 32,
}
WIDE = {**TINY, "layers": [{"kernel": 9, "channels": 64}, {"kernel": 5, "channels": 32}, {"kernel": 5, "channels": 1}]}


def child_env(**extra) -> dict:
    """Environment for a child Python: this checkout's package (and tests) first."""
    paths = [str(REPO / "workflow/scripts"), str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p), **extra}


def python(code: str, *args, **popen) -> subprocess.Popen:
    """Start ``python -c code args`` in a session of its own (so it can be killed whole)."""
    popen.setdefault("env", child_env())
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], start_new_session=True, **popen)


def kill_when(process: subprocess.Popen, ready, timeout: float = 120) -> None:
    """SIGKILL ``process`` and everything it started as soon as ``ready()`` holds."""
    deadline = time.monotonic() + timeout
    while not ready() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def leftovers(folder: Path, final: str) -> list[Path]:
    """Temporary siblings a writer of ``folder/final`` leaves when it is killed."""
    return sorted(folder.glob(f".{final}.*"))


def noise(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# --- config: refused before any job runs ---------------------------------------------


def refusal(config: dict) -> str:
    """The message with which the workflow's own checks (in common.smk's order) refuse
    ``config``; the test fails if they accept it."""
    with pytest.raises(ConfigError) as error:
        validate_schema(config, SCHEMA)
        check_semantics(config)
        check_videos(config)
    return str(error.value)


BAD_NAMES = ["a/b", "..", "my variant", "x;rm -rf ~", "$(touch pwned)", "it's", "a`id`"]
NAME_RULE = "is not allowed: use letters, digits, '_' and '-' only (names become folder names and Snakemake wildcards)"
SCALES = "(allowed: 2 to 16)"
PAST_THE_END = {"start": 100, "stop": 300, "step": 10}  # the embedded clip has 132 frames
PAST_THE_END_MESSAGE = (
    f"video: frame 290 is configured but '{resolve_video(BBB_SPEC)}' holds about 133 frames (5.31 s at 25 fps): "
    "use frame numbers below 133"
)
CONFIG_REFUSALS = {
    # case: (change to the CI config, texts the message holds)
    "misspelled key": (
        rename_key(["scales"], "scale"),
        [
            "(top level): unknown key 'scale' (did you mean 'scales'?); "
            "allowed keys here: baseline_variant, cv, defaults"
        ],
    ),
    "misspelled variant setting": (
        set_key(["variants", "elu", "activaton"], "elu"),
        [
            "variants.elu: unknown key 'activaton' (did you mean 'activation'?); allowed keys here: activation, "
            "arch, batch_size, epochs, espcn, fsrcnn, last_layer_lr_factor, layers, lr, patch_size, patch_stride, "
            "patches_per_epoch, seeds"
        ],
    ),
    "wrong type": (set_key(["defaults", "epochs"], "ten"), ["defaults.epochs: 'ten' is not of type 'integer'"]),
    "unknown activation": (
        set_key(["variants", "elu", "activation"], "swish"),
        [
            "variants.elu.activation: 'swish' is not one of "
            "['relu', 'elu', 'sigmoid', 'tanh', 'prelu', 'leaky_relu', 'gelu', 'silu']"
        ],
    ),
    "scale 1": (set_key(["scales"], [1, 2]), [f"scales[0]: 1 is less than the minimum of 2 {SCALES}"]),
    "scale 0": (set_key(["scales"], [0]), [f"scales[0]: 0 is less than the minimum of 2 {SCALES}"]),
    "scale 17": (set_key(["scales"], [2, 17]), [f"scales[1]: 17 is greater than the maximum of 16 {SCALES}"]),
    "empty variant list": (set_key(["variants"], {}), ["variants: {} is empty; give at least one entry"]),
    "variants given as a list": (set_key(["variants"], []), ["variants: [] is not of type 'object'"]),
    **{
        f"variant name {name}": (set_key(["variants", name], {}), [f"variants: the name '{name}' {NAME_RULE}"])
        for name in BAD_NAMES
    },
    "overlapping train/test frames": (
        set_key(["frames", "test"], {"start": 0, "stop": 20, "step": 10}),
        ["frames.train and frames.test overlap (frames [0, 10]): train, eval and test frames must be disjoint"],
    ),
    "test frames past the end of the video": (set_key(["frames", "test"], PAST_THE_END), [PAST_THE_END_MESSAGE]),
    "progress saved every 0 seconds": (
        set_key(["progress"], {"save_every_seconds": 0}),
        ["progress.save_every_seconds: 0 is less than or equal to the minimum of 0 (allowed: above 0)"],
    ),
}


@pytest.mark.parametrize("case", CONFIG_REFUSALS)
def test_bad_config_is_refused_naming_the_key_and_what_is_allowed(test_config, case):
    change, expected = CONFIG_REFUSALS[case]
    change(test_config)
    message = refusal(test_config)
    assert all(text in message for text in expected), message


def several_mistakes(config: dict) -> list[str]:
    config["defaults"]["activation"] = "swish"
    config["scales"] = [2, 17]
    config["variants"]["x;rm -rf ~"] = {}
    return [
        "  - defaults.activation: 'swish' is not one of "
        "['relu', 'elu', 'sigmoid', 'tanh', 'prelu', 'leaky_relu', 'gelu', 'silu']",
        f"  - scales[1]: 17 is greater than the maximum of 16 {SCALES}",
        f"  - variants: the name 'x;rm -rf ~' {NAME_RULE}",
    ]


def frames_past_the_end(config: dict) -> list[str]:
    config["frames"]["test"] = PAST_THE_END
    return [f"  - {PAST_THE_END_MESSAGE}"]


@pytest.mark.parametrize("mistake", [several_mistakes, frames_past_the_end], ids=lambda f: f.__name__)
def test_snakemake_refuses_a_bad_config_in_a_few_lines_before_any_job(tmp_path, test_config, mistake):
    expected = mistake(test_config)
    result = snakemake(tmp_path, "-n", configfile=write_config(tmp_path / "bad.yaml", test_config))
    assert result.returncode == 1, explain(result)
    # Snakemake's own first line names the workflow profile it loads (profiles/default).
    lines = result.stderr.strip().splitlines()
    lines = [line for line in lines if not line.startswith("Using workflow specific profile")]
    assert lines[0].startswith("error: config is invalid"), explain(result)
    assert lines[1:] == expected, explain(result)
    assert TRACEBACK not in result.stderr and 'File "' not in result.stderr, explain(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"], "Snakemake started on the workflow"


def test_debug_flag_shows_where_a_config_error_was_raised(tmp_path, test_config):
    expected = several_mistakes(test_config)
    configfile = write_config(tmp_path / "bad.yaml", test_config)
    result = snakemake(tmp_path, "-n", configfile=configfile, env={DEBUG_ENV: "1"})
    assert result.returncode == 1, explain(result)
    output = result.stdout + result.stderr  # Snakemake reports its own errors on stdout
    assert all(line in output for line in expected), explain(result)
    assert 'srstudy/plan/config.py", line' in output, explain(result)


# --- videos -------------------------------------------------------------------------


def _missing(tmp_path, clip):
    return tmp_path / "no such video.mp4"


def _empty(tmp_path, clip):
    (tmp_path / "empty.mp4").write_bytes(b"")
    return tmp_path / "empty.mp4"


def _text(tmp_path, clip):
    (tmp_path / "notes.mp4").write_text("a text file, renamed\n" * 40)
    return tmp_path / "notes.mp4"


def first_half(path: Path, out: Path) -> Path:
    data = path.read_bytes()
    out.write_bytes(data[: len(data) // 2])
    return out


def _truncated(tmp_path, clip):
    return first_half(clip, tmp_path / "bbb_half.mp4")


VIDEO_REFUSALS = {
    "missing": (_missing, "video.path: video '{}' does not exist: put the file there or fix 'video.path'"),
    "empty": (_empty, "video.path: video '{}' is empty (0 bytes): replace it with the real file"),
    "text renamed .mp4": (_text, "video.path: '{}' is not a readable video (ffmpeg: "),
    "truncated (first half, index at the end)": (
        _truncated,
        "video.path: video '{}' is incomplete: its index (the mp4 'moov' atom) is missing, so the file was cut "
        "off while downloading or copying; copy or download it again",
    ),
}


@pytest.mark.parametrize("case", VIDEO_REFUSALS)
def test_unusable_video_is_refused_naming_the_file(tmp_path, test_config, bbb_clip, case):
    make, expected = VIDEO_REFUSALS[case]
    path = make(tmp_path, bbb_clip)
    test_config["video"]["path"] = str(path)
    message = refusal(test_config)
    assert expected.format(path) in message, message
    if case == "text renamed .mp4":
        assert "give a video file ffmpeg can decode" in message


@pytest.fixture(scope="module")
def truncated_faststart(tmp_path_factory, ffmpeg_exe, bbb_clip) -> Path:
    """The first half of the embedded clip with its index moved to the front (faststart):
    the header announces 5.31 s (about 133 frames), the stream breaks off after 53."""
    root = tmp_path_factory.mktemp("faststart")
    remuxed = root / "bbb_faststart.mp4"
    subprocess.run(
        [ffmpeg_exe, "-nostdin", "-loglevel", "error", "-i", str(bbb_clip)]
        + ["-c", "copy", "-movflags", "+faststart", str(remuxed)],
        check=True,
    )
    return first_half(remuxed, root / "bbb_faststart_half.mp4")


def test_truncated_video_with_its_index_in_front_fails_at_extraction(tmp_path, test_config, truncated_faststart):
    test_config["video"]["path"] = str(truncated_faststart)
    check_videos(validate_schema(test_config, SCHEMA))  # the header looks whole
    out = tmp_path / "results" / "frames"
    with pytest.raises(VideoError) as error:
        extract_frames(truncated_faststart, [0, 10, 100, 110], out)
    message = str(error.value)
    assert message.startswith(
        f"video '{truncated_faststart}' could not be decoded up to frame 100, although its header announces "
        "about 133 frames (5.31 s at 25 fps) (ffmpeg: "
    ), message
    assert "partial file" in message
    assert message.endswith("the file is probably truncated or damaged; copy or download it again")
    assert not out.parent.exists() or not list(out.parent.iterdir())


VALID_SOURCES = {
    # case: (file, size, lavfi source (testsrc2 rounds sizes to even), codec, pixel format)
    "odd dimensions 1281x721": ("odd.mp4", (1281, 721), "testsrc", "libx264", "yuv444p"),
    "grayscale": ("gray.mkv", (320, 180), "testsrc2", "ffv1", "gray"),
    "10-bit": ("ten_bit.mp4", (320, 180), "testsrc2", "libx264", "yuv420p10le"),
}


@pytest.mark.parametrize("case", VALID_SOURCES)
def test_unusual_but_valid_video_gives_the_exact_frames(tmp_path, ffmpeg_exe, sequential_decode, case):
    name, size, source, codec, pix_fmt = VALID_SOURCES[case]
    clip = make_lavfi_clip(ffmpeg_exe, tmp_path / name, 4, size=size, source=source, codec=codec, pix_fmt=pix_fmt)
    header = subprocess.run([ffmpeg_exe, "-hide_banner", "-i", str(clip)], capture_output=True, text=True).stderr
    assert re.search(rf"Video: .*\b{pix_fmt}\b", header), header  # the source really is of that kind
    info = probe(clip)
    assert (info.width, info.height) == size
    extract_frames(clip, [1, 3], tmp_path / "frames")
    decoded = sequential_decode(clip)  # another decoder, counting frames as they come
    for index in (1, 3):
        rgb = read_rgb(tmp_path / "frames" / frame_name(index))
        assert rgb.shape == (size[1], size[0], 3)
        np.testing.assert_array_equal(rgb, decoded[index])
        if pix_fmt == "gray":
            assert (rgb == rgb[..., :1]).all()
    hr, _, bicubic = degrade(rgb, 3)
    assert hr.shape == bicubic.shape == (size[1] - size[1] % 3, size[0] - size[0] % 3, 3)


SHELL_DIR = 'it\'s a "quoted" dir; $HOME'
SHELL_NAME = "clip $(touch pwned); rm -f x `touch pwned2`.mp4"


def test_path_with_shell_characters_is_never_interpreted(tmp_path, synthetic_clip, sequential_decode):
    video = tmp_path / SHELL_DIR / SHELL_NAME
    video.parent.mkdir()
    shutil.copy(synthetic_clip, video)
    config = {
        "video": {"path": str(video)},
        "frames": {"train": {"start": 0, "stop": 2}, "eval": {"start": 2, "stop": 3}, "test": {"start": 3, "stop": 4}},
        "scales": [2],
        "threads": {"extract": 1},
    }
    workdir = tmp_path / "work"
    workdir.mkdir()
    result = snakemake(
        workdir, "--cores", "1", configfile=write_config(tmp_path / "c.yaml", config), targets=["frames"]
    )
    assert result.returncode == 0, explain(result)
    decoded = sequential_decode(video)
    for split, ids in {"train": [0, 1], "eval": [2], "test": [3]}.items():
        frames = workdir / "results/frames" / split
        assert png_ids(frames) == ids
        assert read_manifest(frames)["path"] == str(video)
        for index in ids:
            np.testing.assert_array_equal(read_rgb(frames / frame_name(index)), decoded[index])
    planted = [p for root in (tmp_path, workdir, REPO, Path.cwd()) for p in root.glob("pwned*")]
    assert not planted, f"a shell ran part of the path: {planted}"


# --- training -------------------------------------------------------------------------

# A training run in a child process, as the train job runs it: train.h5 eval.h5 spec model log.
TRAIN = (
    "import sys, json; from srstudy.train.loop import train; train(*sys.argv[1:3], json.loads(sys.argv[3]), seed=123, "
    "scale=2, model_path=sys.argv[4], log_path=sys.argv[5], device='cpu', threads=1, progress=False, name='tiny')"
)
SLOW_EPOCHS = 3
SLOW_LAYERS = [{"kernel": 9, "channels": 32}, {"kernel": 5, "channels": 16}, {"kernel": 5, "channels": 1}]


@pytest.fixture(scope="module")
def study(tmp_path_factory, synthetic_clip):
    """A working directory and config on the synthetic clip, scale 2: 'boom' (an absurd
    learning rate) and 'slow' (wider layers, epochs long enough to be killed in)."""
    workdir = tmp_path_factory.mktemp("study")
    config = {
        "video": {"path": str(synthetic_clip)},
        "frames": {"train": {"start": 0, "stop": 4}, "eval": {"start": 4, "stop": 5}, "test": {"start": 6, "stop": 7}},
        "scales": [2],
        "device": "cpu",
        "threads": {"extract": 1, "degrade": 1, "train": 1},
        "defaults": {"epochs": 1, "patches_per_epoch": 64, "layers": TINY["layers"]},
        "variants": {
            "boom": {"lr": 1.0e6},
            "slow": {"epochs": SLOW_EPOCHS, "patches_per_epoch": 480, "patch_size": 21, "layers": SLOW_LAYERS},
            "stopped": {"epochs": 2, "patches_per_epoch": 40 * 16, "patch_size": 21},
        },
        "baseline_variant": "slow",
    }
    return workdir, write_config(workdir / "study.yaml", config)


def test_diverging_training_fails_naming_variant_scale_and_epoch(study):
    workdir, configfile = study
    target = "results/models/x2/boom/seed123/model.pt"
    result = snakemake(workdir, "--cores", "2", "--resources", "gpu=1", configfile=configfile, targets=[target])
    model = workdir / target
    assert result.returncode == 1, explain(result)
    log = "results/logs/train/x2/boom/seed123.log"
    assert re.search(
        r"^error: variant 'boom', scale 2, seed 123: loss became (inf|nan) in epoch 1 \(step \d+\); "
        r"lower variants\.boom\.lr \(or defaults\.lr\) in the config\n"
        rf"  \(full traceback in {re.escape(log)}; set {DEBUG_ENV}=1 to print it here too\)$",
        result.stderr,
        re.MULTILINE,
    ), explain(result)
    assert TRACEBACK not in result.stderr, explain(result)
    assert "Error in rule train" in result.stderr  # Snakemake counts the job as failed ...
    assert not model.parent.exists() or not list(model.parent.iterdir())  # ... and nothing is left
    logged = (workdir / log).read_text()
    assert TRACEBACK in logged and "srstudy.train.loop.TrainingDiverged: variant 'boom'" in logged


def test_snakemake_killed_mid_training_resumes_on_rerun(study):
    """kill -9 the whole Snakemake run while it trains; after --unlock the rerun resumes
    from the last saved epoch and ends with the checkpoint of an uninterrupted run."""
    workdir, configfile = study
    folder = workdir / "results/models/x2/slow/seed123"
    command = [sys.executable, "-m", "snakemake", "results/models/x2/slow/seed123/model.pt"]
    command += ["-s", str(REPO / "Snakefile"), "--configfile", str(configfile), "--cores", "2", "--resources", "gpu=1"]
    process = subprocess.Popen(
        command,
        cwd=workdir,
        env=child_env(),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    kill_when(process, (folder / "resume.pt").exists)
    saved = torch.load(folder / "resume.pt", weights_only=True)["epoch"]
    assert 1 <= saved < SLOW_EPOCHS, "the job finished before it could be killed; make the epochs longer"
    assert not (folder / "model.pt").exists() and not (folder / "log.csv").exists()

    locked = subprocess.run(command, cwd=workdir, env=child_env(), capture_output=True, text=True)
    assert locked.returncode != 0 and "--unlock" in locked.stderr, explain(locked)
    subprocess.run([*command, "--unlock"], cwd=workdir, env=child_env(), check=True, capture_output=True)
    rerun = subprocess.run(command, cwd=workdir, env=child_env(), capture_output=True, text=True)
    assert rerun.returncode == 0, explain(rerun)
    assert (
        f"resuming slow x2 seed 123 after epoch {saved}"
        in (workdir / "results/logs/train/x2/slow/seed123.log").read_text()
    )
    log = pd.read_csv(folder / "log.csv")
    assert list(log.columns) == list(LOG_COLUMNS) and list(log.epoch) == list(range(1, SLOW_EPOCHS + 1))

    resumed = torch.load(folder / "model.pt", weights_only=True)
    straight = workdir / "straight"
    h5 = [workdir / f"results/h5/x2/{split}.h5" for split in ("train", "eval")]
    spec = json.dumps(resumed["spec"])
    assert python(TRAIN, *h5, spec, straight / "model.pt", straight / "log.csv").wait() == 0
    expected = torch.load(straight / "model.pt", weights_only=True)
    assert resumed["epoch"] == expected["epoch"]
    for key, value in expected["state_dict"].items():
        assert torch.equal(value, resumed["state_dict"][key]), key


def test_snakemake_terminated_mid_epoch_resumes_every_model_at_its_step(study):
    """kill -TERM to the whole Snakemake run (its process group, as Ctrl-C or a service
    manager does) mid-epoch: the train job finishes its step, saves and fails with one
    line; the same command again resumes at that step and ends with the checkpoint of an
    uninterrupted run. How often progress is saved (and the step delay that makes this tiny
    training slow enough to hit) is config too, but never reruns a job nor stops a resume."""
    workdir, configfile = study
    config = yaml.safe_load(configfile.read_text())
    config["progress"] = {"save_every_steps": 5, "step_delay_seconds": 0.1}
    slowed = write_config(workdir / "slowed.yaml", config)
    folder = workdir / "results/models/x2/stopped/seed123"
    base = [sys.executable, "-m", "snakemake", "results/models/x2/stopped/seed123/model.pt"]
    base += ["-s", str(REPO / "Snakefile"), "--cores", "2", "--resources", "gpu=1"]
    command = [*base, "--configfile", str(slowed)]
    process = subprocess.Popen(
        command, cwd=workdir, env=child_env(), start_new_session=True, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while not (folder / "resume.pt").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGTERM)
    signalled = time.monotonic()
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0 and time.monotonic() - signalled < 30
    saved = torch.load(folder / "resume.pt", weights_only=True)
    assert saved["epoch"] == 0 and 5 <= saved["step"] < 40, "the job was not stopped mid-epoch"
    assert (
        f"error: stopped x2 seed 123: interrupted by SIGTERM at epoch 1 step {saved['step']}; progress saved to "
        f"{Path('results/models/x2/stopped/seed123/resume.pt')}; rerun to resume" in stderr
    ), stderr
    assert not (folder / "model.pt").exists()

    # The same command, but with the study's own save settings (and no step delay): they
    # are not part of what saved progress must match.
    rerun = subprocess.run(
        [*base, "--configfile", str(configfile)], cwd=workdir, env=child_env(), capture_output=True, text=True
    )
    assert rerun.returncode == 0, explain(rerun)
    logged = (workdir / "results/logs/train/x2/stopped/seed123.log").read_text()
    assert f"resuming stopped x2 seed 123 at epoch 1 step {saved['step']}" in logged
    resumed = torch.load(folder / "model.pt", weights_only=True)
    straight = workdir / "straight_stopped"
    h5 = [workdir / f"results/h5/x2/{split}.h5" for split in ("train", "eval")]
    assert python(TRAIN, *h5, json.dumps(resumed["spec"]), straight / "model.pt", straight / "log.csv").wait() == 0
    expected = torch.load(straight / "model.pt", weights_only=True)
    assert resumed["epoch"] == expected["epoch"]
    for key, value in expected["state_dict"].items():
        assert torch.equal(value, resumed["state_dict"][key]), key
    # And with the slowed config again: nothing to redo.
    dry = subprocess.run([*command, "-n"], cwd=workdir, env=child_env(), capture_output=True, text=True)
    assert "Nothing to be done" in dry.stdout + dry.stderr, explain(dry)


# --- full disk and killed writers: no complete-looking output ----------------------------

FILE_SIZE_LIMIT = 16 * 1024  # every output below is larger


def _inputs(root: Path, clip: str) -> dict:
    """What the writers below need, written before any limit is set."""
    frames, degraded = root / "frames", root / "degraded"
    for index in (0, 1):
        write_png(frames / frame_name(index), noise(256, 256, index))
    degrade_frames(frames, [0, 1], 2, degraded)
    pack(frames, degraded, [0], 2, root / "train.h5")
    pack(frames, degraded, [1], 2, root / "eval.h5")
    torch.manual_seed(0)
    state = {k: v.contiguous() for k, v in build_model(TINY).state_dict().items()}
    save_atomic({"state_dict": state, "spec": TINY, "scale": 2}, root / "tiny.pt")
    (root / "blob.bin").write_bytes(np.random.default_rng(0).bytes(100_000))
    return {"root": root, "clip": clip, "frames": frames, "degraded": degraded}


def _figure():
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots()
    axis.imshow(noise(256, 256))
    return fig


def _train_into(final: Path, root: Path) -> None:
    final.mkdir(parents=True)
    h5 = (root / "train.h5", root / "eval.h5")
    train(
        *h5,
        TINY,
        seed=123,
        scale=2,
        model_path=final / "model.pt",
        log_path=final / "log.csv",
        device="cpu",
        threads=1,
        progress=False,
    )


def _writers(inputs: dict) -> dict:
    """Each case's writer: the package function a rule calls, writing ``final``."""
    root, frames, degraded, rows = inputs["root"], inputs["frames"], inputs["degraded"], range(3000)
    log_rows = [{"epoch": i, "loss": 0.1, "eval_psnr_y": 30.0, "seconds": 1.0, "lr": 1e-3} for i in rows]
    score_rows = [dict.fromkeys(metrics.score_columns(), 1.5) | {"seed": None} for _ in rows]
    return {
        "frame png": lambda final: write_png(final, noise(256, 256)),
        "frames folder": lambda final: extract_frames(inputs["clip"], [0, 1, 2], final, threads=2),
        "degraded folder": lambda final: degrade_frames(frames, [0, 1], 2, final),
        "h5 set": lambda final: pack(frames, degraded, [0, 1], 2, final),
        "checkpoint": lambda final: save_atomic({"state_dict": build_model(WIDE).state_dict(), "spec": WIDE}, final),
        "training": lambda final: _train_into(final, root),
        "training log": lambda final: write_log(log_rows, final),
        "scores csv": lambda final: metrics.write_scores(final, score_rows),
        "fold scores csv": lambda final: crossval.write_fold_scores(final, [{"fold": 0, **r} for r in score_rows]),
        "table csv": lambda final: files.write_csv(final, pd.DataFrame(np.random.default_rng(0).random((3000, 6)))),
        "table text": lambda final: files.write_text(final, "| variant | psnr |\n" * 5000),
        "figure": lambda final: figures.save(_figure(), final),
        "upscaled folder": lambda final: inference.upscale_test_sets(
            root / "tiny.pt", [(degraded / "bicubic", [0, 1], final)], spec=TINY, scale=2, device="cpu"
        ),
        "downloaded video": lambda final: download((root / "blob.bin").as_uri(), final),
        "video": lambda final: encode.encode_frames(frames, [0, 1], final, fps=1),
        "video page": lambda final: encode.video_page(root / "blob.bin", final, "a video"),
        # A long commit string makes the page larger than the limit.
        "about page": lambda final: about.write_about(final, [root / "tiny.pt"], "0123456789abcdef" * 2000),
        "search trials csv": lambda final: files.write_csv(final, [{"trial": i, "eval_psnr_y": 30.5} for i in rows]),
        "search text": lambda final: _write_text(final, json.dumps([{"trial": i} for i in rows])),
        "timing json": lambda final: inference.write_timing(final, {"ms": [0.5 for _ in rows]}),
    }


def _write_text(final: Path, text: str) -> None:
    """As the search jobs write their worker JSON, best.yaml and trials.md."""
    with atomic_file(final, final.suffix) as tmp:
        tmp.write_text(text)


FULL_DISK = {
    # case: (output name, the error's start; {} is the output's path)
    "frame png": ("000001.png", "DiskFullError: could not write '{}': File too large (disk full"),
    "frames folder": ("frames", "DiskFullError: could not write '{}': File too large"),
    "degraded folder": ("x2", "DiskFullError: could not write '{}': File too large"),
    "checkpoint": ("model.pt", "DiskFullError: could not write '{}': File too large"),
    # Training fails on its first checkpoint of progress, inside the run folder.
    "training": ("run", "DiskFullError: could not write '{}/resume.pt': File too large"),
    "training log": ("log.csv", "DiskFullError: could not write '{}': File too large"),
    "scores csv": ("default.csv", "DiskFullError: could not write '{}': File too large"),
    "fold scores csv": ("elu.csv", "DiskFullError: could not write '{}': File too large"),
    "table csv": ("summary.csv", "DiskFullError: could not write '{}': File too large"),
    "table text": ("x2.md", "DiskFullError: could not write '{}': File too large"),
    "figure": ("psnr_vs_scale.png", "DiskFullError: could not write '{}': File too large"),
    "upscaled folder": ("seed123", "DiskFullError: could not write '{}': File too large"),
    "downloaded video": ("video.mp4", "DiskFullError: could not write '{}': File too large"),
    "video": ("seed123.mkv", "DiskFullError: could not write '{}': File too large"),
    "video page": ("seed123_comparison.html", "DiskFullError: could not write '{}': File too large"),
    "about page": ("software.html", "DiskFullError: could not write '{}': File too large"),
    "search trials csv": ("trials.csv", "DiskFullError: could not write '{}': File too large"),
    "search text": ("0.json", "DiskFullError: could not write '{}': File too large"),
    "timing json": ("seed123.json", "DiskFullError: could not write '{}': File too large"),
    # Last: HDF5 may crash (SIGSEGV) when it later frees a file whose write failed.
    "h5 set": ("train.h5", "DiskFullError: could not write '{}': File too large"),
}

# What every job rule writes, by the cases above; the rules are those the workflow
# declares (srstudy/plan/dag.py), checked below against the rule files.
RULE_OUTPUTS = {
    "download_video": ["downloaded video"],
    "extract_frames": ["frames folder", "frame png"],
    "degrade": ["degraded folder"],
    "pack_h5": ["h5 set"],
    "pack_lr_h5": ["h5 set"],
    "train": ["training", "checkpoint", "training log"],
    "train_group": ["training", "checkpoint", "training log"],
    "upscale": ["upscaled folder", "timing json"],
    "score": ["scores csv"],
    "summary_tables": ["table csv", "table text"],
    "comparison_tables": ["table text"],
    "psnr_vs_scale": ["figure"],
    "pareto_figure": ["figure"],
    "crop_figure": ["figure"],
    "psnr_map_figure": ["figure"],
    "training_figure": ["figure"],
    "cost_table": ["table csv", "table text"],
    "upscaled_video": ["video"],
    "comparison_video": ["video", "video page"],
    "software_versions": ["about page"],
    "search_worker": ["training", "search text"],  # it trains; its record is JSON
    "search_summary": ["search text", "search trials csv", "figure"],
    "run_summary": ["table csv", "table text"],
    "front_page": ["table text"],  # reStructuredText and HTML through write_text, as the tables'
    # cross-validation: the study's writers on a fold's frames, and its tables
    "cv_pack_h5": ["h5 set"],
    "cv_pack_lr_h5": ["h5 set"],
    "cv_train": ["training", "checkpoint", "training log"],
    "cv_upscale": ["upscaled folder", "timing json"],
    "cv_score": ["fold scores csv"],
    "cv_tables": ["table csv", "table text"],
}


def digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def write_with_full_disk(root: str, clip: str) -> None:
    """Child process: for every case, write a finished output, then the same output under
    another name with files capped at FILE_SIZE_LIMIT bytes (writes past it fail with
    EFBIG, as on a full disk); record the error and what the folder held before."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
    writers = _writers(_inputs(Path(root) / "inputs", clip))
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    report = {}
    for case, (name, _) in FULL_DISK.items():
        out = Path(root) / case.replace(" ", "_")
        writers[case](out / f"finished_{name}")
        before = digests(out)
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, hard))
        try:
            writers[case](out / name)
            error = None
        except Exception as failure:
            error = f"{type(failure).__name__}: {failure}"
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        report[case] = {"error": error, "before": before}
        (Path(root) / "report.json").write_text(json.dumps(report))


@pytest.fixture(scope="module")
def full_disk(tmp_path_factory, synthetic_clip):
    root = tmp_path_factory.mktemp("full_disk")
    code = "import sys; from test_reliability import write_with_full_disk; write_with_full_disk(*sys.argv[1:])"
    process = python(code, root, synthetic_clip, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output, _ = process.communicate(timeout=600)
    report = json.loads((root / "report.json").read_text()) if (root / "report.json").exists() else {}
    # HDF5 may crash on its way out after the last case (h5 set) failed to write.
    assert process.returncode in (0, -signal.SIGSEGV) and list(report) == list(FULL_DISK), output[-4000:]
    return root, report


@pytest.mark.parametrize("case", FULL_DISK)
def test_full_disk_leaves_no_partial_output(full_disk, case):
    root, report = full_disk
    name, expected = FULL_DISK[case]
    out = root / case.replace(" ", "_")
    error, before = report[case]["error"], report[case]["before"]
    assert before, "the writer wrote nothing without a limit"
    assert error is not None, "the write did not fail: make the output larger than the limit"
    assert error.startswith(expected.format(out / name)), error
    # Nothing under the output's name (and no temporary file), finished outputs untouched.
    assert digests(out) == before
    assert sorted(p.name for p in out.iterdir()) == [f"finished_{name}"] + ([name] if case == "training" else [])


def test_every_rule_output_is_covered_by_the_full_disk_cases():
    sources = [REPO / "Snakefile", *sorted((REPO / "workflow/rules").glob("*.smk"))]
    # Rules written out, and rules derived from another (use rule X as Y with:).
    pattern = r"^\s*(?:rule (\w+):|use rule \w+ as (\w+) with:)"
    rules = {a or b for path in sources for a, b in re.findall(pattern, path.read_text(), re.MULTILINE)}
    declared = {*dag.JOB_RULES, *dag.ON_DEMAND_RULES}
    assert rules == declared | {"all"}  # the stage targets are generated, unnamed in the files
    assert set(RULE_OUTPUTS) == declared
    assert {case for cases in RULE_OUTPUTS.values() for case in cases} == set(FULL_DISK)


# Calls that write a file, and where each one may stand.
WRITE_METHODS = {"to_csv", "savefig", "write_text", "write_bytes", "save", "to_hdf", "to_parquet", "to_json"}
ATOMIC = {"atomic_file", "atomic_directory"}
NOT_OUTPUTS = {
    ("srstudy/base/joblog.py", "open"),  # a job's log: written as the job runs
    ("srstudy/train/resume.py", "save"),  # torch.save into memory; the bytes then go through atomic_file
}


def _name(node: ast.AST) -> str | None:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None


def _writes_a_file(call: ast.Call) -> bool:
    name = _name(call.func)
    if name == "open" or name == "File":  # builtin open, h5py.File
        mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "mode"), None)
        return isinstance(mode, ast.Constant) and any(c in str(mode.value) for c in "wax+")
    return isinstance(call.func, ast.Attribute) and name in WRITE_METHODS


def test_every_file_write_goes_through_an_atomic_writer():
    """Each call that writes a file in the package and the rule scripts sits inside a
    ``with atomic_file(...)``/``atomic_directory(...)`` block."""
    found, outside = 0, []
    scripts = REPO / "workflow/scripts"
    for path in sorted(scripts.rglob("*.py")):
        tree = ast.parse(path.read_text())
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call) and _writes_a_file(n)):
            found += 1
            node, atomic = call, False
            while node in parents and not atomic:
                node = parents[node]
                atomic = isinstance(node, ast.With) and any(
                    isinstance(item.context_expr, ast.Call) and _name(item.context_expr.func) in ATOMIC
                    for item in node.items
                )
            where = (str(path.relative_to(scripts)), _name(call.func))
            if not atomic and where not in NOT_OUTPUTS:
                outside.append(f"{where[0]}:{call.lineno} {where[1]}")
    assert found >= 10, "the scan found too few writes to be looking at the right calls"
    assert not outside, f"writes outside atomic_file/atomic_directory: {outside}"


KILLED_WRITERS = {
    # case: (child code, final name, done when the writer is under way)
    "frames folder (extract_frames)": (
        "import sys; from srstudy.stages.video import extract_frames as x; "
        "x(sys.argv[1], list(range(60)), sys.argv[2])",
        "frames",
        lambda out: any(len(list(tmp.glob("*.png"))) >= 2 for tmp in leftovers(out.parent, out.name)),
    ),
    "h5 set (pack)": (
        "import sys; from srstudy.stages.dataset import pack; "
        "pack(sys.argv[3], sys.argv[4], list(range(24)), 2, sys.argv[2])",
        "train.h5",
        lambda out: any(tmp.stat().st_size > 0 for tmp in leftovers(out.parent, out.name)),
    ),
}


@pytest.mark.parametrize("case", KILLED_WRITERS)
def test_a_writer_killed_midway_leaves_no_output_and_the_rerun_cleans_up(tmp_path, bbb_clip, case):
    code, name, under_way = KILLED_WRITERS[case]
    frames, degraded = tmp_path / "noise", tmp_path / "degraded"
    if name == "train.h5":
        for index in range(24):
            write_png(frames / frame_name(index), noise(360, 640, index))
        degraded.mkdir()
        (degraded / "bicubic").symlink_to(frames)  # same size at scale 2: stands in for the bicubic frames
    out = tmp_path / "results" / name
    kill_when(python(code, bbb_clip, out, frames, degraded), lambda: under_way(out))
    assert not out.exists(), "a killed writer left a complete-looking output"
    assert leftovers(out.parent, name), "the writer was not under way when it was killed"

    if name == "frames":  # the rerun (here of fewer frames) replaces what the killed job left
        extract_frames(bbb_clip, [0], out)
        assert png_ids(out) == [0]
    else:
        pack(frames, degraded, [0, 1], 2, out)
        with h5py.File(out) as h5:
            assert h5["frames"][...].tolist() == [0, 1]
    assert sorted(p.name for p in out.parent.iterdir()) == [name]


# --- checkpoints ----------------------------------------------------------------------


class Payload:
    """Unpickling this creates ``marker``: code run from data."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def evil_checkpoint(path: Path, marker: Path) -> Path:
    torch.save({"state_dict": {}, "spec": TINY, "scale": 2, "x": Payload(marker)}, path, pickle_module=pickle)
    return path


def test_checkpoint_carrying_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "code_ran"
    path = evil_checkpoint(tmp_path / "model.pt", marker)
    with pytest.raises(pickle.UnpicklingError) as error:
        load_checkpoint(path, TINY, 2)
    assert str(error.value) == (
        f"checkpoint '{path}' refused: it holds pickled objects other than tensors and plain data "
        "(it may carry code, which is never run); use a checkpoint this workflow wrote, or delete it and rerun"
    )
    assert not marker.exists()
    torch.load(path, weights_only=False)  # the control: loaded unsafely, the payload runs
    assert marker.exists()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A real tiny training run (scale 2) whose resume file was replaced by one carrying code."""
    root = tmp_path_factory.mktemp("tiny_run")
    for index in (0, 1):
        write_png(root / "frames" / frame_name(index), noise(64, 96, index))
    degrade_frames(root / "frames", [0, 1], 2, root / "degraded")
    h5 = [root / "train.h5", root / "eval.h5"]
    for index, path in enumerate(h5):
        pack(root / "frames", root / "degraded", [index], 2, path)
    out, marker = root / "run", root / "code_ran"
    out.mkdir()
    evil_checkpoint(out / "resume.pt", marker)
    process = python(TRAIN, *h5, json.dumps(TINY), out / "model.pt", out / "log.csv", stdout=subprocess.PIPE, text=True)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output
    return out, marker, output


def test_resume_file_carrying_code_is_ignored_without_running_it(tiny_run):
    out, marker, output = tiny_run
    assert f"ignoring unreadable progress file {out / 'resume.pt'}: Weights only load failed" in output
    assert "resuming" not in output
    assert not marker.exists()
    assert torch.load(out / "resume.pt", weights_only=True)["epoch"] == 1  # replaced by real progress


def test_checkpoint_of_another_variant_and_scale_is_refused(tiny_run):
    out, _, _ = tiny_run
    other = {**TINY, "layers": [{"kernel": 9, "channels": 64}, *TINY["layers"][1:]], "activation": "elu"}
    with pytest.raises(CheckpointMismatch) as error:
        load_checkpoint(out / "model.pt", other, 3)
    assert str(error.value) == (
        f"checkpoint '{out / 'model.pt'}' does not match: its model is "
        f"{{'layers': {TINY['layers']}, 'activation': 'relu'}}, the config asks for "
        f"{{'layers': {other['layers']}, 'activation': 'elu'}}; it was trained for scale 2, not 3. "
        "Retrain it (delete the file and rerun)"
    )
    assert load_checkpoint(out / "model.pt", TINY, 2)["scale"] == 2  # the control


def test_checkpoint_of_another_variant_with_the_same_model_is_refused(tiny_run):
    """Same layers, activation and scale, but trained as another variant (e.g. copied)."""
    out, _, _ = tiny_run
    with pytest.raises(CheckpointMismatch, match="it belongs to variant 'tiny', not 'elu'"):
        load_checkpoint(out / "model.pt", TINY, 2, variant="elu")
    assert load_checkpoint(out / "model.pt", TINY, 2, variant="tiny")["variant"] == "tiny"


def test_h5_pack_refuses_to_start_without_the_space_it_needs(tmp_path):
    with pytest.raises(DiskFullError, match=r"could not write '.*train.h5': it needs up to \d+ MB and the disk has"):
        check_free_space(tmp_path / "train.h5", 1 << 62)
    check_free_space(tmp_path / "train.h5", 1)  # the control


# --- errors: one or two lines, the traceback in the log ----------------------------------

FAILING_JOB = "from srstudy.base.joblog import logged\nwith logged({log!r}):\n    print('working')\n    {fail}\n"


@pytest.mark.parametrize(
    ("fail", "first_line"),
    [
        ("raise RuntimeError('disk on fire\\nmore detail')", "error: RuntimeError: disk on fire"),
        (
            "from srstudy.stages.video import probe; probe('/no/such/video.mp4')",
            "error: video '/no/such/video.mp4' does not exist",
        ),
    ],
    ids=["foreign error", "package error"],
)
def test_a_failing_job_prints_two_lines_and_logs_the_traceback(tmp_path, fail, first_line):
    log = tmp_path / "job.log"
    process = python(
        FAILING_JOB.format(log=str(log), fail=fail), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith(first_line), stderr
    assert lines[1] == f"  (full traceback in {log}; set {DEBUG_ENV}=1 to print it here too)"
    assert stdout == ""
    assert log.read_text().startswith("working\n" + TRACEBACK)


def test_debug_flag_prints_the_traceback(tmp_path):
    code = FAILING_JOB.format(log=str(tmp_path / "job.log"), fail="raise RuntimeError('disk on fire')")
    process = python(code, stderr=subprocess.PIPE, text=True, env=child_env(**{DEBUG_ENV: "1"}))
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert TRACEBACK in stderr and stderr.strip().endswith("RuntimeError: disk on fire")


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_snakemake_shows_a_failed_job_in_two_lines(tmp_path, test_config, truncated_faststart, debug):
    """A video whose header looks whole but whose stream breaks off: the config passes,
    the extraction job fails; Snakemake still marks the job failed and removes its output."""
    test_config["video"]["path"] = str(truncated_faststart)
    configfile = write_config(tmp_path / "c.yaml", test_config)
    env = {DEBUG_ENV: "1"} if debug else {}
    result = snakemake(tmp_path, "--cores", "1", configfile=configfile, targets=["results/frames/test"], env=env)
    assert result.returncode == 1, explain(result)
    message = f"video '{truncated_faststart}' could not be decoded up to frame 100, although its header announces"
    assert ("error: " + message in result.stderr) != debug, explain(result)
    assert message in result.stderr
    assert (TRACEBACK in result.stderr) == debug, explain(result)
    assert "Error in rule extract_frames" in result.stderr
    assert TRACEBACK in (tmp_path / "results/logs/extract_frames/test.log").read_text()
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["benchmarks", "logs"]
