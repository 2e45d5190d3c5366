"""Whether a model's training had settled: one verdict per model, from its eval PSNR per
epoch, used by every table, summary and report of a run.

The verdicts, checked in this order:

* ``diverged``: some eval PSNR is not finite (NaN, ±inf);
* ``collapsed``: the last eval PSNR lies more than ``collapse_db`` below the best one
  (training broke down after its best epoch; the kept checkpoint is the best epoch's,
  but the run was not stable);
* ``still rising``: the eval PSNR gained more than ``flat_db`` over the last
  ``window`` share of the epochs, or there was one epoch only (no trend to read);
* ``converged``: otherwise.

The *drift* of a model is how far its eval PSNR moved over that last window
(``last - value window epochs before``, signed). A model whose eval PSNR still moves by
``d`` dB per window could move about that much again, so a difference between two models
counts as *resolved* only when it is larger than ``resolve_factor`` times the larger
remaining drift (``|drift|``) of the two: a difference inside that band is unresolved,
whatever its confidence interval says. A diverged model or a one-epoch model has no
finite drift: nothing compared with it is resolved.

Pure functions, no pandas and no torch: training never imports this module, so
changing the rule rewrites tables and reports but never retrains a model.
"""

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

CONVERGED = "converged"
RISING = "still rising"
COLLAPSED = "collapsed"
DIVERGED = "diverged"
VERDICTS = (CONVERGED, RISING, COLLAPSED, DIVERGED)

# The config's report.convergence defaults (workflow/schemas/config.schema.yaml).
DEFAULTS = {"window": 0.25, "flat_db": 0.01, "collapse_db": 0.5, "resolve_factor": 2.0}


@dataclass(frozen=True)
class Convergence:
    """One model's verdict and the numbers it rests on (dB, epochs 1-based)."""

    verdict: str
    epochs: int
    best_epoch: int
    best_db: float
    last_db: float
    drift_db: float
    fall_db: float
    reason: str

    @property
    def converged(self) -> bool:
        return self.verdict == CONVERGED

    @property
    def remaining_drift_db(self) -> float:
        """How far the model could still move: ``|drift|``; infinite when unknown."""
        return abs(self.drift_db) if math.isfinite(self.drift_db) else math.inf

    def columns(self) -> dict:
        """The verdict as the run summary's table columns (training.csv)."""
        return {
            "verdict": self.verdict,
            "converged": self.converged,
            "drift_db": self.drift_db,
            "fall_db": self.fall_db,
            "remaining_drift_db": self.remaining_drift_db,
            "verdict_reason": self.reason,
        }


def settings_of(settings: dict | None) -> dict:
    """The rule's settings: ``report.convergence`` over :data:`DEFAULTS`."""
    merged = {**DEFAULTS, **(settings or {})}
    unknown = set(merged) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"report.convergence: unknown settings {sorted(unknown)} (known: {sorted(DEFAULTS)})")
    return merged


def window_epochs(epochs: int, window: float = DEFAULTS["window"]) -> int:
    """Epochs in the last window: ``ceil(epochs * window)``, at least one."""
    return max(1, math.ceil(epochs * window))


def judge(psnr: Sequence[float], settings: dict | None = None) -> Convergence:
    """The verdict of one model from its eval PSNR per epoch (in epoch order)."""
    values = [float(v) for v in psnr]
    if not values:
        raise ValueError("no eval PSNR: a training log without epochs")
    epochs = len(values)
    finite = all(math.isfinite(v) for v in values)
    best_epoch = max(range(epochs), key=lambda i: values[i] if math.isfinite(values[i]) else -math.inf) + 1
    window = window_epochs(epochs, settings_of(settings)["window"])
    drift = values[-1] - values[-1 - window] if epochs > window else math.nan
    return classify(
        epochs=epochs,
        best_epoch=best_epoch,
        best_db=values[best_epoch - 1],
        last_db=values[-1],
        drift_db=drift,
        finite=finite,
        settings=settings,
    )


def classify(
    *,
    epochs: int,
    best_epoch: int,
    best_db: float,
    last_db: float,
    drift_db: float,
    finite: bool = True,
    settings: dict | None = None,
) -> Convergence:
    """The verdict from the numbers :func:`judge` reads off a log: for tables that keep
    only them (best and last eval PSNR, the signed drift over the last window)."""
    rule = settings_of(settings)
    fall = best_db - last_db
    share = f"last {window_epochs(epochs, rule['window'])} of {epochs} epochs"

    def verdict(name: str, reason: str) -> Convergence:
        return Convergence(name, epochs, best_epoch, best_db, last_db, drift_db, fall, reason)

    if not finite or not all(map(math.isfinite, (best_db, last_db))):
        return verdict(DIVERGED, "a non-finite eval PSNR")
    if fall > rule["collapse_db"]:
        margin = rule["collapse_db"]
        return verdict(COLLAPSED, f"fell {fall:.3f} dB below its best (epoch {best_epoch}; margin {margin:g})")
    if epochs < 2 or not math.isfinite(drift_db):
        return verdict(RISING, "one epoch: no trend to read")
    if drift_db > rule["flat_db"]:
        return verdict(RISING, f"{drift_db:+.3f} dB over the {share} (flat: at most {rule['flat_db']:g})")
    return verdict(CONVERGED, f"{drift_db:+.3f} dB over the {share}")


def resolved(delta: float, drifts: Iterable[float], factor: float = DEFAULTS["resolve_factor"]) -> bool:
    """Whether a difference ``delta`` (dB) is clearly larger than every compared model's
    remaining drift (``factor`` times the largest); False when a drift is unknown."""
    largest = max((abs(d) if math.isfinite(d) else math.inf for d in drifts), default=0.0)
    return math.isfinite(delta) and abs(delta) > factor * largest


def counts(verdicts: Iterable[str]) -> dict[str, int]:
    """How many models have each verdict, in :data:`VERDICTS` order (zeros kept)."""
    tally = dict.fromkeys(VERDICTS, 0)
    for name in verdicts:
        if name not in tally:
            raise ValueError(f"unknown convergence verdict {name!r} (one of {', '.join(VERDICTS)})")
        tally[name] += 1
    return tally


def counts_text(verdicts: Iterable[str]) -> str:
    """``"3 of 27 converged (24 still rising)"``: every non-zero verdict named."""
    tally = counts(verdicts)
    total = sum(tally.values())
    others = ", ".join(f"{n} {name}" for name, n in tally.items() if n and name != CONVERGED)
    return f"{tally[CONVERGED]} of {total} converged" + (f" ({others})" if others else "")


def describe(settings: dict | None = None) -> str:
    """The rule in one sentence, with its settings, for table notes and reports."""
    rule = settings_of(settings)
    return (
        f"Convergence (eval Y-PSNR per epoch): diverged = a non-finite value; collapsed = the last more than "
        f"{rule['collapse_db']:g} dB below the best; still rising = more than {rule['flat_db']:g} dB gained over the "
        f"last {rule['window']:.0%} of the epochs (or one epoch only); converged = otherwise. Drift = the change over "
        f"that window; a difference is resolved only when larger than {rule['resolve_factor']:g}x the larger drift "
        "of the two models."
    )
