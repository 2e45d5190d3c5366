"""The report's front page: what ran (data, resolution, frames, budget per model, seeds,
device) and the verdict (how many models converged, which beat bicubic per test set,
which differences are resolved and significant, what may and may not be concluded;
in-sample-like and generalisation test sets apart), from the run summary's per-model
table (``training.csv``) and every test set's ``comparisons.csv``.

The report's landing page (workflow/report/workflow.rst) includes the reStructuredText
version; it must fit the first screen, so the per-variant detail stays on the Run page.
"""

import math
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from PIL import Image

from srstudy.base.files import write_text
from srstudy.report import verdict
from srstudy.report.layout import to_html
from srstudy.train import convergence


@dataclass(frozen=True)
class ScoredSet:
    """One test set as the front page names it: its video file, frame count and size,
    and its comparisons with the ``resolved`` marks (:func:`srstudy.report.verdict.resolve`)."""

    name: str
    video: str
    frames: int
    size: str
    comparisons: pd.DataFrame


TITLE = "SRCNN study: what ran and what it shows"


def front_page(config: dict, training: pd.DataFrame, test_sets: list[ScoredSet], run_link: str = "Run") -> list[str]:
    """The report's front page, short enough for the first screen (the per-variant
    detail is the Run page's): what ran, then the verdict's lines. ``training``: the run
    summary's per-model table; ``test_sets``: the study's first; ``run_link``: how the
    text points to the Run page."""
    return [
        _what_ran(config, training, test_sets, run_link),
        *_verdict_lines(training, test_sets, config["report"]["study_test"]),
    ]


def to_rst(lines: list[str]) -> str:
    """The front page as reStructuredText for the report's landing page: the title, then
    what ran and the verdict in containers (classes ``what-ran`` and ``verdict``)."""
    what_ran, *findings = lines
    return "\n".join(
        [
            TITLE,
            "=" * len(TITLE),
            "",
            ".. container:: what-ran",
            "",
            f"   {what_ran}",
            "",
            ".. container:: verdict",
            "",
            "   **Verdict.**",
            "",
            *(f"   - {line}" for line in findings),
            "",
        ]
    )


def _what_ran(config: dict, training: pd.DataFrame, test_sets: list[ScoredSet], run_link: str) -> str:
    study_kind = config["report"]["study_test"]
    per_arch = training.drop_duplicates("variant").groupby("arch", sort=False)["variant"].count()
    archs = ", ".join(f"{count} {arch}" for arch, count in per_arch.items())
    baseline = config["baseline_variant"]
    base = training[training["variant"] == baseline]
    if not base.empty:
        first = base.iloc[0]
        archs += f"; baseline {baseline}: {first['arch']} {first['layers']}, {first['activation']}"
    budget = "; ".join(sorted({_budget(row) for row in training.itertuples()}))
    seeds = sorted(set(training["seed"]))
    devices = ", ".join(sorted(set(training["device"].astype(str)))) or "–"
    train_frames = "/".join(str(int(n)) for n in sorted(set(training["train_frames"].dropna()))) or "?"
    sets = "; ".join(
        f"{t.name}: {t.video} {t.size}, {t.frames} frames ({verdict.test_set_kind(t.name, study_kind)})"
        for t in test_sets
    )
    return (
        f"**What ran.** {test_sets[0].video} ({test_sets[0].size}), {train_frames} training frames; scales "
        f"{', '.join(f'x{s}' for s in config['scales'])}. {training['variant'].nunique()} variants ({archs}; "
        f"every variant: {run_link}), {len(training)} models, {budget} per model, seed{'s' * (len(seeds) > 1)} "
        f"{', '.join(map(str, seeds))}, trained on {devices}. Test sets: {sets}."
    )


def _verdict_lines(training: pd.DataFrame, test_sets: list[ScoredSet], study_kind: str) -> list[str]:
    unsettled = int((training["verdict"] != convergence.CONVERGED).sum())
    lines = [
        f"Convergence: {convergence.counts_text(training['verdict'])}"
        + (
            ": the tables rank how fast each variant learns in this budget, not where it ends."
            if unsettled * 2 > len(training)
            else "."
        )
    ]
    may = []
    for test_set in test_sets:
        kind = verdict.test_set_kind(test_set.name, study_kind)
        found = verdict.conclusions(test_set.comparisons)
        lines.append(
            f"{test_set.name} ({kind}): {verdict.bicubic_text(found)}; of {found['compared']} differences to a "
            f"reference, {found['resolved']} resolved beyond training drift, {_significance_text(found)}, "
            f"{len(found['established'])} both."
        )
        if found["established"]:
            shown = "; ".join(found["established"][:3]) + ("; ..." if len(found["established"]) > 3 else "")
            may.append(f"{kind} ({test_set.name}): {shown}")
    lines.append(
        "May be concluded: "
        + (" | ".join(may) if may else "no difference between variants (none is both resolved and significant)")
        + "."
    )
    may_not = []
    if study_kind == verdict.IN_SAMPLE:
        may_not.append("generalisation from the study test set (frames of the training shot)")
    if unsettled:
        may_not.append(f"final quality of the {unsettled} model{'s' * (unsettled != 1)} not converged")
    may_not.append("an unresolved or untested difference, whatever its interval")
    lines.append("May not be concluded: " + "; ".join(may_not) + ".")
    return lines


def _significance_text(found: dict) -> str:
    if not found["tested"]:
        return f"none testable (too few test frames for p < {verdict.ALPHA:g})"
    return f"{found['significant']} significant (Holm p < {verdict.ALPHA:g}; {found['tested']} testable)"


def _budget(row) -> str:
    patches = getattr(row, "patches", math.nan)
    count = f"{int(patches):,} patches" if isinstance(patches, int | float) and math.isfinite(patches) else "? patches"
    return f"{count} ({int(row.epochs)} epochs)"


def frame_set(folder: str | os.PathLike) -> tuple[int, str]:
    """How many frames a frame folder holds and their size (``WxH``)."""
    frames = sorted(Path(folder).glob("*.png"))
    if not frames:
        raise ValueError(f"no frames in '{folder}': run its extract_frames job first")
    with Image.open(frames[0]) as image:
        width, height = image.size
    return len(frames), f"{width}x{height}"


def write_front_page(
    config: dict,
    *,
    training_csv: str | os.PathLike,
    test_sets: dict[str, dict],
    rst: str | os.PathLike,
    html_path: str | os.PathLike,
) -> list[str]:
    """Write the front page (:func:`front_page`) as reStructuredText (``rst``: the report's
    landing page includes it) and as HTML (the Run section's copy). ``test_sets``: per
    test set name, the study's first, ``{video, frames (its test frame folder),
    comparisons (its comparisons.csv)}``."""
    training = pd.read_csv(training_csv)
    settings = config["report"]["convergence"]
    sets = []
    for name, paths in test_sets.items():
        count, size = frame_set(paths["frames"])
        compared = pd.read_csv(paths["comparisons"], keep_default_na=False, na_values=[""])
        video = str(paths["video"]).rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        sets.append(ScoredSet(name, video, count, size, verdict.resolve(compared, training, settings)))
    write_text(rst, to_rst(front_page(config, training, sets, run_link="`Run`_")))
    lines = front_page(config, training, sets, run_link="the Run section")
    write_text(html_path, to_html([], TITLE, [lines[0], "**Verdict.**", *lines[1:]]))
    return lines
