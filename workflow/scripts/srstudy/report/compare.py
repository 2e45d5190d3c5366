"""Comparisons of a group's members with its reference, per scale and metric, with
intervals and tests (:mod:`srstudy.report.statistics`) and Holm's adjustment."""

import math

import numpy as np
import pandas as pd

from srstudy.base.methods import BICUBIC
from srstudy.report import statistics
from srstudy.report.scores import ci95_halfwidth, frame_means, seed_means
from srstudy.stages.metrics import METRIC_REGISTRY, metric_names

# How differences are resampled and tested (config: report.statistics).
STATISTICS = {"block_length": None, "resamples": 10_000, "seed": 0}


ALPHA = 0.05


def resolve_comparisons(comparisons: dict, variants: list[str], baseline: str) -> list[dict]:
    """Concrete comparison groups: ``{name, title, reference, variants}``. A group's
    reference defaults to the baseline variant, its members to every other variant."""
    out = []
    for name, spec in comparisons.items():
        reference = spec.get("reference") or baseline
        members = spec.get("variants") or [v for v in variants if v != reference]
        members = [v for v in members if v != reference]
        title = spec.get("title") or f"{', '.join(members)} vs {reference}"
        out.append({"name": name, "title": title, "reference": reference, "variants": members})
    return out


def convention_of(metric: str) -> str:
    return METRIC_REGISTRY[metric].convention


def compare(scores: pd.DataFrame, groups: list[dict], settings: dict | None = None) -> pd.DataFrame:
    """Long table: per group, scale, method (bicubic, the reference, the members) and
    metric: mean, the reference's mean, the difference to the reference with its 95%
    interval, the difference to bicubic, and (members only) a two-sided test against
    the reference, its p-value, the smallest p-value that test can give, and the
    Holm-adjusted p-value within the table (group x scale x convention)."""
    settings = {**STATISTICS, **(settings or {})}
    per_frame = frame_means(scores)
    per_seed = seed_means(scores)
    rows = []
    for group in groups:
        for scale in sorted(per_frame["scale"].unique()):
            at_scale = per_frame[per_frame["scale"] == scale]
            by_method = {m: g.set_index("frame").sort_index() for m, g in at_scale.groupby("variant")}
            seeded = per_seed[(per_seed["scale"] == scale) & per_seed["seed"].notna()]
            by_seed = {m: g for m, g in seeded.groupby("variant")}
            reference = group["reference"]
            for method in [BICUBIC, reference, *group["variants"]]:
                if method not in by_method:
                    raise ValueError(f"comparison '{group['name']}': no scores for '{method}' at x{scale}")
                for metric in metric_names():
                    row = {
                        "comparison": group["name"],
                        "scale": scale,
                        "variant": method,
                        "reference": reference,
                        "metric": metric,
                        **_compare_one(
                            by_method, by_seed, method=method, reference=reference, metric=metric, settings=settings
                        ),
                    }
                    rows.append(row)
    return add_holm(pd.DataFrame(rows))


def _compare_one(by_method: dict, by_seed: dict, *, method: str, reference: str, metric: str, settings: dict) -> dict:
    values = by_method[method][metric]
    ref = by_method[reference][metric]
    bicubic = by_method[BICUBIC][metric] if BICUBIC in by_method else None
    frames = values.index.intersection(ref.index)
    if len(frames) != len(values) or len(frames) != len(ref):
        raise ValueError(f"{method} and {reference} were scored on different frames")
    own_seeds = by_seed[method][metric].to_numpy(np.float64) if method in by_seed else np.empty(0)
    ref_seeds = by_seed[reference][metric].to_numpy(np.float64) if reference in by_seed else np.empty(0)
    row = {
        "n_frames": len(frames),
        "n_seeds": own_seeds.size,
        "mean": values.mean(),
        "ci95": ci95_halfwidth(values),
        "reference_mean": ref.mean(),
        "delta_reference": values.mean() - ref.mean(),
        "delta_low": math.nan,
        "delta_high": math.nan,
        "delta_bicubic": values.mean() - bicubic.mean() if bicubic is not None else math.nan,
        "unit": "",
        "n_units": math.nan,
        "block_length": math.nan,
        "test": "",
        "p_value": math.nan,
        "p_min": math.nan,
    }
    if method == reference:
        return row
    if method != BICUBIC and own_seeds.size >= 2 and ref_seeds.size >= 2:
        # Seeds replicate the variant effect; frames within a seed do not.
        result = statistics.welch(own_seeds, ref_seeds)
        return row | {
            "delta_reference": result["delta"],
            "delta_low": result["low"],
            "delta_high": result["high"],
            "unit": "seeds",
            "n_units": own_seeds.size + ref_seeds.size,
            "test": "Welch t on seed means",
            "p_value": result["p"],
            "p_min": 0.0,
        }
    differences = (values[frames] - ref[frames]).to_numpy(np.float64)  # in time order
    block = statistics.block_length(differences.size, settings["block_length"])
    low, high = statistics.bootstrap_ci(differences, block, settings["resamples"], settings["seed"])
    row |= {"delta_low": low, "delta_high": high, "unit": "frames", "n_units": differences.size}
    row["block_length"] = block
    if method == BICUBIC:  # its Δ is shown for scale; the question tested is the variants'
        return row
    return row | {
        "test": "block sign-flip",
        "p_value": statistics.sign_flip_test(differences, block, settings["resamples"], settings["seed"]),
        "p_min": statistics.sign_flip_p_min(differences.size, block, settings["resamples"]),
    }


def add_holm(compared: pd.DataFrame) -> pd.DataFrame:
    """Holm-adjusted p-values per table (group x scale x convention: every member's PSNR
    and SSIM test), the number of tests in it, and per test the smallest adjusted p-value
    it could reach (``p_holm_floor``: its test's smallest p times the number of tests).
    At or above 0.05 that test cannot be significant whatever the data."""
    compared = compared.copy()
    compared["convention"] = compared["metric"].map(convention_of)
    compared["p_holm"] = math.nan
    compared["n_tests"] = 0
    for _, family in compared.groupby(["comparison", "scale", "convention"], sort=False):
        tested = family["p_value"].notna()
        if tested.any():
            compared.loc[family.index, "p_holm"] = statistics.holm(family["p_value"].to_numpy())
            compared.loc[family.index, "n_tests"] = int(tested.sum())
    compared["p_holm_floor"] = (compared["n_tests"] * compared["p_min"]).clip(upper=1.0)
    return compared
