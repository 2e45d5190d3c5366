"""Per-frame score files into summaries: per run, across seeds, per frame."""

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from srstudy.base.methods import BICUBIC
from srstudy.stages.metrics import metric_names, thesis_code_names


def load_scores(paths: list[str | os.PathLike]) -> pd.DataFrame:
    """Every score file in one long frame with columns ``scale, variant, seed, test_set,
    frame`` and the metrics; ``seed`` is <NA> for bicubic. What each row scores is read
    from the file's own columns (``method`` is a variant or bicubic), never its path."""
    parts = []
    for path in paths:
        table = pd.read_csv(path, dtype={"seed": "Int64", "method": str, "test_set": str})
        missing = {"scale", "method", "test_set", "frame", "seed", *metric_names()} - set(table.columns)
        if missing:
            raise ValueError(f"{path}: not a score file, columns {sorted(missing)} are missing (rerun its score job)")
        if table[["scale", "method", "test_set"]].isna().any().any():
            raise ValueError(f"{path}: rows without scale, method or test set (rerun its score job)")
        table = table.rename(columns={"method": "variant"})
        extra = [m for m in thesis_code_names() if m in table.columns]
        parts.append(table[["scale", "variant", "seed", "test_set", "frame", *metric_names(), *extra]])
    if not parts:
        raise ValueError("no score files given")
    return pd.concat(parts, ignore_index=True)


def metrics_of(scores: pd.DataFrame) -> list[str]:
    """The metrics present: the four of every score file, and the thesis-code ones when
    some file has them (``upscale.thesis_code``)."""
    return [*metric_names(), *(m for m in thesis_code_names() if m in scores and scores[m].notna().any())]


def method_order(scores: pd.DataFrame, variants: list[str]) -> list[str]:
    """Bicubic first, then the variants in config order, then anything else."""
    present = list(dict.fromkeys(scores["variant"]))
    known = [BICUBIC, *variants]
    return [m for m in known if m in present] + sorted(m for m in present if m not in known)


def ci95_halfwidth(values) -> float:
    """Half-width of the two-sided t-based 95% confidence interval of the mean."""
    values = np.asarray(values, dtype=np.float64)
    n = values.size
    if n < 2:
        return math.nan
    return float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n))


def summarize_runs(scores: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """One row per scale x method x seed: n_frames and mean, std, CI95 of each metric."""
    rows = []
    for (scale, variant, seed), group in scores.groupby(["scale", "variant", "seed"], dropna=False, sort=False):
        row = {"scale": scale, "variant": variant, "seed": seed, "n_frames": len(group)}
        for metric in metrics_of(scores):
            values = group[metric].to_numpy(np.float64)
            row[metric] = values.mean()
            row[f"{metric}_std"] = values.std(ddof=1) if values.size > 1 else math.nan
            row[f"{metric}_ci95"] = ci95_halfwidth(values)
        rows.append(row)
    table = pd.DataFrame(rows)
    table["seed"] = table["seed"].astype("Int64")
    return _sorted(table, order, ["seed"])


def frame_means(scores: pd.DataFrame) -> pd.DataFrame:
    """Per scale x method x frame (in frame order, i.e. time order): each metric averaged
    over the method's seeds."""
    return scores.groupby(["scale", "variant", "frame"], sort=True)[metrics_of(scores)].mean().reset_index()


def seed_means(scores: pd.DataFrame) -> pd.DataFrame:
    """Per scale x method x seed: each metric averaged over the test frames."""
    return (
        scores.groupby(["scale", "variant", "seed"], sort=True, dropna=False)[list(metric_names())].mean().reset_index()
    )


def summarize_methods(scores: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """One row per scale x method, across seeds: the mean (over frames, of per-frame
    scores averaged over seeds), its CI95 over frames, and the spread of seed means."""
    per_frame = frame_means(scores)
    runs = summarize_runs(scores, order)
    rows = []
    for (scale, variant), group in per_frame.groupby(["scale", "variant"], sort=False):
        seeds = runs[(runs["scale"] == scale) & (runs["variant"] == variant)]
        row = {"scale": scale, "variant": variant, "n_seeds": len(seeds), "n_frames": len(group)}
        for metric in metrics_of(scores):
            values = group[metric].to_numpy(np.float64)
            seed_means = seeds[metric].to_numpy(np.float64)
            row[metric] = values.mean()
            row[f"{metric}_ci95"] = ci95_halfwidth(values)
            row[f"{metric}_seed_std"] = seed_means.std(ddof=1) if seed_means.size > 1 else math.nan
            row[f"{metric}_seed_min"] = seed_means.min()
            row[f"{metric}_seed_max"] = seed_means.max()
        rows.append(row)
    return _sorted(pd.DataFrame(rows), order, [])


def load_timings(paths: list[str | os.PathLike]) -> pd.DataFrame:
    """The upscale jobs' timings (``scale, variant, seed, ms_per_frame, width, height,
    device``), labelled by their own fields, never their paths."""
    rows = []
    for path in paths:
        timing = json.loads(Path(path).read_text())
        rows.append({key: timing.get(key) for key in ("scale", "variant", "seed", "ms_per_frame", "width", "height")})
        rows[-1]["device"] = timing.get("device", "")
    return pd.DataFrame(rows, columns=["scale", "variant", "seed", "ms_per_frame", "width", "height", "device"])


def _sorted(table: pd.DataFrame, order: list[str], extra: list[str]) -> pd.DataFrame:
    rank = {m: i for i, m in enumerate(order)}
    key = table["variant"].map(lambda v: rank.get(v, len(rank)))
    table = table.assign(_rank=key).sort_values(["scale", "_rank", *extra], na_position="first", kind="stable")
    return table.drop(columns="_rank").reset_index(drop=True)
