"""Fused training jobs (issue 21): a group trains to what each member reaches alone,
writes each member's own checkpoint, log and progress, and keeps faults per member: a
diverging member is named while the others finish and save, a killed group resumes
each member from its own progress, a finished member is never trained again."""

import os
import signal
import threading
import time

import h5py
import numpy as np
import pandas as pd
import pytest
import skimage.data
import torch
from srstudy.base.frames import frame_name, write_png
from srstudy.nets.checkpoint import inference_model
from srstudy.nets.tiling import infer_tiled
from srstudy.stages.dataset import pack
from srstudy.stages.degrade import degrade_frames
from srstudy.train.fused import Member, train_group
from srstudy.train.loop import TrainingDiverged, train
from srstudy.train.resume import Interrupted

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
# float32: the largest weight difference between a member trained fused and alone after
# 36 steps (grouped and plain convolutions sum in different orders; measured: ~1e-7).
FLOAT32_TOLERANCE = 1e-5
# (name, scale, seed, spec): two scales of one variant and seed (the default group), and
# a variant with another activation and lr (a wider group).
MEMBERS = [
    ("a", 2, 123, SPEC),
    ("a", 3, 123, SPEC),
    ("b", 3, 124, {**SPEC, "activation": "tanh", "lr": 1e-3}),
]


def make_h5_sets(root):
    """Train and eval h5 sets per scale under ``root``, made by the workflow's own code."""
    images = [skimage.data.astronaut()[:240, :300], skimage.data.coffee()[:240, :300], skimage.data.chelsea()[:240]]
    for index, image in enumerate(images):
        write_png(root / "frames" / frame_name(index), image[:240, :300])
    sets = {}
    for scale in (2, 3):
        degrade_frames(root / "frames", [0, 1, 2], scale, root / f"degraded{scale}")
        pack(root / "frames", root / f"degraded{scale}", [0, 1], scale, root / f"train{scale}.h5")
        pack(root / "frames", root / f"degraded{scale}", [2], scale, root / f"eval{scale}.h5")
        sets[scale] = (root / f"train{scale}.h5", root / f"eval{scale}.h5")
    return sets


@pytest.fixture(scope="module")
def h5_sets(tmp_path_factory):
    return make_h5_sets(tmp_path_factory.mktemp("fused_data"))


def members(h5_sets, out, chosen=MEMBERS, poisoned=None):
    result = []
    for name, scale, seed, spec in chosen:
        folder = out / f"{name}x{scale}s{seed}"
        folder.mkdir(parents=True, exist_ok=True)
        train_h5 = poisoned if (poisoned and name == "b") else h5_sets[scale][0]
        result.append(
            Member(train_h5, h5_sets[scale][1], spec, seed, scale, name, folder / "model.pt", folder / "log.csv")
        )
    return result


def group(h5_sets, out, chosen=MEMBERS, **kwargs):
    return train_group(members(h5_sets, out, chosen, kwargs.pop("poisoned", None)), threads=1, progress=False, **kwargs)


@pytest.fixture(scope="module")
def alone(h5_sets, tmp_path_factory):
    """Each member trained by itself (the single-model path)."""
    out = tmp_path_factory.mktemp("alone")
    results = []
    for member in members(h5_sets, out):
        train(
            member.train_h5,
            member.eval_h5,
            member.spec,
            seed=member.seed,
            scale=member.scale,
            model_path=member.model_path,
            log_path=member.log_path,
            threads=1,
            name=member.name,
            progress=False,
        )
        results.append((torch.load(member.model_path, weights_only=True), pd.read_csv(member.log_path)))
    return results


@pytest.fixture(scope="module")
def fused(h5_sets, tmp_path_factory):
    out = tmp_path_factory.mktemp("fused")
    group(h5_sets, out)
    found = members(h5_sets, out)
    return [(torch.load(m.model_path, weights_only=True), pd.read_csv(m.log_path)) for m in found], out


def weight_difference(one: dict, other: dict) -> float:
    return max((one[k] - other[k]).abs().max().item() for k in one)


def test_fused_group_trains_each_member_to_its_weights_alone(alone, fused):
    for (mine, log), (reference, reference_log) in zip(fused[0], alone, strict=True):
        assert mine["state_dict"].keys() == reference["state_dict"].keys()
        assert weight_difference(mine["state_dict"], reference["state_dict"]) <= FLOAT32_TOLERANCE
        assert mine["epoch"] == reference["epoch"]
        assert mine["eval_psnr_y"] == pytest.approx(reference["eval_psnr_y"], abs=1e-4)
        assert list(log.columns) == list(reference_log.columns)
        assert np.allclose(log["loss"], reference_log["loss"], rtol=1e-5)
        assert np.allclose(log["eval_psnr_y"], reference_log["eval_psnr_y"], atol=1e-4)
        assert log["seconds"].gt(0).all()


def test_each_checkpoint_is_a_plain_model_that_names_its_group(fused):
    checkpoints = [checkpoint for checkpoint, _ in fused[0]]
    assert checkpoints[0]["fused_with"] == ["a x3 seed 123", "b x3 seed 124"]
    assert sum(c["cost_share"] for c in checkpoints) == pytest.approx(1.0)
    assert {c["precision"] for c in checkpoints} == {"fp32"}
    assert [(c["variant"], c["scale"], c["seed"]) for c in checkpoints] == [m[:3] for m in MEMBERS]


def test_tiled_inference_of_a_fused_member_equals_its_alone_twin(alone, fused):
    plane = skimage.data.camera()[:100, :130].astype(np.float32) / 255.0
    for (mine, _), (reference, _) in zip(fused[0], alone, strict=True):
        outputs = []
        for checkpoint in (mine, reference):
            model, _, halo, _ = inference_model(checkpoint, "cpu", 64)
            outputs.append(infer_tiled(model, plane, halo, 64))
        assert np.abs(outputs[0] - outputs[1]).max() <= 1e-4


def test_finished_members_are_restored_not_trained_again(h5_sets, fused, capsys):
    _, out = fused
    before = {m.label: torch.load(m.model_path, weights_only=True) for m in members(h5_sets, out)}
    for m in members(h5_sets, out):
        m.model_path.unlink()  # as Snakemake deletes a failed job's outputs
    capsys.readouterr()
    trained = []
    group(h5_sets, out, on_epoch=lambda member, epoch, psnr: trained.append(member.label))
    assert trained == []
    assert "resuming a x2 seed 123 after epoch 3" in capsys.readouterr().out
    for m in members(h5_sets, out):
        after = torch.load(m.model_path, weights_only=True)
        assert after["epoch"] == before[m.label]["epoch"]
        for key, value in before[m.label]["state_dict"].items():
            assert torch.equal(value, after["state_dict"][key])


@pytest.fixture(scope="module")
def poisoned(h5_sets, tmp_path_factory):
    """The x3 train set with NaN inputs: a member trained on it diverges at once."""
    path = tmp_path_factory.mktemp("poison") / "nan.h5"
    with h5py.File(h5_sets[3][0]) as source, h5py.File(path, "w") as target:
        for key in ("hr", "frames"):
            source.copy(key, target)
        target["lr"] = np.full(source["lr"].shape, np.nan, np.float32)
        target.attrs.update(source.attrs)
    return path


def test_a_diverging_member_is_named_while_the_others_finish(h5_sets, tmp_path, alone, poisoned):
    with pytest.raises(TrainingDiverged) as failed:
        group(h5_sets, tmp_path, poisoned=poisoned)
    message = str(failed.value)
    assert message.startswith("variant 'b', scale 3, seed 124: loss became nan in epoch 1 (step 1)")
    assert message.endswith("(finished and saved: a x2 seed 123, a x3 seed 123)")
    found = members(h5_sets, tmp_path)
    assert not found[2].model_path.exists()
    for member, (reference, _) in zip(found[:2], alone, strict=False):
        mine = torch.load(member.model_path, weights_only=True)
        assert weight_difference(mine["state_dict"], reference["state_dict"]) <= FLOAT32_TOLERANCE

    # The rerun (Snakemake deleted the failed job's outputs) trains none of the finished.
    for member in found[:2]:
        member.model_path.unlink()
    trained = []
    with pytest.raises(TrainingDiverged, match="variant 'b'"):
        group(h5_sets, tmp_path, poisoned=poisoned, on_epoch=lambda m, e, p: trained.append(m.label))
    assert trained == []
    assert all(member.model_path.exists() for member in found[:2])


def signal_when(path, number, timeout=60):
    def wait_and_signal():
        deadline = time.monotonic() + timeout
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(os.getpid(), number)

    thread = threading.Thread(target=wait_and_signal, daemon=True)
    thread.start()
    return thread


def test_a_killed_group_resumes_and_ends_where_an_uninterrupted_one_ends(h5_sets, tmp_path, fused):
    found = members(h5_sets, tmp_path)
    sender = signal_when(found[-1].model_path.with_name("resume.pt"), signal.SIGTERM)
    with pytest.raises(Interrupted, match="interrupted by SIGTERM at epoch 1"):
        group(h5_sets, tmp_path, save_every_steps=4, step_delay=0.05)
    sender.join()
    saved = [torch.load(m.model_path.with_name("resume.pt"), weights_only=True) for m in found]
    assert {(s["epoch"], s["step"]) for s in saved} == {(0, saved[0]["step"])} and 0 < saved[0]["step"] < 12
    group(h5_sets, tmp_path)
    for member, (straight, straight_log) in zip(found, fused[0], strict=True):
        mine = torch.load(member.model_path, weights_only=True)
        for key, value in straight["state_dict"].items():
            assert torch.equal(value, mine["state_dict"][key]), (member.label, key)
        log = pd.read_csv(member.log_path)
        assert log.drop(columns="seconds").equals(straight_log.drop(columns="seconds"))


def test_members_saved_at_different_steps_each_resume_from_their_own(h5_sets, tmp_path, alone, capsys):
    """Two members killed mid-epoch, a third fresh: the fresh one catches up by itself,
    then all three train fused; each ends at its weights alone."""
    found = members(h5_sets, tmp_path)
    sender = signal_when(found[1].model_path.with_name("resume.pt"), signal.SIGTERM)
    with pytest.raises(Interrupted):
        group(h5_sets, tmp_path, chosen=MEMBERS[:2], save_every_steps=4, step_delay=0.05)
    sender.join()
    step = torch.load(found[0].model_path.with_name("resume.pt"), weights_only=True)["step"]
    capsys.readouterr()
    group(h5_sets, tmp_path)
    assert f"resuming a x2 seed 123 at epoch 1 step {step}" in capsys.readouterr().out
    for member, (reference, _) in zip(found, alone, strict=True):
        mine = torch.load(member.model_path, weights_only=True)
        assert weight_difference(mine["state_dict"], reference["state_dict"]) <= FLOAT32_TOLERANCE
