"""The run summary: convergence by hand, the bicubic eval line, and what the end-to-end
run of the CI config reports about itself (budget, convergence, flags in the tables)."""

import math

import h5py
import numpy as np
import pandas as pd
import pytest
from conftest import explain
from srstudy.base.colour import psnr_from_mse
from srstudy.base.frames import read_rgb
from srstudy.plan.frames import frame_ids
from srstudy.report import figures
from srstudy.report.run_summary import precision_text, verdict_columns
from srstudy.stages.dataset import bicubic_eval_psnr


def log_of(psnr):
    return pd.DataFrame({"epoch": np.arange(1, len(psnr) + 1), "eval_psnr_y": psnr})


@pytest.mark.parametrize(
    ("psnr", "best", "drift", "verdict"),
    [
        ([30.0, 31.0, 32.0, 33.0], 4, 1.0, "still rising"),
        ([30.0, 32.0, 32.05, 32.0], 3, -0.05, "converged"),
        ([28, 29, 30, 30.5, 30.8, 31.0, 31.2, 31.15], 7, 0.15, "still rising"),  # +0.15 dB over the last 2 of 8
        ([28, 29, 30, 30.5, 30.8, 31.15, 31.2, 31.155], 7, 0.005, "converged"),
        ([31.42, 19.45], 1, 19.45 - 31.42, "collapsed"),
        ([30.0], 1, math.nan, "still rising"),  # one epoch shows nothing
    ],
)
def test_verdict_columns_by_hand(psnr, best, drift, verdict):
    result = verdict_columns(log_of(psnr))
    assert result["best_epoch"] == best and result["verdict"] == verdict
    assert result["converged"] is (verdict == "converged")
    assert (math.isnan(drift) and math.isnan(result["drift_db"])) or result["drift_db"] == pytest.approx(drift)


@pytest.mark.parametrize(
    ("checkpoint", "text"),
    [
        ({"precision": "fp32", "tf32": True}, "fp32 (TF32 convolutions)"),
        ({"precision": "fp32", "tf32": False}, "fp32"),
        ({"precision": "bf16", "tf32": True}, "bf16"),  # autocast convolutions are bf16 already
        ({}, "fp32"),  # checkpoints from before precision was recorded
    ],
)
def test_the_training_precision_names_tf32(checkpoint, text):
    assert precision_text(checkpoint) == text


def test_the_threshold_is_the_configured_one():
    log = log_of([28, 29, 30, 30.5, 30.8, 31.0, 31.2, 31.15])
    assert verdict_columns(log, {"flat_db": 0.2})["converged"] and not verdict_columns(log)["converged"]


def test_bicubic_eval_psnr_is_trainings_eval_convention(tmp_path):
    rng = np.random.default_rng(0)
    hr = rng.integers(16, 236, (2, 40, 50), dtype=np.uint8)
    lr = np.clip(hr.astype(int) + rng.integers(-6, 7, hr.shape), 0, 255).astype(np.uint8)
    path = tmp_path / "eval.h5"
    with h5py.File(path, "w") as h5:
        h5["hr"], h5["lr"], h5["frames"] = hr, lr, np.arange(2)
    pairs = zip(hr / 255.0, lr / 255.0, strict=True)
    by_hand = np.mean([psnr_from_mse(np.mean((h - low) ** 2), 1.0) for h, low in pairs])
    assert bicubic_eval_psnr(path) == pytest.approx(by_hand, rel=1e-12)


def test_training_figure_draws_the_bicubic_line(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("epoch,loss,eval_psnr_y,seconds,lr\n1,0.01,30.0,1,0.001\n2,0.005,31.0,1,0.001\n")
    plain, line = tmp_path / "plain.png", tmp_path / "line.png"
    figures.training_curves({("default", 1): path}, scale=2, out=plain, variants=["default"])
    figures.training_curves({("default", 1): path}, scale=2, out=line, variants=["default"], bicubic=30.5)
    assert not np.array_equal(read_rgb(plain), read_rgb(line))


# --- what the end-to-end run reports ---------------------------------------------------


def test_e2e_run_summary(e2e):
    workdir, config, result = e2e
    assert result.returncode == 0, explain(result)
    models = pd.read_csv(workdir / "results/tables/training.csv")
    seeds = config["defaults"]["seeds"]
    assert len(models) == len(config["scales"]) * len(config["variants"]) * len(seeds)
    spec = config["defaults"]
    assert (models["epochs"] == spec["epochs"]).all()
    assert (models["patches"] == spec["epochs"] * spec["patches_per_epoch"]).all()
    assert (models["train_frames"] == len(frame_ids(config["frames"]["train"]))).all()
    for row in models.itertuples():
        log = pd.read_csv(workdir / f"results/models/x{row.scale}/{row.variant}/seed{row.seed}/log.csv")
        assert row.best_epoch == int(log["eval_psnr_y"].idxmax()) + 1
        assert row.best_eval_psnr_y == pytest.approx(log["eval_psnr_y"].max())
        assert row.verdict == verdict_columns(log, config["report"]["convergence"])["verdict"]
    page = (workdir / "results/tables/run.md").read_text()
    assert f"{spec['epochs'] * spec['patches_per_epoch']:,}" in page and "torch" in page
    # the CI config's SRCNN variants train in fused group jobs (train.group: scales)
    assert models["fused"].all() and f"{len(models)} of {len(models)} models trained fused" in page
    assert "Arithmetic: fp32." in page
    # the comparison tables carry the flags the summary computed
    unconverged = models[(models["scale"] == 2) & ~models["converged"]]
    table = (workdir / "results/tables/x2.md").read_text()
    for row in unconverged.itertuples():
        assert any(
            line.startswith((f"| {row.variant} |", f"| **{row.variant}** (reference) |")) and row.verdict in line
            for line in table.splitlines()
        )
    assert "moving-block bootstrap" in table
