"""The thesis's published results (M. Kompier, *High-resolution SRCNN hyperparameter
optimisation*, BSc thesis, Leiden University, 2023), as data, and when a run may be set
beside them.

``data/thesis_results.csv`` holds every cell of the thesis's result tables: per scale and
variant (the thesis's names), the mean PSNR (dB) and SSIM over its 30 test frames,
scored on 8-bit RGB, all channels, no border crop (scikit-image), 3 decimals.

A config declares which of its variants is which thesis column (``report.
thesis_reported``, e.g. ``additional_layer: Additional layer``); a declared variant gets
the column only where the run has the thesis's setup: its test frames (155 to 445, every
10th), a thesis scale, and the model and training settings the thesis ran for that
column (:data:`THESIS_SPECS`). Anything else is listed as the reason it is left out.
"""

import csv
from functools import cache
from pathlib import Path

from srstudy.plan.frames import frame_ids

DATA = Path(__file__).with_name("data") / "thesis_results.csv"

THESIS_VARIANTS = ("Default", "Additional layer", "ELU", "Sigmoid", "TANH", "Low channels")
THESIS_SCALES = (2, 3, 4, 6, 8)
THESIS_TEST_FRAMES = tuple(range(155, 446, 10))
THESIS_SEED = 123


def _layers(*pairs):
    return [{"kernel": kernel, "channels": channels} for kernel, channels in pairs]


# What the thesis ran (the reference SRCNN's training: Adam, lr 1e-4 with the last layer at
# x0.1, batch 16, 40 epochs over the 33x33/stride-14 patch grid). The inserted layer's
# kernel is not given in the thesis (only its widths); 5x5 is this workflow's choice.
_TRAINING = {
    "arch": "srcnn",
    "lr": 1.0e-4,
    "last_layer_lr_factor": 0.1,
    "batch_size": 16,
    "epochs": 40,
    "patch_size": 33,
    "patch_stride": 14,
    "patches_per_epoch": None,
}
_FULL, _NARROW = _layers((9, 64), (5, 32), (5, 1)), _layers((9, 32), (5, 32), (5, 1))
THESIS_SPECS = {
    "Default": {"layers": _FULL, "activation": "relu", **_TRAINING},
    "Additional layer": {"layers": _layers((9, 64), (5, 32), (5, 16), (5, 1)), "activation": "relu", **_TRAINING},
    "ELU": {"layers": _FULL, "activation": "elu", **_TRAINING},
    "Sigmoid": {"layers": _NARROW, "activation": "sigmoid", **_TRAINING},
    "TANH": {"layers": _NARROW, "activation": "tanh", **_TRAINING},
    "Low channels": {"layers": _NARROW, "activation": "relu", **_TRAINING},
}


@cache
def results() -> dict[tuple[int, str], tuple[float, float]]:
    """``{(scale, thesis variant): (PSNR, SSIM)}`` of every published cell."""
    with open(DATA, newline="") as handle:
        return {(int(r["scale"]), r["variant"]): (float(r["psnr"]), float(r["ssim"])) for r in csv.DictReader(handle)}


def reported(scale: int, thesis_variant: str) -> tuple[float, float] | None:
    """The thesis's (PSNR, SSIM) for a scale and one of its variants, or None."""
    return results().get((int(scale), thesis_variant))


def spec_differences(spec: dict, thesis_variant: str) -> list[str]:
    """Settings of a variant's full spec that differ from what the thesis ran."""
    expected = THESIS_SPECS[thesis_variant]
    out = [f"{key} {spec.get(key)!r} (thesis: {value!r})" for key, value in expected.items() if spec.get(key) != value]
    if THESIS_SEED not in spec.get("seeds", []):
        out.append(f"seeds {spec.get('seeds')} without the thesis's seed {THESIS_SEED}")
    return out


def thesis_columns(config: dict) -> dict:
    """Which variants show the thesis's published numbers: ``{"variants": {variant:
    thesis name}, "scales": [...], "excluded": [reason, ...]}``. Empty when the config
    declares none (``report.thesis_reported``)."""
    declared = config["report"].get("thesis_reported") or {}
    out = {"variants": {}, "scales": [], "excluded": []}
    if not declared:
        return out
    if tuple(frame_ids(config["frames"]["test"])) != THESIS_TEST_FRAMES:
        out["excluded"].append("the test frames are not the thesis's (155 to 445, every 10th)")
        return out
    out["scales"] = [s for s in config["scales"] if s in THESIS_SCALES]
    for variant, name in declared.items():
        spec = {**config["defaults"], **config["variants"][variant]}
        differences = spec_differences(spec, name)
        if differences:
            out["excluded"].append(f"{variant} is not the thesis's {name}: " + "; ".join(differences))
        else:
            out["variants"][variant] = name
    return out
