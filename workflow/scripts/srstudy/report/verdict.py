"""What a run's numbers support: the per-comparison ``resolved`` marks and the
conclusions the report's front page (:mod:`srstudy.report.front_page`) draws, from the run summary's per-model table
(``training.csv``: each model's convergence verdict and drift, see
:mod:`srstudy.train.convergence`) and the comparisons of every test set.

A difference between a variant and its reference is

* *resolved* when it is larger than ``resolve_factor`` times the larger remaining drift
  of the two (over their seeds): training that still moves by as much could reverse it;
* *significant* when its Holm-adjusted p is below 0.05 (no test: never);
* *established* when both. Only established differences are named as conclusions.

Test sets are of two kinds (``report.study_test``, ``ood_tests``): *in-sample-like*
(frames of the training shot) and *generalisation* (another shot or video); the verdict
states each kind's conclusions apart.
"""

import math

import pandas as pd

from srstudy.base.methods import BICUBIC
from srstudy.stages.metrics import METRIC_REGISTRY, metrics_in
from srstudy.train import convergence

ALPHA = 0.05
# The verdict's numbers: the field convention's primary metric (Y-PSNR).
VERDICT_CONVENTION = "y"
IN_SAMPLE = "in-sample-like"
GENERALISATION = "generalisation"


def model_drifts(training: pd.DataFrame) -> dict[tuple[int, str], float]:
    """``{(scale, variant): remaining drift}``: the largest over the variant's seeds."""
    return {
        (int(scale), variant): float(group["remaining_drift_db"].max())
        for (scale, variant), group in training.groupby(["scale", "variant"], sort=False)
    }


def resolve(comparisons: pd.DataFrame, training: pd.DataFrame | None, settings: dict | None = None) -> pd.DataFrame:
    """The comparisons with ``drift_db`` (the larger remaining drift of the row's variant
    and its reference) and ``resolved`` (its difference in the primary metric of the row's
    convention, PSNR, is larger than ``resolve_factor`` times that; the convention's other
    metrics take that row's mark; the reference's own row and bicubic rows are not
    compared: empty)."""
    factor = convergence.settings_of(settings)["resolve_factor"]
    drifts = model_drifts(training) if training is not None and not training.empty else {}
    out = comparisons.copy()
    out["drift_db"] = math.nan
    out["resolved"] = pd.Series([pd.NA] * len(out), dtype="boolean")
    for index, row in out.iterrows():
        if row["variant"] in (row["reference"], BICUBIC):
            continue
        scale = int(row["scale"])
        pair = [drifts.get((scale, row["variant"]), math.inf), drifts.get((scale, row["reference"]), math.inf)]
        primary = metrics_in(METRIC_REGISTRY[row["metric"]].convention)[0].name
        delta = out.loc[
            (out["comparison"] == row["comparison"])
            & (out["scale"] == row["scale"])
            & (out["variant"] == row["variant"])
            & (out["metric"] == primary),
            "delta_reference",
        ].iloc[0]
        out.loc[index, "drift_db"] = max(pair)
        out.loc[index, "resolved"] = convergence.resolved(delta, pair, factor)
    return out


def mark(value) -> bool | None:
    """A ``resolved`` cell as True, False or None (not compared), however pandas typed it."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) or value == "":
        return None
    return str(value).lower() == "true" if isinstance(value, str) else bool(value)


def test_set_kind(name: str, study_test: str) -> str:
    """``study`` is what ``report.study_test`` says; an out-of-domain set is another video."""
    return study_test if name == "study" else GENERALISATION


def conclusions(resolved: pd.DataFrame) -> dict:
    """For one test set's resolved comparisons (:func:`resolve`), in the field convention:
    per scale the variants above and below bicubic, and the counts and list of the
    compared differences that are resolved, significant, and both."""
    metric = metrics_in(VERDICT_CONVENTION)[0].name
    rows = resolved[(resolved["metric"] == metric) & ~resolved["variant"].isin([BICUBIC])]
    members = rows[rows["variant"] != rows["reference"]]
    above = {}
    for scale, group in rows.drop_duplicates(["scale", "variant"]).groupby("scale"):
        above[int(scale)] = sorted(group.loc[group["delta_bicubic"] > 0, "variant"])
    significant = members["p_holm"] < ALPHA
    is_resolved = members["resolved"].map(mark).eq(True)
    both = members[significant & is_resolved]
    return {
        "variants": sorted(set(rows["variant"])),
        "above_bicubic": above,
        "compared": len(members),
        "resolved": int(is_resolved.sum()),
        "significant": int(significant.sum()),
        "established": [
            f"x{int(r.scale)} {r.variant} {r.delta_reference:+.2f} dB vs {r.reference}" for r in both.itertuples()
        ],
        # tests that could reach significance: enough blocks, a Holm floor below ALPHA
        "tested": int((members["p_holm"].notna() & (members["p_holm_floor"] < ALPHA)).sum()),
    }


def bicubic_text(found: dict) -> str:
    total = len(found["variants"])
    parts = [f"x{scale}: {len(names)} of {total}" for scale, names in sorted(found["above_bicubic"].items())]
    everywhere = (
        set.intersection(*(set(n) for n in found["above_bicubic"].values())) if found["above_bicubic"] else set()
    )
    tail = f"; at every scale: {', '.join(sorted(everywhere))}" if 0 < len(everywhere) < total else ""
    if len(everywhere) == total and total:
        tail = "; every variant at every scale"
    return "above bicubic (Y-PSNR) " + ", ".join(parts) + tail
