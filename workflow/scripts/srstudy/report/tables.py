"""Stage 6: tables of a test set (the study's, or an out-of-domain one).

From the per-frame score files ``{root}scores/x{scale}/{method}.csv`` (a variant, or
``bicubic``):

* ``summary.csv``: one row per scale x method x seed: the mean of each metric over the
  test frames, its standard deviation and the half-width of its t-based 95% confidence
  interval over frames (``<metric>``, ``<metric>_std``, ``<metric>_ci95``).
* ``summary_seeds.csv``: one row per scale x method, across seeds: the mean of the
  per-frame scores averaged over seeds, its 95% CI over frames, and the spread of the
  seed means (``<metric>_seed_std``, ``_seed_min``, ``_seed_max``).
* ``comparisons.csv``: for every configured comparison group, scale, member and metric:
  mean, difference to the group's reference with its 95% interval, difference to
  bicubic, and a two-sided test against the reference with its Holm-adjusted p-value
  (:mod:`srstudy.report.statistics`). With several seeds on both sides, a t interval over
  seeds and test-frame blocks together; else paired per-frame differences in time order,
  a moving-block bootstrap interval and a block sign-flip test; too few blocks: none.
* ``x{scale}.md`` / ``x{scale}.html``: those comparisons in the thesis's layout (one
  table per group, each in the thesis's RGB convention and the field's Y convention),
  3 decimals, with flags (below bicubic, each model's convergence verdict), differences
  within the models' training drift marked unresolved (:mod:`srstudy.report.verdict`), the thesis-code scores and the
  thesis's published numbers where the run has them, and what each model costs: its
  parameters, GFLOPs per 3840x2160 output frame (from its architecture, see
  :mod:`srstudy.nets.registry`) and the measured milliseconds per test frame of its upscale jobs.
"""

import math
import os
from pathlib import Path

import pandas as pd

from srstudy.base.files import write_csv, write_text
from srstudy.base.methods import BICUBIC
from srstudy.report import statistics
from srstudy.report.compare import ALPHA, STATISTICS, compare, resolve_comparisons
from srstudy.report.layout import fmt, fmt_interval, to_html, to_markdown
from srstudy.report.published import reported
from srstudy.report.scores import load_scores, load_timings, method_order, summarize_methods, summarize_runs
from srstudy.report.verdict import mark, resolve
from srstudy.stages.metrics import CONVENTIONS, THESIS_CODE_CONVENTION, metrics_in, thesis_code_names
from srstudy.train import convergence


def verdicts_at(training: pd.DataFrame | None, scale: int) -> dict[str, list[str]]:
    """``{variant: [convergence verdict of each seed]}`` at a scale, from the run summary's
    per-model table (``training.csv``)."""
    if training is None or training.empty:
        return {}
    at = training[training["scale"] == scale]
    return {v: list(g["verdict"]) for v, g in at.groupby("variant", sort=False)}


def banner(training: pd.DataFrame | None, scale: int) -> str:
    """A warning when most models at this scale have not converged."""
    verdicts = [v for seeds in verdicts_at(training, scale).values() for v in seeds]
    unsettled = sum(v != convergence.CONVERGED for v in verdicts)
    if verdicts and unsettled * 2 > len(verdicts):
        return (
            f"WARNING: at x{scale}, {convergence.counts_text(verdicts)}: this comparison reflects how fast each "
            "variant trains, not its final quality."
        )
    return ""


def row_flags(method: str, psnr: float, bicubic_psnr: float, verdicts: dict) -> str:
    flags = []
    if method != BICUBIC and not math.isnan(bicubic_psnr) and psnr < bicubic_psnr:
        flags.append("below bicubic")
    seeds = verdicts.get(method, [])
    for name in convergence.VERDICTS[1:]:
        count = seeds.count(name)
        if count:
            flags.append(name if len(seeds) == 1 else f"{name} ({count}/{len(seeds)} seeds)")
    return ", ".join(flags)


COST_HEADER = ["Parameters", "GFLOPs per 4K frame", "ms per frame"]


def model_costs(training: pd.DataFrame | None, timings: pd.DataFrame | None, scale: int) -> dict[str, dict]:
    """``{variant: {parameters, gflops_4k, ms_per_frame}}`` at a scale: the run summary's
    per-model table (parameters, GFLOPs) and the upscale timings, averaged over seeds."""
    costs: dict[str, dict] = {}
    if training is not None and not training.empty:
        at = training[training["scale"] == scale]
        for variant, group in at.groupby("variant", sort=False):
            entry = costs.setdefault(variant, {})
            for column in ("parameters", "gflops_4k"):  # an older run summary may lack GFLOPs
                if column in group:
                    entry[column] = group[column].mean()
    if timings is not None and not timings.empty:
        at = timings[timings["scale"] == scale]
        for variant, group in at.groupby("variant", sort=False):
            costs.setdefault(variant, {})["ms_per_frame"] = group["ms_per_frame"].astype(float).mean()
    return costs


def cost_cells(costs: dict, method: str) -> list[str]:
    cost = costs.get(method, {})
    parameters, gflops, ms = (cost.get(key, math.nan) for key in ("parameters", "gflops_4k", "ms_per_frame"))
    return [
        "–" if math.isnan(parameters) else f"{int(round(parameters)):,}",
        "–" if math.isnan(gflops) else f"{gflops:,.1f}",
        "–" if math.isnan(ms) else f"{ms:,.1f}",
    ]


def cost_note(timings: pd.DataFrame | None, scale: int) -> str:
    """What the cost columns are, with the frame size and device the times were taken on."""
    text = (
        "Costs: parameters of the trained model; GFLOPs of the network for one 3840x2160 output frame "
        "(2 per multiply-accumulate, from its architecture; post-upsampling networks run on the LR grid, "
        "so they cost about 1/scale^2 per output pixel)"
    )
    at = timings[timings["scale"] == scale] if timings is not None and not timings.empty else None
    if at is None or at.empty:
        return text + "."
    sizes = ", ".join(sorted({f"{int(w)}x{int(h)}" for w, h in zip(at["width"], at["height"], strict=True)}))
    devices = ", ".join(sorted(set(at["device"])))
    return (
        f"{text}; ms per frame: the median time of one {sizes} test frame through the network (its colour "
        f"conversion included, tiled as configured) in this run's upscale jobs on {devices}, mean over seeds "
        "(wall-clock, on a machine that may have run other jobs at the same time)."
    )


def fmt_p(value) -> str:
    if value is None or math.isnan(value):
        return "–"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def fmt_delta(delta, low, high, digits: int = 3) -> str:
    """``+0.123 [-0.050, +0.300]``: a difference (signed) with its 95% interval."""
    return fmt_interval(delta, low, high, digits, signed=True)


def p_cell(row) -> str:
    """The Holm-adjusted p-value; 'n/a' where the test cannot reach 0.05 whatever the
    data (too few frames: the note says why); '(min)' where it is the smallest value the
    test and the correction allow."""
    if math.isnan(row["p_value"]):
        return "–"
    if row["p_holm_floor"] >= ALPHA:
        return "n/a"
    text = fmt_p(row["p_holm"])
    return f"{text} (min)" if row["p_holm_floor"] > 0 and row["p_holm"] <= row["p_holm_floor"] * (1 + 1e-9) else text


def scale_tables(
    comparisons: pd.DataFrame,
    methods: pd.DataFrame,
    groups: list[dict],
    *,
    scale: int,
    training: pd.DataFrame | None = None,
    thesis: dict | None = None,
    timings: pd.DataFrame | None = None,
    convergence_settings: dict | None = None,
) -> list[dict]:
    """The tables of one scale: per group and convention, ``{title, header, rows}``.
    ``training``: the run summary's per-model table (convergence flags, parameters,
    GFLOPs); ``thesis``: the variants shown beside the thesis's published numbers
    (:func:`srstudy.report.published.thesis_columns`); ``timings``: :func:`load_timings`. The
    cost columns are there when ``training`` or ``timings`` is given; with ``training``,
    differences within the two models' drift are marked unresolved
    (``convergence_settings``: ``report.convergence``)."""
    if training is not None:
        comparisons = resolve(comparisons, training, convergence_settings)
    seeds = methods[methods["scale"] == scale].set_index("variant")
    optional = {
        "seed_sd": bool((seeds["n_seeds"] > 1).any()),
        "thesis_code": any(m in seeds and seeds[m].notna().any() for m in thesis_code_names()),
        "published": (thesis or {}).get("variants", {}) if scale in (thesis or {}).get("scales", []) else {},
    }
    counts = verdicts_at(training, scale)
    costs = model_costs(training, timings, scale) if training is not None or timings is not None else None
    tables = []
    for group in groups:
        block = comparisons[(comparisons["comparison"] == group["name"]) & (comparisons["scale"] == scale)]
        for key, convention in CONVENTIONS.items():
            if not metrics_in(key):
                continue
            table = convention_table(
                block,
                seeds,
                group["reference"],
                convention=key,
                optional=optional,
                counts=counts,
                scale=scale,
                costs=costs,
            )
            tables.append(
                {"group": group["name"], "convention": key, "title": group["title"], "subtitle": convention.title}
                | table
            )
    return tables


def convention_table(
    block: pd.DataFrame,
    seeds: pd.DataFrame,
    reference: str,
    *,
    convention: str,
    optional: dict,
    counts: dict,
    scale: int,
    costs: pd.DataFrame | None = None,
) -> dict:
    """``{header, rows}`` of one comparison group's table in one convention. ``block``:
    the group's rows of the comparisons table at ``scale``; ``seeds``: the per-method
    summary at ``scale``; ``optional``: which optional columns the scale's tables have
    (``seed_sd``; in the RGB convention ``thesis_code`` and ``published``);
    ``counts``: :func:`verdicts_at`; ``costs``: :func:`model_costs` (the cost columns). A
    difference in the primary metric within the two models' training drift is marked
    unresolved (the ``resolved`` column of :func:`srstudy.report.verdict.resolve`)."""
    metrics = metrics_in(convention)
    primary, *others = metrics
    thesis = convention == THESIS_CODE_CONVENTION
    header = ["Variant", "Flags", primary.header, "± CI95 frames", *(m.header for m in others)]
    if optional["seed_sd"]:
        header.insert(4, "seed sd")
    if thesis and optional["thesis_code"]:
        header += [f"{m.label} thesis code" for m in (primary, *others)]
    if thesis and optional["published"]:
        header += ["thesis reported PSNR", "thesis reported SSIM"]
    header += [f"Δ{primary.label} vs {reference} [95% CI]", f"Δ{primary.label} vs bicubic"]
    header += [f"Δ{m.label} vs {reference} [95% CI]" for m in others]
    header += [f"p {m.label} (Holm)" for m in (primary, *others)]
    if costs is not None:
        header += COST_HEADER
    bicubic_primary = seeds.loc[BICUBIC, primary.name] if BICUBIC in seeds.index else math.nan
    rows = []
    for method in dict.fromkeys(block["variant"]):
        of = {m.name: block[(block["variant"] == method) & (block["metric"] == m.name)].iloc[0] for m in metrics}
        p = of[primary.name]
        name = f"**{method}** (reference)" if method == reference else method
        row = [name, row_flags(method, p["mean"], bicubic_primary, counts), fmt(p["mean"]), fmt(p["ci95"])]
        row += [fmt(of[m.name]["mean"]) for m in others]
        if optional["seed_sd"]:
            row.insert(4, fmt(seeds.loc[method, f"{primary.name}_seed_std"]))
        if thesis and optional["thesis_code"]:
            row += [fmt(seeds.loc[method, f"{m.name}_thesis_code"]) for m in (primary, *others)]
        if thesis and (published := optional["published"]):
            cell = reported(scale, published[method]) if method in published else None
            row += [fmt(cell[0]), fmt(cell[1])] if cell else ["–", "–"]
        unresolved = " unresolved" if "resolved" in p and mark(p["resolved"]) is False else ""
        row += [
            fmt_delta(p["delta_reference"], p["delta_low"], p["delta_high"]) + unresolved,
            fmt(p["delta_bicubic"], True),
        ]
        row += [
            fmt_delta(of[m.name]["delta_reference"], of[m.name]["delta_low"], of[m.name]["delta_high"], m.delta_digits)
            for m in others
        ]
        row += [p_cell(of[m.name]) for m in (primary, *others)]
        if costs is not None:
            row += cost_cells(costs, method)
        rows.append(row)
    return {"header": header, "rows": rows}


def describe(
    methods: pd.DataFrame,
    comparisons: pd.DataFrame,
    *,
    scale: int,
    test_set: str,
    settings: dict | None = None,
    thesis: dict | None = None,
    training: pd.DataFrame | None = None,
    timings: pd.DataFrame | None = None,
    convergence_settings: dict | None = None,
) -> list[str]:
    """The notes under the heading: what the numbers are, how they were tested, what the
    flags mean, and where no test can reach significance."""
    settings = {**STATISTICS, **(settings or {})}
    at = methods[methods["scale"] == scale]
    block = comparisons[comparisons["scale"] == scale]
    n_frames = "/".join(map(str, sorted(set(at["n_frames"]))))
    seeds = ", ".join(f"{v}: {n}" for v, n in zip(at["variant"], at["n_seeds"], strict=True) if v != BICUBIC)
    notes = [
        f"Scale x{scale}, {test_set}: means over {n_frames} test frames (per-frame scores averaged over seeds; "
        f"seeds per variant: {seeds}). ± CI95 frames: t-based 95% half-width over frames, as if frames were "
        "independent (they are not: see the Δ intervals)."
    ]
    notes += _test_notes(block, settings)
    notes += _thesis_notes(at, scale, thesis)
    if training is not None or timings is not None:
        notes.append(cost_note(timings, scale))
    if training is not None:
        notes.append(convergence.describe(convergence_settings))
    if text := banner(training, scale):
        notes.insert(0, f"**{text}**")
    return notes


def _test_notes(block: pd.DataFrame, settings: dict) -> list[str]:
    """How the differences of one scale's comparisons were tested, what the flags mean,
    and the smallest p-value the frame tests can reach."""
    notes = []
    units = set(block["unit"].dropna()) - {""}
    if "frames" in units:
        lengths = "/".join(str(int(b)) for b in sorted(set(block["block_length"].dropna())))
        notes.append(
            "Δ vs the reference, one seed: paired per-frame differences in time order; 95% CI by a moving-block "
            f"bootstrap (blocks of {lengths} consecutive test frames, {settings['resamples']} resamples, seed "
            f"{settings['seed']}; none with fewer than {statistics.MIN_BLOCKS} blocks); p: two-sided sign-flip test "
            "of the mean difference over the same blocks (non-overlapping), exact."
        )
    if "seeds x blocks" in units:
        notes.append(
            "Δ vs the reference, several seeds on both sides: 95% CI and p of a t statistic whose variance holds "
            "the spread of each side's seeds and of the paired test-frame block differences (Satterthwaite degrees "
            "of freedom), so neither the choice of seeds nor of test frames is taken as fixed."
        )
    reasons = sorted(set(block["no_interval"].dropna()) - {""}) if "no_interval" in block else []
    if reasons:
        notes.append(
            f"No interval and no test where {'; '.join(reasons)}: a bootstrap of so few blocks has a handful of "
            "distinct resample means and would print an interval narrower than the evidence."
        )
    notes.append(
        "p (Holm): Holm-adjusted over the tests of one table (every member's PSNR and SSIM); bicubic is not tested. "
        "Flags: below bicubic = mean PSNR in this convention under bicubic's; still rising, collapsed, diverged = "
        "the model's convergence verdict (the run summary's table has each model's drift). *unresolved*: the "
        "difference is not larger than the resolve factor times the larger training drift of the two models, "
        "so further training could reverse it, whatever its interval says."
    )
    tested = block[block["p_value"].notna()]
    frame_tests = tested[tested["unit"] == "frames"]
    if frame_tests.empty:
        return notes
    worst = frame_tests.loc[frame_tests["p_min"].idxmax()]
    n, length = int(worst["n_units"]), int(worst["block_length"])
    floor = (
        f"With {n} frames in {math.ceil(n / length)} blocks of {length}, the sign-flip test cannot give p below "
        f"{worst['p_min']:.3g}, nor Holm over {int(worst['n_tests'])} tests below {worst['p_holm_floor']:.3g}"
    )
    hopeless = tested[tested["p_holm_floor"] >= ALPHA]
    if hopeless.empty:
        return [*notes, f"{floor}: '(min)' marks a p-value at that floor (every block agrees)."]
    return [
        *notes,
        f"{floor}: n/a marks the {len(hopeless)} of {len(tested)} tests that cannot reach p < {ALPHA} "
        "whatever the data. More test frames (or seeds) are needed before such a difference can be "
        "called significant.",
    ]


def _thesis_notes(at: pd.DataFrame, scale: int, thesis: dict | None) -> list[str]:
    """What the thesis-code and thesis-reported columns are, and why thesis numbers are
    missing where they are."""
    notes = []
    if "psnr_rgb_thesis_code" in at and at["psnr_rgb_thesis_code"].notna().any():
        notes.append(
            "Thesis code: the same model's output built as the thesis's test script built it (Y in with the "
            "64.738 typo, the correct inverse back, truncated to 8 bits instead of rounded), scored in the "
            "thesis convention."
        )
    if thesis and (thesis.get("variants") or thesis.get("excluded")):
        if scale in thesis.get("scales", []) and thesis.get("variants"):
            names = ", ".join(f"{v} = {n}" for v, n in thesis["variants"].items())
            notes.append(
                f"Thesis reported: the thesis's published means over its 30 test frames ({names}); same setup "
                "as declared in the config, not the same frames decoded the same way (see docs/departures.md)."
            )
        notes += [f"Thesis numbers not shown: {reason}." for reason in thesis.get("excluded", [])]
    return notes


def write_summaries(
    score_paths: list[str | os.PathLike],
    *,
    variants: list[str],
    baseline: str,
    comparisons: dict,
    out_dir: str | os.PathLike,
    settings: dict | None = None,
) -> dict[str, pd.DataFrame]:
    """Write ``summary.csv``, ``summary_seeds.csv`` and ``comparisons.csv`` into
    ``out_dir`` and return the three tables. ``settings``: ``report.statistics``."""
    scores = load_scores(score_paths)
    order = method_order(scores, variants)
    groups = resolve_comparisons(comparisons, variants, baseline)
    tables = {
        "summary": summarize_runs(scores, order),
        "summary_seeds": summarize_methods(scores, order),
        "comparisons": compare(scores, groups, settings),
    }
    for name, table in tables.items():
        write_csv(Path(out_dir) / f"{name}.csv", table)
    return tables


def write_scale_tables(
    *,
    comparisons_csv: str | os.PathLike,
    seeds_csv: str | os.PathLike,
    variants: list[str],
    baseline: str,
    comparisons: dict,
    scale: int,
    test_set: str,
    markdown: str | os.PathLike,
    html_path: str | os.PathLike,
    training_csv: str | os.PathLike | None = None,
    thesis: dict | None = None,
    settings: dict | None = None,
    timing_paths: list[str | os.PathLike] | None = None,
    convergence_settings: dict | None = None,
) -> None:
    """The thesis-layout tables of one scale, as Markdown and as HTML. ``comparisons_csv``
    and ``seeds_csv``: what :func:`write_summaries` wrote; ``comparisons``: the config's
    comparison groups (``report.comparisons``); ``training_csv``: the run summary's
    per-model table (convergence flags); ``thesis``: :func:`srstudy.report.published.thesis_columns`
    of the config; ``settings``: ``report.statistics``; ``timing_paths``: the upscale jobs'
    timings of this test set (the cost columns)."""
    compared = pd.read_csv(comparisons_csv, keep_default_na=False, na_values=[""])
    methods = pd.read_csv(seeds_csv)
    training = pd.read_csv(training_csv) if training_csv else None
    timings = load_timings(timing_paths) if timing_paths else None
    groups = resolve_comparisons(comparisons, variants, baseline)
    tables = scale_tables(
        compared,
        methods,
        groups,
        scale=scale,
        training=training,
        thesis=thesis,
        timings=timings,
        convergence_settings=convergence_settings,
    )
    heading = f"x{scale}: {test_set}"
    notes = describe(
        methods,
        compared,
        scale=scale,
        test_set=test_set,
        settings=settings,
        thesis=thesis,
        training=training,
        timings=timings,
        convergence_settings=convergence_settings,
    )
    write_text(markdown, to_markdown(tables, heading, notes))
    write_text(html_path, to_html(tables, heading, notes))
