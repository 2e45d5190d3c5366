"""k-fold cross-validation over time blocks of the study video (config ``cv:``).

The split range (``cv.frames``; by default every frame of the study's train, eval and
test sets together, in time order) is cut into ``cv.folds`` contiguous blocks of
consecutive range positions (sizes differ by at most one, the longer ones first, as
``numpy.array_split``). Fold ``i`` (0-based) tests on block ``i``. Its eval frames (the
best-epoch selection) are the ``cv.eval_frames`` frames at the end of the range farther
from the test block, and it trains on what is left. ``cv.gap`` frames of the range are
left out between every two of a fold's sets (test | train, test | eval, eval | train), so
near-identical neighbouring frames never sit on both sides of a boundary. The gap
counts positions of the range (scikit-learn's ``TimeSeriesSplit(gap=...)`` counts
samples the same way): with a range step of 10, a gap of 1 leaves 10 decoded frames out.

Every variant (and seed) trains once per fold, into ``results/cv/fold{i}/``; those models
are upscaled and scored on their fold's test block only. The tables aggregate per fold
first (one score per fold: the mean over its test frames of the per-frame scores
averaged over seeds), then across folds: the mean of the fold scores and a t interval
with the Nadeau-Bengio correction for overlapping training sets (:func:`fold_interval`).
"""

from pathlib import Path

import numpy as np

from srstudy.plan.errors import ConfigError
from srstudy.plan.frames import FRAME_SETS, frame_ids
from srstudy.stages.video import probe

# With 2 folds a t interval has one degree of freedom (t = 12.7) and a spread estimated
# from two numbers: it would restate that 2 folds cannot measure a spread, so none is given.
MIN_FOLDS = 3


SPLITS = ("train", "eval", "test")


def enabled(config: dict) -> bool:
    """Whether the config asks for cross-validation (``cv.folds`` set)."""
    return bool(config.get("cv", {}).get("folds"))


def split_range(config: dict) -> list[int]:
    """The frame numbers that are split, in time order: ``cv.frames``, or every frame of
    the study's train, eval and test sets together."""
    given = config["cv"].get("frames")
    if given is not None:
        return sorted(set(frame_ids(given)))
    return sorted(set().union(*(frame_ids(config["frames"][name]) for name in FRAME_SETS)))


def range_source(config: dict) -> str:
    return "cv.frames" if config["cv"].get("frames") is not None else "frames.train, .eval and .test together"


def split(frames: list[int], folds: int, gap: int = 0, eval_frames: int = 1, where: str = "cv.frames") -> list[dict]:
    """The folds of ``frames`` (time order): per fold ``{fold, test, eval, train,
    left_out}``, frame numbers in time order. Raises :class:`ConfigError` naming the
    ``cv`` key to change when a fold would have no test, eval or training frame."""
    frames = list(frames)
    n = len(frames)
    if folds < 2:
        raise ConfigError(f"cv.folds: {folds} fold(s); cross-validation needs at least 2")
    if folds > n:
        raise ConfigError(
            f"cv.folds: {folds} folds need at least {folds} frames, but the split range ({where}) holds {n}; "
            f"use at most {n} folds or more frames"
        )
    sizes = [n // folds + (i < n % folds) for i in range(folds)]
    starts = np.concatenate([[0], np.cumsum(sizes)]).tolist()
    out, problems = [], []
    for fold in range(folds):
        a, b = starts[fold], starts[fold + 1]  # the test block: positions a .. b-1
        if n - b >= a:  # eval at the end of the range, the side farther from the test block
            evals = range(n - eval_frames, n)
            fits = n - eval_frames >= b + gap
            train = [p for p in range(n) if p < a - gap or b + gap <= p < n - eval_frames - gap]
        else:
            evals = range(eval_frames)
            fits = eval_frames <= a - gap
            train = [p for p in range(n) if eval_frames + gap <= p < a - gap or p >= b + gap]
        test_text = f"fold {fold} (test frames {frames[a]} to {frames[b - 1]})"
        if not fits:
            problems.append(
                f"cv.eval_frames: {test_text} has no room for {eval_frames} eval frame(s) {gap} frame(s) away from "
                "its test block; use fewer eval frames (cv.eval_frames), a smaller gap (cv.gap), fewer folds "
                f"(cv.folds) or more frames ({where})"
            )
            continue
        if not train:
            problems.append(
                f"cv.gap: {test_text} has no training frame left after a gap of {gap} frame(s) on each side of its "
                f"test block and its {eval_frames} eval frame(s); use a smaller gap (cv.gap), fewer folds "
                f"(cv.folds), fewer eval frames (cv.eval_frames) or more frames ({where})"
            )
            continue
        used = set(train) | set(evals) | set(range(a, b))
        out.append(
            {
                "fold": fold,
                "test": frames[a:b],
                "eval": [frames[p] for p in evals],
                "train": [frames[p] for p in train],
                "left_out": [frames[p] for p in range(n) if p not in used],
            }
        )
    if problems:
        raise ConfigError("config is invalid:\n" + "\n".join(f"  - {p}" for p in problems))
    return out


def folds_of(config: dict) -> list[dict]:
    """The folds of a validated config (none when cross-validation is off)."""
    if not enabled(config):
        return []
    cv = config["cv"]
    return split(split_range(config), cv["folds"], cv["gap"], cv["eval_frames"], range_source(config))


def fold_frames(config: dict, fold: int | str, split_name: str) -> list[int]:
    """Frame numbers of one fold's ``train``, ``eval`` or ``test`` set."""
    if split_name not in SPLITS:
        raise ValueError(f"a fold has train, eval and test frames, not '{split_name}'")
    return folds_of(config)[int(fold)][split_name]


def check(config: dict, approx_frames: int | None = None) -> list[dict]:
    """The folds of a config, or :class:`ConfigError` naming the ``cv`` key to change.
    ``approx_frames``: about how many frames the study video holds (its probe), to refuse
    a split range past its end before any job runs."""
    if not enabled(config):
        return []
    frames = split_range(config)
    if approx_frames is not None and frames and max(frames) >= approx_frames + 2:
        raise ConfigError(
            f"config is invalid:\n  - {range_source(config)}: frame {max(frames)} is split for cross-validation "
            f"but the study video holds about {approx_frames} frames; use frame numbers below {approx_frames}"
        )
    return folds_of(config)


def validate(config: dict, video: Path | None) -> list[dict]:
    """Snakemake's config check for ``cv:`` (after the study's own, which resolved
    ``cv.frames`` given in seconds): the range checked against the video's length (``video``:
    its path; not yet there before a download), then the split. Returns the folds."""
    if not enabled(config):
        return []
    approx = probe(video, config["ffmpeg"]).approx_frames if video is not None and video.exists() else None
    return check(config, approx)
