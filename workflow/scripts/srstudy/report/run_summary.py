"""What a run was, for the report's first page: the data, every variant's architecture
and training budget, and per model whether training had converged.

Generated from the config and the run's own outputs, never typed in: the checkpoints
(``model.pt``: spec, scale, seed, best epoch, device, torch version, precision), the
training logs (``log.csv``: eval Y-PSNR per epoch) and the h5 sets (frame size, for the
epoch length, and the bicubic eval PSNR every model should beat).

Each model's convergence verdict (converged, still rising, collapsed, diverged) and its
drift come from :mod:`srstudy.train.convergence`, the one rule every table and report
uses (settings: ``report.convergence``).
"""

import math
import os
import platform

import h5py
import numpy as np
import pandas as pd
import torch

from srstudy.base.files import write_csv, write_text
from srstudy.nets.registry import arch_of, gflops_per_frame
from srstudy.plan.frames import frame_ids
from srstudy.report.layout import to_html, to_markdown
from srstudy.stages.dataset import bicubic_eval_psnr
from srstudy.train import convergence
from srstudy.train.patches import grid_patch_count


def precision_text(checkpoint: dict) -> str:
    """The arithmetic a model trained in: TF32 convolutions change fp32's numerics, so a
    reader must see them."""
    precision = checkpoint.get("precision", "fp32")
    return f"{precision} (TF32 convolutions)" if precision == "fp32" and checkpoint.get("tf32") else precision


def verdict_columns(log: pd.DataFrame, settings: dict | None = None) -> dict:
    """The model's convergence verdict and the numbers it rests on, as table columns."""
    result = convergence.judge(log["eval_psnr_y"].to_numpy(np.float64), settings)
    return {"best_epoch": result.best_epoch} | result.columns()


def model_rows(
    checkpoints: list[str | os.PathLike],
    logs: list[str | os.PathLike],
    *,
    train_sets: dict[int, str | os.PathLike],
    eval_sets: dict[int, str | os.PathLike],
    settings: dict | None = None,
) -> pd.DataFrame:
    """One row per trained model: its architecture, training budget and convergence."""
    frame_shapes = {}
    for scale, path in train_sets.items():
        with h5py.File(path, "r") as h5:
            frame_shapes[int(scale)] = h5["hr"].shape
    bicubic = {int(scale): bicubic_eval_psnr(path) for scale, path in eval_sets.items()}
    rows = []
    for checkpoint_path, log_path in zip(checkpoints, logs, strict=True):
        checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        log = pd.read_csv(log_path)
        scale = int(checkpoint["scale"])
        rows.append(
            model_row(checkpoint, log, frame_shape=frame_shapes.get(scale), bicubic=bicubic.get(scale, math.nan))
            | verdict_columns(log, settings)
        )
    return pd.DataFrame(rows)


def model_row(checkpoint: dict, log: pd.DataFrame, *, frame_shape: tuple | None, bicubic: float) -> dict:
    """What one model was: from its checkpoint, its log and the shape of its train set's
    frames (``None`` when unknown: the epoch length is then unknown too)."""
    spec = checkpoint["spec"]
    per_epoch = spec.get("patches_per_epoch") or (
        grid_patch_count(frame_shape, spec["patch_size"], spec["patch_stride"]) if frame_shape else math.nan
    )
    batch = spec["batch_size"]
    steps = max(1, per_epoch // batch) if not math.isnan(per_epoch) else math.nan
    epochs = len(log)
    scale = int(checkpoint["scale"])
    arch = arch_of(spec)
    layers, activation = arch.describe(spec, scale)
    return {
        "scale": scale,
        "variant": checkpoint.get("variant", ""),
        "seed": int(checkpoint["seed"]),
        "arch": arch.name,
        "layers": layers,
        "activation": activation,
        "parameters": sum(int(t.numel()) for t in checkpoint["state_dict"].values()),
        "gflops_4k": gflops_per_frame(spec, scale),
        "lr": spec["lr"],
        "last_layer_lr": spec["lr"] * spec["last_layer_lr_factor"],
        "batch_size": batch,
        "epochs": epochs,
        "patches_per_epoch": steps * batch if not math.isnan(steps) else math.nan,
        "patches": steps * batch * epochs if not math.isnan(steps) else math.nan,
        "train_frames": frame_shape[0] if frame_shape else math.nan,
        "precision": precision_text(checkpoint),
        "device": checkpoint.get("device", ""),
        "fused": bool(checkpoint.get("fuse", False)),
        "torch": checkpoint.get("torch", ""),
        "best_eval_psnr_y": float(checkpoint["eval_psnr_y"]),
        "last_eval_psnr_y": float(log["eval_psnr_y"].iloc[-1]),
        "bicubic_eval_psnr_y": bicubic,
    }


def _frames_text(frames: dict) -> str:
    ids = frame_ids(frames)
    count = f"{len(ids)} frame{'s' * (len(ids) != 1)}"
    if "start_s" in frames:
        every = f"every {frames['every_s']:g} s" if frames.get("every_s") else "every frame"
        return f"{frames['start_s']:g} s to {frames['stop_s']:g} s, {every}: frames {ids[0]} to {ids[-1]} ({count})"
    return f"{ids[0]} to {ids[-1]}, every {frames.get('step', 1)} ({count})"


def sections(config: dict, models: pd.DataFrame, settings: dict) -> tuple[list[str], list[dict]]:
    """Notes and tables (the layout of :func:`srstudy.report.layout.to_html`) of the summary."""
    return summary_notes(config, models, settings), [variants_table(models), models_table(models)]


def summary_notes(config: dict, models: pd.DataFrame, settings: dict) -> list[str]:
    """The data, where the models were trained, and how many converged (a warning first
    when most did not)."""
    bad, total = int((~models["converged"].astype(bool)).sum()), len(models)
    below = int((models["best_eval_psnr_y"] < models["bicubic_eval_psnr_y"]).sum())
    verdicts = convergence.counts_text(models["verdict"])
    notes = []
    if total and bad * 2 > total:
        notes.append(
            f"**WARNING: {verdicts}. The comparison tables reflect how fast each variant trains in this budget, "
            "not its final quality.**"
        )
    video = config["video"]["path"]
    frames = "; ".join(f"{name}: {_frames_text(config['frames'][name])}" for name in ("train", "eval", "test"))
    devices = ", ".join(sorted(set(models["device"]))) or "–"
    torches = ", ".join(sorted(set(models["torch"]))) or "–"
    return notes + [
        f"Video: `{video}`. Frames (0-based, as decoded): {frames}. "
        f"Scales: {', '.join(f'x{s}' for s in config['scales'])}. Out-of-domain test sets: "
        f"{', '.join(config['ood_tests']) or 'none'}.",
        f"Trained on: {devices}; torch {torches}; this summary made with Python {platform.python_version()}, "
        f"numpy {np.__version__}, pandas {pd.__version__}.",
        f"Arithmetic: {', '.join(sorted(set(models['precision']))) or '–'}. "
        f"{int(models['fused'].sum())} of {total} models trained fused with others of their job "
        "(docs/fused-training.md: each to its own weights).",
        f"{total} models: {verdicts}; {below} with a best eval PSNR below bicubic's.",
        convergence.describe(settings),
    ]


def variants_table(models: pd.DataFrame) -> dict:
    """Per variant: architecture and training budget (values that differ between its
    models are joined with '/')."""
    header = ["Variant", "Layers (kernel:channels)", "Activation", "Parameters", "lr (last layer)", "Batch"]
    header += ["Epochs", "Patches per epoch", "Patches per model", "Precision", "Seeds"]
    rows = []
    for variant, group in models.groupby("variant", sort=False):
        first = group.iloc[0]
        patches = "/".join(f"{int(p):,}" for p in sorted(set(group["patches"].dropna())))
        per_epoch = "/".join(f"{int(p):,}" for p in sorted(set(group["patches_per_epoch"].dropna())))
        rows.append(
            [
                variant,
                first["layers"],
                first["activation"],
                f"{int(first['parameters']):,}",
                f"{first['lr']:g} ({first['last_layer_lr']:g})",
                str(int(first["batch_size"])),
                "/".join(str(int(e)) for e in sorted(set(group["epochs"]))),
                per_epoch or "–",
                patches or "–",
                "/".join(sorted(set(group["precision"]))),
                ", ".join(str(s) for s in sorted(set(group["seed"]))),
            ]
        )
    return {"group": "variants", "title": "Variants and training budget", "subtitle": "per variant"} | {
        "header": header,
        "rows": rows,
    }


def models_table(models: pd.DataFrame) -> dict:
    """Per model: best epoch, eval PSNR against bicubic's, and its flags."""
    header = ["Scale", "Variant", "Seed", "Best epoch", "Eval PSNR best (dB)", "Bicubic eval PSNR (dB)"]
    header += ["Last eval PSNR (dB)", "Drift (dB)", "Verdict", "Flags"]
    rows = []
    for row in models.sort_values(["scale"], kind="stable").itertuples():
        flags = ["below bicubic"] if row.best_eval_psnr_y < row.bicubic_eval_psnr_y else []
        drift = "–" if not math.isfinite(row.drift_db) else f"{row.drift_db:+.3f}"
        rows.append(
            [f"x{row.scale}", row.variant, str(row.seed), f"{row.best_epoch}/{row.epochs}"]
            + [f"{row.best_eval_psnr_y:.3f}", f"{row.bicubic_eval_psnr_y:.3f}", f"{row.last_eval_psnr_y:.3f}"]
            + [drift, row.verdict, ", ".join(flags)]
        )
    return {"group": "models", "title": "Every model: convergence", "subtitle": "eval Y-PSNR"} | {
        "header": header,
        "rows": rows,
    }


def write_run_summary(
    config: dict,
    *,
    checkpoints: list[str | os.PathLike],
    logs: list[str | os.PathLike],
    train_sets: dict[int, str | os.PathLike],
    eval_sets: dict[int, str | os.PathLike],
    csv_path: str | os.PathLike,
    markdown_path: str | os.PathLike,
    html_path: str | os.PathLike,
) -> pd.DataFrame:
    """Write the per-model table (CSV, read by the comparison tables for their flags)
    and the summary as Markdown and HTML."""
    settings = config["report"]["convergence"]
    models = model_rows(checkpoints, logs, train_sets=train_sets, eval_sets=eval_sets, settings=settings)
    write_csv(csv_path, models)
    notes, tables = sections(config, models, settings)
    heading = "What this run was"
    write_text(markdown_path, to_markdown(tables, heading, notes))
    write_text(html_path, to_html(tables, heading, notes))
    return models
