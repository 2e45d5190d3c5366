"""Training: a short real run lowers the loss, is reproducible, resumes after a kill,
and stops on a NaN loss with a message naming variant, scale and epoch."""

import os
import signal
import subprocess
import sys
import threading
import time

import h5py
import numpy as np
import pandas as pd
import pytest
import skimage.data
import torch
from conftest import REPO
from srstudy.base.frames import frame_name, write_png
from srstudy.stages.dataset import pack, read_frames
from srstudy.stages.degrade import degrade_frames
from srstudy.train.loop import LOG_COLUMNS, TrainingDiverged, train
from srstudy.train.patches import gather, grid_patch_count, patch_batches, sample_patches
from srstudy.train.resume import Interrupted, SaveClock

SCALE = 3
SPEC = {
    "layers": [{"kernel": 9, "channels": 16}, {"kernel": 5, "channels": 8}, {"kernel": 5, "channels": 1}],
    "activation": "relu",
    "lr": 3e-3,
    "last_layer_lr_factor": 0.1,
    "batch_size": 8,
    "epochs": 3,
    "patch_size": 21,
    "patch_stride": 14,
    "patches_per_epoch": 96,
}


@pytest.fixture(scope="module")
def h5_sets(tmp_path_factory):
    """Train and eval h5 sets made by the workflow's own code from natural images."""
    root = tmp_path_factory.mktemp("train_data")
    images = [skimage.data.astronaut()[:240, :300], skimage.data.coffee()[:240, :300], skimage.data.chelsea()[:240]]
    for index, image in enumerate(images):
        write_png(root / "frames" / frame_name(index), image[:240, :300])
    degrade_frames(root / "frames", [0, 1, 2], SCALE, root / "degraded")
    pack(root / "frames", root / "degraded", [0, 1], SCALE, root / "train.h5")
    pack(root / "frames", root / "degraded", [2], SCALE, root / "eval.h5")
    return root / "train.h5", root / "eval.h5"


def run(h5_sets, out, spec=SPEC, **kwargs):
    out.mkdir(parents=True, exist_ok=True)
    return train(
        *h5_sets,
        spec,
        seed=123,
        scale=SCALE,
        model_path=out / "model.pt",
        log_path=out / "log.csv",
        threads=1,
        progress=False,
        **kwargs,
    )


def test_patches_are_cut_where_asked():
    planes = torch.arange(2 * 10 * 12, dtype=torch.float32).reshape(2, 10, 12)
    origins = torch.tensor([[0, 0, 0], [1, 3, 5]])
    patches = gather(planes, origins, 4)
    assert patches.shape == (2, 1, 4, 4)
    assert torch.equal(patches[1, 0], planes[1, 3:7, 5:9])
    drawn = sample_patches(torch.Generator().manual_seed(0), (2, 10, 12), 4, 500)
    assert drawn[:, 1].max() <= 6 and drawn[:, 2].max() <= 8 and drawn.min() >= 0
    # The reference's grid: 33x33 patches at stride 14 over a 1280x720 frame.
    assert grid_patch_count((1, 720, 1278), 33, 14) == 50 * 89


def test_the_loader_cuts_float_batches_from_8bit_planes(h5_sets):
    hr, lr, _ = read_frames(h5_sets[0])
    assert hr.dtype == lr.dtype == np.uint8
    origins = sample_patches(torch.Generator().manual_seed(0), hr.shape, 21, 10)
    batches = list(patch_batches(torch.from_numpy(lr), torch.from_numpy(hr), origins, 21, 4, torch.device("cpu")))
    assert len(batches) == 2  # whole batches only
    inputs, targets = batches[1]
    assert inputs.dtype == torch.float32 and inputs.shape == (4, 1, 21, 21)
    assert inputs.is_contiguous(memory_format=torch.channels_last)
    frame, top, left = origins[5].tolist()
    assert torch.equal(targets[1, 0], torch.from_numpy(hr[frame, top : top + 21, left : left + 21]).float() / 255)


def test_short_training_lowers_the_loss_and_writes_checkpoint_and_log(h5_sets, tmp_path):
    best = run(h5_sets, tmp_path)
    log = pd.read_csv(tmp_path / "log.csv")
    assert list(log.columns) == list(LOG_COLUMNS)
    assert list(log.epoch) == [1, 2, 3]
    assert log.loss.iloc[-1] < log.loss.iloc[0]
    assert np.isfinite(log.eval_psnr_y).all()
    checkpoint = torch.load(tmp_path / "model.pt", map_location="cpu", weights_only=True)
    assert checkpoint["eval_psnr_y"] == pytest.approx(log.eval_psnr_y.max())
    assert checkpoint["epoch"] == int(log.epoch[log.eval_psnr_y.idxmax()])
    assert checkpoint["scale"] == SCALE and checkpoint["spec"] == SPEC and checkpoint["seed"] == 123
    assert checkpoint["data"]["train"]["frames"] == [0, 1]
    assert best["epoch"] == checkpoint["epoch"]


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_training_lowers_the_loss(h5_sets, tmp_path, precision):
    best = run(h5_sets, tmp_path, spec={**SPEC, "epochs": 2}, precision=precision)
    log = pd.read_csv(tmp_path / "log.csv")
    assert log.loss.iloc[-1] < log.loss.iloc[0] and np.isfinite(log.eval_psnr_y).all()
    assert best["precision"] == precision


def test_training_is_reproducible(h5_sets, tmp_path):
    first = run(h5_sets, tmp_path / "a", spec={**SPEC, "epochs": 1})
    second = run(h5_sets, tmp_path / "b", spec={**SPEC, "epochs": 1})
    for key, value in first["state_dict"].items():
        assert torch.equal(value, second["state_dict"][key]), key


def test_more_epochs_continue_from_saved_progress(h5_sets, tmp_path):
    straight = run(h5_sets, tmp_path / "straight")
    run(h5_sets, tmp_path / "resumed", spec={**SPEC, "epochs": 2})
    resumed = run(h5_sets, tmp_path / "resumed")
    assert pd.read_csv(tmp_path / "resumed/log.csv").equals(
        pd.read_csv(tmp_path / "straight/log.csv").assign(seconds=pd.read_csv(tmp_path / "resumed/log.csv").seconds)
    )
    for key, value in straight["state_dict"].items():
        assert torch.equal(value, resumed["state_dict"][key]), key


def test_a_killed_job_resumes_from_its_last_epoch(h5_sets, tmp_path):
    """Kill a real training process (SIGKILL) after its first epoch; the rerun resumes
    and ends exactly where an uninterrupted run ends."""
    spec = {**SPEC, "epochs": 4, "patches_per_epoch": 400}
    out = tmp_path / "killed"
    out.mkdir()
    code = (
        "import sys, json; from srstudy.train.loop import train; "
        f"train({str(h5_sets[0])!r}, {str(h5_sets[1])!r}, json.loads(sys.argv[1]), seed=123, scale={SCALE}, "
        f"model_path={str(out / 'model.pt')!r}, log_path={str(out / 'log.csv')!r}, threads=1, progress=False)"
    )
    import json

    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow/scripts")}
    process = subprocess.Popen([sys.executable, "-c", code, json.dumps(spec)], env=env)
    state = out / "resume.pt"
    deadline = time.time() + 120
    while not state.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert state.exists(), "the job never saved progress"
    saved_epoch = torch.load(state, weights_only=True)["epoch"]
    assert saved_epoch < spec["epochs"], "the job finished before it could be killed; make the epochs longer"
    assert not (out / "model.pt").exists()

    resumed = run(h5_sets, out, spec=spec)
    straight = run(h5_sets, tmp_path / "straight", spec=spec)
    assert len(pd.read_csv(out / "log.csv")) == spec["epochs"]
    for key, value in straight["state_dict"].items():
        assert torch.equal(value, resumed["state_dict"][key]), key


def test_save_clock_is_due_by_steps_or_by_time():
    now = [0.0]
    clock = SaveClock(every_steps=3, every_seconds=10.0, clock=lambda: now[0])
    assert [clock.step() for _ in range(3)] == [False, False, True]
    clock.saved()
    now[0] = 9.9
    assert not clock.step()
    now[0] = 10.0
    assert clock.step()
    never = SaveClock(None, None, clock=lambda: now[0])
    now[0] = 1e9
    assert not any(never.step() for _ in range(1000))


@pytest.fixture(scope="module")
def straight_run(h5_sets, tmp_path_factory):
    """An uninterrupted run of SPEC (3 epochs of 12 steps): what every resumed run must equal."""
    out = tmp_path_factory.mktemp("straight")
    return run(h5_sets, out), pd.read_csv(out / "log.csv")


def signal_when(path, number, timeout=60):
    """Send ``number`` to this process once ``path`` exists (from a thread, so the main
    thread gets it as from outside, between two training steps)."""

    def wait_and_signal():
        deadline = time.monotonic() + timeout
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(os.getpid(), number)

    thread = threading.Thread(target=wait_and_signal, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGUSR1, signal.SIGINT], ids=lambda n: n.name)
def test_stop_signal_saves_mid_epoch_and_the_rerun_ends_bit_identical(h5_sets, tmp_path, straight_run, number):
    """A real signal mid-epoch: the step finishes, progress is saved at once (epoch, step,
    optimizer, sampler position, loss so far), the run stops with a one-line message; the
    rerun (default save settings: they are not part of what must match) resumes at that
    step and ends exactly where an uninterrupted run ends."""
    handler = signal.getsignal(number)
    state = tmp_path / "resume.pt"
    sender = signal_when(state, number)
    started = time.monotonic()
    with pytest.raises(Interrupted) as stopped:
        run(h5_sets, tmp_path, save_every_steps=4, step_delay=0.1)
    sender.join()
    assert signal.getsignal(number) is handler  # the handler is put back
    saved = torch.load(state, weights_only=True)
    # The signal came right after the save at step 4 of epoch 1: stopped a step or two later.
    assert saved["epoch"] == 0 and 4 < saved["step"] < 12, (saved["epoch"], saved["step"])
    assert time.monotonic() - started < 30
    assert str(stopped.value) == (
        f"variant x{SCALE} seed 123: interrupted by {number.name} at epoch 1 step {saved['step']}; "
        f"progress saved to {state}; rerun to resume"
    )
    assert not (tmp_path / "model.pt").exists()

    resumed = run(h5_sets, tmp_path)
    straight, straight_log = straight_run
    log = pd.read_csv(tmp_path / "log.csv")
    assert log.drop(columns="seconds").equals(straight_log.drop(columns="seconds"))
    for key, value in straight["state_dict"].items():
        assert torch.equal(value, resumed["state_dict"][key]), key


def test_progress_is_saved_by_time_within_an_epoch(h5_sets, tmp_path, capsys):
    """With only a time interval (0.2 s; an epoch takes 0.6 s), the first resume file
    appears mid-epoch; the rerun resumes at the step saved."""
    state = tmp_path / "resume.pt"
    sender = signal_when(state, signal.SIGTERM)
    with pytest.raises(Interrupted):
        run(h5_sets, tmp_path, save_every_steps=None, save_every_seconds=0.2, step_delay=0.05)
    sender.join()
    saved = torch.load(state, weights_only=True)
    assert saved["epoch"] == 0 and 0 < saved["step"] < 12, (saved["epoch"], saved["step"])
    capsys.readouterr()
    run(h5_sets, tmp_path, spec={**SPEC, "epochs": 1})
    assert f"resuming variant x{SCALE} seed 123 at epoch 1 step {saved['step']}" in capsys.readouterr().out


def test_changed_settings_start_over(h5_sets, tmp_path, capsys):
    run(h5_sets, tmp_path, spec={**SPEC, "epochs": 1})
    run(h5_sets, tmp_path, spec={**SPEC, "epochs": 1, "lr": 1e-3})
    assert "resuming" not in capsys.readouterr().out


def test_nan_loss_stops_with_variant_scale_and_epoch(h5_sets, tmp_path):
    poisoned = tmp_path / "nan.h5"
    with h5py.File(h5_sets[0]) as source, h5py.File(poisoned, "w") as target:
        for key in ("hr", "frames"):
            source.copy(key, target)
        target["lr"] = np.full(source["lr"].shape, np.nan, np.float32)
        target.attrs.update(source.attrs)
    with pytest.raises(TrainingDiverged, match=r"variant 'wide', scale 3, seed 123: loss became nan in epoch 1"):
        train(
            poisoned,
            h5_sets[1],
            SPEC,
            seed=123,
            scale=SCALE,
            model_path=tmp_path / "m.pt",
            log_path=tmp_path / "l.csv",
            name="wide",
            progress=False,
        )
    assert not (tmp_path / "m.pt").exists()


def test_patch_larger_than_frames_is_refused(h5_sets, tmp_path):
    with pytest.raises(ValueError, match="smaller than the patch size"):
        run(h5_sets, tmp_path, spec={**SPEC, "patch_size": 999})
