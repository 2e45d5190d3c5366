"""Cross-validation's scores and tables: per fold first, then across folds with the
Nadeau-Bengio corrected t interval (the folds are planned in :mod:`srstudy.plan.folds`)."""

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from srstudy.base.files import write_csv, write_text  # atomic writers
from srstudy.plan.folds import MIN_FOLDS
from srstudy.report import layout
from srstudy.report.scores import method_order
from srstudy.stages.metrics import CONVENTIONS, metric_names, metrics_in, score_rows, write_scores

CONFIDENCE = 0.95


def score_fold(
    hr_dir: str | os.PathLike,
    sr_dirs: dict,
    frames: list[int],
    scale: int,
    out_csv: str | os.PathLike,
    threads: int = 1,
    *,
    method: str,
    fold: int,
) -> list[dict]:
    """Score one method's fold models on the fold's test frames (as
    :func:`srstudy.stages.metrics.score_rows`) and write ``out_csv`` with a ``fold`` column
    first: what each row is comes from the file's columns, never its path."""
    rows = score_rows(hr_dir, sr_dirs, frames=frames, scale=scale, threads=threads, method=method, test_set="study")
    rows = [{"fold": fold, **row} for row in rows]
    write_fold_scores(out_csv, rows)
    return rows


def write_fold_scores(path: str | os.PathLike, rows: list[dict]) -> None:
    """Fold score rows as CSV, atomically: ``fold`` first, then the study's score columns."""
    write_scores(path, rows, leading=("fold",))


def load_fold_scores(paths: list[str | os.PathLike]) -> pd.DataFrame:
    """Every fold score file in one frame: ``fold, scale, variant, seed, frame`` and the metrics."""
    parts = []
    for path in paths:
        table = pd.read_csv(path, dtype={"seed": "Int64", "method": str, "test_set": str})
        missing = {"fold", "scale", "method", "frame", "seed", *metric_names()} - set(table.columns)
        if missing:
            raise ValueError(
                f"{path}: not a cross-validation score file, columns {sorted(missing)} are missing (rerun its job)"
            )
        columns = ["fold", "scale", "variant", "seed", "frame", *metric_names()]
        parts.append(table.rename(columns={"method": "variant"})[columns])
    if not parts:
        raise ValueError("no cross-validation score files given")
    return pd.concat(parts, ignore_index=True)


def per_fold(scores: pd.DataFrame) -> pd.DataFrame:
    """One score per scale x method x fold: the mean over the fold's test frames of the
    per-frame scores averaged over seeds (a fold is one unit, its seeds are not)."""
    frames = scores.groupby(["scale", "variant", "fold", "frame"], sort=True)[list(metric_names())].mean()
    table = frames.groupby(["scale", "variant", "fold"], sort=True).mean().reset_index()
    counts = scores.groupby(["scale", "variant", "fold"], sort=True).agg(
        n_frames=("frame", "nunique"), n_seeds=("seed", "nunique")
    )
    return table.merge(counts.reset_index(), on=["scale", "variant", "fold"])


def holdout_ratio(folds: list[dict]) -> float:
    """Test frames per training frame, averaged over folds (the n2/n1 of the correction)."""
    return float(np.mean([len(f["test"]) for f in folds]) / np.mean([len(f["train"]) for f in folds]))


def fold_interval(values, ratio: float) -> tuple[float, float]:
    """95% interval of the mean of per-fold values: Student's t with k - 1 degrees of
    freedom on the variance corrected for overlapping training sets (Nadeau & Bengio
    2003, as Bouckaert & Frank 2004 use it for k-fold cross-validation): the variance of
    the mean is ``(1/k + n_test/n_train) * s^2`` instead of ``s^2 / k``; the plain t
    interval is too narrow, as every two folds share most of their training frames.
    NaN with fewer than :data:`MIN_FOLDS` folds."""
    values = np.asarray(values, dtype=np.float64)
    k = values.size
    if k < MIN_FOLDS:
        return math.nan, math.nan
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, k - 1) * math.sqrt((1 / k + ratio) * values.var(ddof=1))
    return float(values.mean() - half), float(values.mean() + half)


def across_folds(folds_table: pd.DataFrame, reference: str, ratio: float, order: list[str]) -> pd.DataFrame:
    """Per scale x method: the mean of the fold scores, their spread and 95% interval,
    and the difference to ``reference`` paired by fold, with its interval (the folds'
    common difficulty cancels in a paired difference)."""
    rows = []
    for (scale, variant), group in folds_table.groupby(["scale", "variant"], sort=False):
        group = group.set_index("fold").sort_index()
        ref = folds_table[(folds_table["scale"] == scale) & (folds_table["variant"] == reference)]
        ref = ref.set_index("fold").sort_index()
        if list(ref.index) != list(group.index):
            raise ValueError(f"x{scale}: {variant} and {reference} were scored on different folds")
        row = {"scale": scale, "variant": variant, "reference": reference, "n_folds": len(group)}
        for metric in metric_names():
            values = group[metric].to_numpy(np.float64)
            low, high = fold_interval(values, ratio)
            delta = values - ref[metric].to_numpy(np.float64)
            d_low, d_high = fold_interval(delta, ratio) if variant != reference else (math.nan, math.nan)
            row |= {
                metric: values.mean(),
                f"{metric}_fold_sd": values.std(ddof=1) if values.size > 1 else math.nan,
                f"{metric}_low": low,
                f"{metric}_high": high,
                f"{metric}_delta": delta.mean(),
                f"{metric}_delta_low": d_low,
                f"{metric}_delta_high": d_high,
            }
        rows.append(row)
    table = pd.DataFrame(rows)
    rank = {m: i for i, m in enumerate(order)}
    table = table.assign(_rank=table["variant"].map(lambda v: rank.get(v, len(rank))))
    return table.sort_values(["scale", "_rank"], kind="stable").drop(columns="_rank").reset_index(drop=True)


def scale_tables(summary: pd.DataFrame, folds_table: pd.DataFrame, scale: int, reference: str) -> list[dict]:
    """Per convention, the table of one scale: every method's across-fold mean [95% CI],
    fold sd, SSIM, differences to the reference and each fold's PSNR."""
    at = summary[summary["scale"] == scale]
    by_fold = folds_table[folds_table["scale"] == scale]
    fold_ids = sorted(by_fold["fold"].unique())
    out = []
    for key, convention in CONVENTIONS.items():
        if not metrics_in(key):
            continue
        primary, *others = metrics_in(key)
        header = [
            "Variant",
            f"{primary.header} [95% CI]",
            "fold sd",
            *(f"{m.header} [95% CI]" for m in others),
            *(f"Δ{m.label} vs {reference} [95% CI]" for m in (primary, *others)),
            *(f"{primary.label} fold {f}" for f in fold_ids),
        ]
        rows = []
        for _, r in at.iterrows():
            name = f"**{r['variant']}** (reference)" if r["variant"] == reference else r["variant"]
            own = by_fold[by_fold["variant"] == r["variant"]].set_index("fold")
            p = primary.name
            rows.append(
                [
                    name,
                    layout.fmt_interval(r[p], r[f"{p}_low"], r[f"{p}_high"]),
                    layout.fmt(r[f"{p}_fold_sd"]),
                    *(
                        layout.fmt_interval(r[m.name], r[f"{m.name}_low"], r[f"{m.name}_high"], m.delta_digits)
                        for m in others
                    ),
                    *(
                        "–"
                        if r["variant"] == reference
                        else layout.fmt_interval(
                            r[f"{m.name}_delta"],
                            r[f"{m.name}_delta_low"],
                            r[f"{m.name}_delta_high"],
                            m.delta_digits,
                            signed=True,
                        )
                        for m in (primary, *others)
                    ),
                    *(layout.fmt(own.loc[f, p]) for f in fold_ids),
                ]
            )
        subtitle = convention.title
        out.append({"group": f"x{scale}", "title": f"x{scale}", "subtitle": subtitle, "header": header, "rows": rows})
    return out


def describe(folds: list[dict], settings: dict, ratio: float) -> list[str]:
    """The notes above the tables: the split, how the numbers are made, and what the
    interval can and cannot show with this many folds."""
    k = len(folds)
    blocks = "; ".join(
        f"fold {f['fold']}: test {f['test'][0]}-{f['test'][-1]} ({len(f['test'])}), eval {_span(f['eval'])}, "
        f"train {len(f['train'])} frames"
        for f in folds
    )
    notes = [
        f"{k}-fold cross-validation over contiguous time blocks of the study video ({settings['where']}: "
        f"{settings['n_frames']} frames, {settings['first']} to {settings['last']}), a gap of {settings['gap']} "
        f"frame(s) of the range left out between each fold's test, eval and training frames. {blocks}.",
        "Every variant and seed is trained per fold (eval frames pick the best epoch); the models of the main "
        "study are not used here. A fold's score is the mean over its test frames of the per-frame scores "
        "averaged over seeds; the table shows the mean of the fold scores.",
    ]
    if k >= MIN_FOLDS:
        t = stats.t.ppf(0.5 + CONFIDENCE / 2, k - 1)
        notes.append(
            f"95% CI: Student's t over the {k} fold scores ({k - 1} degrees of freedom, t = {t:.2f}, "
            f"{t / stats.norm.ppf(0.975):.1f}x the normal quantile), the variance corrected for overlapping "
            f"training sets (Nadeau & Bengio 2003): (1/k + n_test/n_train) s^2 with n_test/n_train = {ratio:.3f}, "
            "instead of s^2/k. Δ vs the reference is paired by fold, so what makes one stretch of the video harder "
            "than another cancels; the intervals of the means themselves mostly show how much the blocks differ "
            "in difficulty."
        )
        notes.append(
            f"What the CI cannot show: the {k} folds are stretches of one video, so the interval describes other "
            "stretches of this video, not other videos; the correction is an approximation (no unbiased estimate "
            "of the variance of k-fold cross-validation exists: Bengio & Grandvalet 2004)."
        )
    else:
        notes.append(
            f"No interval (n/a): with {k} folds a t interval has {k - 1} degree(s) of freedom and its spread comes "
            f"from {k} numbers; at least {MIN_FOLDS} folds are needed. The per-fold columns show the folds' "
            "agreement."
        )
    return notes


def _span(frames: list[int]) -> str:
    return f"{frames[0]}-{frames[-1]} ({len(frames)})" if len(frames) > 1 else f"{frames[0]} (1)"


def write_cv_tables(
    score_paths: list[str | os.PathLike],
    folds: list[dict],
    variants: list[str],
    baseline: str,
    out_dir: str | os.PathLike,
    settings: dict,
) -> dict[str, pd.DataFrame]:
    """``folds.csv`` (one row per scale x method x fold), ``summary.csv`` (across folds)
    and ``cv.md`` / ``cv.html`` in ``out_dir``. ``settings``: how the range was split
    (``where``, ``n_frames``, ``first``, ``last``, ``gap``), for the notes."""
    scores = load_fold_scores(score_paths)
    declared = sorted(f["fold"] for f in folds)
    if sorted(scores["fold"].unique()) != declared:
        raise ValueError(f"the score files hold folds {sorted(scores['fold'].unique())}, not {declared}")
    order = method_order(scores, variants)
    folds_table = per_fold(scores)
    ratio = holdout_ratio(folds)
    summary = across_folds(folds_table, baseline, ratio, order)
    out_dir = Path(out_dir)
    write_csv(out_dir / "folds.csv", folds_table)
    write_csv(out_dir / "summary.csv", summary)
    scales = sorted(summary["scale"].unique())
    page = [t for scale in scales for t in scale_tables(summary, folds_table, scale, baseline)]
    heading = f"Cross-validation: {len(folds)} folds"
    notes = describe(folds, settings, ratio)
    write_text(out_dir / "cv.md", layout.to_markdown(page, heading, notes))
    write_text(out_dir / "cv.html", layout.to_html(page, heading, notes))
    return {"folds": folds_table, "summary": summary}
