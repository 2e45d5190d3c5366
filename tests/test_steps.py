"""The training step machinery (TrainSteps): the step without host syncs computes exactly
what the eager per-step loop computes, execution settings do not change a result, and
the NaN guard stops a diverging run within one readback interval. CUDA-only paths
(graph capture, torch.compile, fused Adam) are in test_cuda.py."""

import h5py
import numpy as np
import pytest
import torch
from srstudy.nets.build import build_model, parameter_groups
from srstudy.train.loop import TrainingDiverged, train
from srstudy.train.patches import patch_batches, sample_patches
from srstudy.train.steps import TrainSteps, grad_scaler, make_optimizer, resolve_step_mode, train_step
from test_train import SCALE, SPEC, h5_sets, run  # noqa: F401 (h5_sets is a fixture)

CPU = torch.device("cpu")


def planes(frames=2, height=60, width=70):
    generator = torch.Generator().manual_seed(0)
    return [torch.randint(0, 256, (frames, height, width), dtype=torch.uint8, generator=generator) for _ in "lh"]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_sync_free_step_gives_the_eager_loops_weights_bit_for_bit(precision):
    """Baseline: the per-step loop (chunked loader, per-parameter Adam, loss.item() each
    step). Fast path: static origin buffer, device cursor, foreach Adam, device loss sum."""
    torch.set_num_threads(1)
    lr, hr = planes()
    steps, batch, patch = 12, 4, 21
    origins = sample_patches(torch.Generator().manual_seed(1), hr.shape, patch, steps * batch)

    torch.manual_seed(0)
    eager = build_model(SPEC).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(parameter_groups(eager, SPEC["lr"], SPEC["last_layer_lr_factor"]))
    scaler = grad_scaler(CPU, precision)
    batches = patch_batches(lr, hr, origins, patch, batch, CPU)
    eager_total = sum(train_step(eager, optimizer, scaler, x, y, precision) for x, y in batches)

    torch.manual_seed(0)
    fast = build_model(SPEC).to(memory_format=torch.channels_last)
    optimizer = make_optimizer(fast, SPEC, CPU)
    assert optimizer.param_groups[0]["foreach"]
    scaler = grad_scaler(CPU, precision)
    runner = TrainSteps(fast, optimizer, scaler, lr, hr, patch, batch, steps * batch, precision, "eager")
    runner.begin_epoch(origins)
    for _ in range(steps):
        runner.step()
    total, bad_step, _ = runner.readback()

    assert total == eager_total and bad_step is None
    assert int(runner.cursor) == steps
    for (name, a), b in zip(eager.named_parameters(), fast.parameters(), strict=True):
        assert torch.equal(a, b), name


def test_an_epoch_can_start_mid_way():
    """begin_epoch(start_step=k) continues an epoch: k steps, then the rest, end where
    the whole epoch in one go ends."""
    lr, hr = planes()
    steps, batch, patch = 6, 2, 15
    origins = sample_patches(torch.Generator().manual_seed(2), hr.shape, patch, steps * batch)

    def runner():
        torch.manual_seed(0)
        model = build_model(SPEC).to(memory_format=torch.channels_last)
        scaler = grad_scaler(CPU, "fp32")
        return model, TrainSteps(
            model, make_optimizer(model, SPEC, CPU), scaler, lr, hr, patch, batch, steps * batch, "fp32", "eager"
        )

    whole_model, whole = runner()
    whole.begin_epoch(origins)
    for _ in range(steps):
        whole.step()
    split_model, split = runner()
    split.begin_epoch(origins)
    for _ in range(2):
        split.step()
    so_far = split.readback()[0]
    split.begin_epoch(origins, start_step=2, loss_so_far=so_far)
    for _ in range(steps - 2):
        split.step()
    assert split.readback()[0] == whole.readback()[0]
    for a, b in zip(whole_model.parameters(), split_model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_step_modes_are_chosen_by_device_and_refused_where_they_cannot_run():
    cuda = torch.device("cuda", 0)
    assert resolve_step_mode("auto", CPU, "fp32") == "eager"
    assert resolve_step_mode("auto", cuda, "bf16") == "graph"
    assert resolve_step_mode("auto", cuda, "fp16") == "eager"  # the gradient scaler works on the host
    with pytest.raises(ValueError, match=r"train.step: 'graph' needs a CUDA device.*set auto or eager"):
        resolve_step_mode("graph", CPU, "fp32")
    with pytest.raises(ValueError, match=r"train.step: 'compile' needs a CUDA device"):
        resolve_step_mode("compile", torch.device("mps"), "fp32")
    with pytest.raises(ValueError, match=r"train.step: 'graph' cannot capture fp16"):
        resolve_step_mode("graph", cuda, "fp16")
    with pytest.raises(ValueError, match="unknown mode 'fast'"):
        resolve_step_mode("fast", CPU, "fp32")


def test_execution_settings_do_not_change_the_result(h5_sets, tmp_path):  # noqa: F811
    """Reading the loss back every step or every 7 steps: the same weights and log."""
    spec = {**SPEC, "epochs": 1}
    every = run(h5_sets, tmp_path / "every", spec=spec, step_mode="eager", log_every_steps=1)
    sparse = run(h5_sets, tmp_path / "sparse", spec=spec, log_every_steps=7)
    for key, value in every["state_dict"].items():
        assert torch.equal(value, sparse["state_dict"][key]), key
    assert every["eval_psnr_y"] == sparse["eval_psnr_y"]
    assert sparse["tf32"] is False and sparse["step"] == "eager"


def poison_frame(sets, tmp_path, frame: int):
    """A train set whose LR plane of ``frame`` is NaN (the other frames are real)."""
    poisoned = tmp_path / "nan.h5"
    with h5py.File(sets[0]) as source, h5py.File(poisoned, "w") as target:
        for key in ("hr", "frames"):
            source.copy(key, target)
        lr = source["lr"][:].astype(np.float32)
        lr[frame] = np.nan
        target["lr"] = lr
        target.attrs.update(source.attrs)
    return poisoned


def test_a_diverging_run_stops_within_one_readback_interval(h5_sets, tmp_path):  # noqa: F811
    """The first NaN comes from the first patch cut from the poisoned frame; the run
    stops at the first readback after it and names that step."""
    spec = {**SPEC, "epochs": 1, "patches_per_epoch": 400}
    batch, interval = spec["batch_size"], 8
    origins = sample_patches(torch.Generator().manual_seed(123 * 100_003 + 1), (2, 240, 300), 21, 400)
    first_bad = int(torch.nonzero(origins[:, 0] == 1)[0]) // batch + 1  # 1-based step
    found = -(-first_bad // interval) * interval
    poisoned = poison_frame(h5_sets, tmp_path, frame=1)
    message = rf"variant 'wide', scale 3, seed 123: loss became nan in epoch 1 \(step {first_bad}\); lower"
    with pytest.raises(TrainingDiverged, match=message) as raised:
        train(
            poisoned,
            h5_sets[1],
            spec,
            seed=123,
            scale=SCALE,
            model_path=tmp_path / "m.pt",
            log_path=tmp_path / "l.csv",
            name="wide",
            progress=False,
            log_every_steps=interval,
        )
    assert raised.value.found_at_step == found
    assert not (tmp_path / "m.pt").exists() and not (tmp_path / "resume.pt").exists()


def test_a_due_save_reads_the_loss_back_first_and_never_saves_nan_weights(h5_sets, tmp_path):  # noqa: F811
    """Saving every step (reading back only every 50): each save forces a readback, so the
    run stops at the very step whose loss was NaN, and the resume file holds the finite
    weights of the step before it. One NaN pixel, first covered by a patch a few steps in."""
    spec = {**SPEC, "epochs": 1, "patches_per_epoch": 400}
    batch, patch = spec["batch_size"], spec["patch_size"]
    origins = sample_patches(torch.Generator().manual_seed(123 * 100_003 + 1), (2, 240, 300), patch, 400)

    def first_step_covering(y, x):  # 1-based step of the first patch of frame 1 covering (y, x)
        frame, top, left = origins.T
        covers = (frame == 1) & (top <= y) & (y < top + patch) & (left <= x) & (x < left + patch)
        hits = torch.nonzero(covers)
        return int(hits[0]) // batch + 1 if len(hits) else 0

    y, x, first_bad = next(
        (y, x, step)
        for y in range(0, 240, 7)
        for x in range(0, 300, 7)
        if 3 <= (step := first_step_covering(y, x)) <= len(origins) // batch
    )
    poisoned = tmp_path / "nan.h5"
    with h5py.File(h5_sets[0]) as source, h5py.File(poisoned, "w") as target:
        for key in ("hr", "frames"):
            source.copy(key, target)
        lr = source["lr"][:].astype(np.float32)
        lr[1, y, x] = np.nan
        target["lr"] = lr
        target.attrs.update(source.attrs)
    with pytest.raises(TrainingDiverged) as raised:
        train(
            poisoned,
            h5_sets[1],
            spec,
            seed=123,
            scale=SCALE,
            model_path=tmp_path / "m.pt",
            log_path=tmp_path / "l.csv",
            name="wide",
            progress=False,
            log_every_steps=50,
            save_every_steps=1,
        )
    assert raised.value.found_at_step == first_bad, (y, x)
    saved = torch.load(tmp_path / "resume.pt", weights_only=True)
    assert saved["epoch"] == 0 and saved["step"] == first_bad - 1
    assert isinstance(saved["epoch_loss"], float) and np.isfinite(saved["epoch_loss"])
    assert all(torch.isfinite(value).all() for value in saved["model"].values())
