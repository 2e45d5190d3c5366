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
  mean, difference to the group's reference and to bicubic, and a two-sided paired
  Wilcoxon signed-rank test over frames against the reference (per-frame scores
  averaged over seeds first).
* ``x{scale}.md`` / ``x{scale}.html``: those comparisons in the thesis's layout (one
  table per group, each in the thesis's RGB convention and the field's Y convention),
  3 decimals.
"""

import html
import math
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from srstudy.images import atomic_file
from srstudy.methods import BICUBIC
from srstudy.metrics import METRICS

LABELS = {"psnr_rgb": "PSNR", "ssim_rgb": "SSIM", "psnr_y": "PSNR", "ssim_y": "SSIM"}
CONVENTIONS = {
    "rgb": ("Thesis convention: RGB, all channels, no border crop (scikit-image)", "psnr_rgb", "ssim_rgb"),
    "y": ("Field convention: Y (BT.601), `scale` px border crop, Gaussian SSIM", "psnr_y", "ssim_y"),
}


# --- loading ------------------------------------------------------------------------


def load_scores(paths: list[str | os.PathLike]) -> pd.DataFrame:
    """Every score file in one long frame with columns ``scale, variant, seed, test_set,
    frame`` and the metrics; ``seed`` is <NA> for bicubic. What each row scores is read
    from the file's own columns (``method`` is a variant or bicubic), never its path."""
    parts = []
    for path in paths:
        table = pd.read_csv(path, dtype={"seed": "Int64", "method": str, "test_set": str})
        missing = {"scale", "method", "test_set", "frame", "seed", *METRICS} - set(table.columns)
        if missing:
            raise ValueError(f"{path}: not a score file, columns {sorted(missing)} are missing (rerun its score job)")
        if table[["scale", "method", "test_set"]].isna().any().any():
            raise ValueError(f"{path}: rows without scale, method or test set (rerun its score job)")
        table = table.rename(columns={"method": "variant"})
        parts.append(table[["scale", "variant", "seed", "test_set", "frame", *METRICS]])
    if not parts:
        raise ValueError("no score files given")
    return pd.concat(parts, ignore_index=True)


def method_order(scores: pd.DataFrame, variants: list[str]) -> list[str]:
    """Bicubic first, then the variants in config order, then anything else."""
    present = list(dict.fromkeys(scores["variant"]))
    known = [BICUBIC, *variants]
    return [m for m in known if m in present] + sorted(m for m in present if m not in known)


# --- statistics ----------------------------------------------------------------------


def ci95_halfwidth(values) -> float:
    """Half-width of the two-sided t-based 95% confidence interval of the mean."""
    values = np.asarray(values, dtype=np.float64)
    n = values.size
    if n < 2:
        return math.nan
    return float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n))


def paired_wilcoxon(x, y) -> tuple[float, float]:
    """Two-sided Wilcoxon signed-rank test of paired samples (``scipy.stats.wilcoxon``
    with its defaults); ``(0, 1)`` when every difference is zero, NaN without pairs."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.size == 0:
        return math.nan, math.nan
    if np.all(x == y):
        return 0.0, 1.0
    result = stats.wilcoxon(x, y)
    return float(result.statistic), float(result.pvalue)


def summarize_runs(scores: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """One row per scale x method x seed: n_frames and mean, std, CI95 of each metric."""
    rows = []
    for (scale, variant, seed), group in scores.groupby(["scale", "variant", "seed"], dropna=False, sort=False):
        row = {"scale": scale, "variant": variant, "seed": seed, "n_frames": len(group)}
        for metric in METRICS:
            values = group[metric].to_numpy(np.float64)
            row[metric] = values.mean()
            row[f"{metric}_std"] = values.std(ddof=1) if values.size > 1 else math.nan
            row[f"{metric}_ci95"] = ci95_halfwidth(values)
        rows.append(row)
    table = pd.DataFrame(rows)
    table["seed"] = table["seed"].astype("Int64")
    return _sorted(table, order, ["seed"])


def frame_means(scores: pd.DataFrame) -> pd.DataFrame:
    """Per scale x method x frame: each metric averaged over the method's seeds."""
    return scores.groupby(["scale", "variant", "frame"], sort=True)[list(METRICS)].mean().reset_index()


def summarize_methods(scores: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """One row per scale x method, across seeds: the mean (over frames, of per-frame
    scores averaged over seeds), its CI95 over frames, and the spread of seed means."""
    per_frame = frame_means(scores)
    runs = summarize_runs(scores, order)
    rows = []
    for (scale, variant), group in per_frame.groupby(["scale", "variant"], sort=False):
        seeds = runs[(runs["scale"] == scale) & (runs["variant"] == variant)]
        row = {"scale": scale, "variant": variant, "n_seeds": len(seeds), "n_frames": len(group)}
        for metric in METRICS:
            values = group[metric].to_numpy(np.float64)
            seed_means = seeds[metric].to_numpy(np.float64)
            row[metric] = values.mean()
            row[f"{metric}_ci95"] = ci95_halfwidth(values)
            row[f"{metric}_seed_std"] = seed_means.std(ddof=1) if seed_means.size > 1 else math.nan
            row[f"{metric}_seed_min"] = seed_means.min()
            row[f"{metric}_seed_max"] = seed_means.max()
        rows.append(row)
    return _sorted(pd.DataFrame(rows), order, [])


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


def compare(scores: pd.DataFrame, groups: list[dict]) -> pd.DataFrame:
    """Long table: per group, scale, method (bicubic, the reference, the members) and
    metric: mean, the reference's mean, differences to the reference and to bicubic,
    and the paired Wilcoxon test over frames against the reference."""
    per_frame = frame_means(scores)
    rows = []
    for group in groups:
        for scale in sorted(per_frame["scale"].unique()):
            at_scale = per_frame[per_frame["scale"] == scale]
            by_method = {m: g.set_index("frame") for m, g in at_scale.groupby("variant")}
            reference = group["reference"]
            for method in [BICUBIC, reference, *group["variants"]]:
                if method not in by_method:
                    raise ValueError(f"comparison '{group['name']}': no scores for '{method}' at x{scale}")
                for metric in METRICS:
                    row = {
                        "comparison": group["name"],
                        "scale": scale,
                        "variant": method,
                        "reference": reference,
                        "metric": metric,
                        **_compare_one(by_method, method, reference, metric),
                    }
                    rows.append(row)
    return pd.DataFrame(rows)


def _compare_one(by_method: dict, method: str, reference: str, metric: str) -> dict:
    values = by_method[method][metric]
    ref = by_method[reference][metric]
    bicubic = by_method[BICUBIC][metric] if BICUBIC in by_method else None
    frames = values.index.intersection(ref.index)
    if len(frames) != len(values) or len(frames) != len(ref):
        raise ValueError(f"{method} and {reference} were scored on different frames")
    statistic, p_value = (math.nan, math.nan) if method == reference else paired_wilcoxon(values[frames], ref[frames])
    return {
        "n_frames": len(frames),
        "mean": values.mean(),
        "ci95": ci95_halfwidth(values),
        "reference_mean": ref.mean(),
        "delta_reference": values.mean() - ref.mean(),
        "delta_bicubic": values.mean() - bicubic.mean() if bicubic is not None else math.nan,
        "wilcoxon_statistic": statistic,
        "p_value": p_value,
    }


# --- formatting ----------------------------------------------------------------------


def fmt(value, signed: bool = False) -> str:
    """3 decimals; '–' for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    text = f"{value:+.3f}" if signed else f"{value:.3f}"
    return "0.000" if text in ("+0.000", "-0.000") else text


def fmt_p(value) -> str:
    if value is None or math.isnan(value):
        return "–"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def scale_tables(comparisons: pd.DataFrame, methods: pd.DataFrame, groups: list[dict], scale: int) -> list[dict]:
    """The tables of one scale: per group and convention, ``{title, header, rows}``."""
    seeds = methods[methods["scale"] == scale].set_index("variant")
    several_seeds = bool((seeds["n_seeds"] > 1).any())
    tables = []
    for group in groups:
        block = comparisons[(comparisons["comparison"] == group["name"]) & (comparisons["scale"] == scale)]
        for key, (subtitle, psnr, ssim) in CONVENTIONS.items():
            ref = group["reference"]
            header = [
                "Variant",
                "PSNR (dB)",
                "± CI95",
                "SSIM",
                f"ΔPSNR vs {ref}",
                "ΔPSNR vs bicubic",
                f"ΔSSIM vs {ref}",
                f"p PSNR vs {ref}",
                f"p SSIM vs {ref}",
            ]
            if several_seeds:
                header.insert(3, "seed sd")
            rows = []
            for method in dict.fromkeys(block["variant"]):
                p = block[(block["variant"] == method) & (block["metric"] == psnr)].iloc[0]
                s = block[(block["variant"] == method) & (block["metric"] == ssim)].iloc[0]
                name = f"**{method}** (reference)" if method == ref else method
                row = [
                    name,
                    fmt(p["mean"]),
                    fmt(p["ci95"]),
                    fmt(s["mean"]),
                    fmt(p["delta_reference"], True),
                    fmt(p["delta_bicubic"], True),
                    fmt(s["delta_reference"], True),
                    fmt_p(p["p_value"]),
                    fmt_p(s["p_value"]),
                ]
                if several_seeds:
                    row.insert(3, fmt(seeds.loc[method, f"{psnr}_seed_std"]))
                rows.append(row)
            tables.append(
                {"group": group["name"], "convention": key, "title": group["title"], "subtitle": subtitle}
                | {"header": header, "rows": rows}
            )
    return tables


def describe(methods: pd.DataFrame, scale: int, test_set: str) -> str:
    at = methods[methods["scale"] == scale]
    n_frames = sorted(set(at["n_frames"]))
    seeds = ", ".join(f"{v}: {n}" for v, n in zip(at["variant"], at["n_seeds"], strict=True) if v != BICUBIC)
    return (
        f"Scale x{scale}, {test_set}: means over {'/'.join(map(str, n_frames))} test frames "
        f"(per-frame scores averaged over seeds; seeds per variant: {seeds}). "
        "CI95: t-based 95% confidence half-width over frames. Δ: difference of means. "
        "p: two-sided paired Wilcoxon signed-rank test over frames against the group's reference."
    )


def to_markdown(tables: list[dict], heading: str, note: str) -> str:
    lines = [f"# {heading}", "", note, ""]
    current = None
    for table in tables:
        if table["group"] != current:
            lines += [f"## {table['title']}", ""]
            current = table["group"]
        lines += [f"### {table['subtitle']}", ""]
        lines.append("| " + " | ".join(table["header"]) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(table["header"]) - 1)) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in table["rows"]]
        lines.append("")
    return "\n".join(lines)


def to_html(tables: list[dict], heading: str, note: str) -> str:
    """A self-contained HTML page of the same tables (for the Snakemake report)."""

    def cell(text: str, tag: str = "td") -> str:
        text = html.escape(text)
        text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
        text = re.sub(r"`(.+?)`", r"<code>\1</code>", text)
        return f"<{tag}>{text}</{tag}>"

    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(heading)}</title><style>",
        "body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;margin-bottom:1.5em}",
        "td,th{border:1px solid #bbb;padding:2px 8px;text-align:right}td:first-child{text-align:left}",
        "th{background:#eee}</style></head><body>",
        f"<h1>{html.escape(heading)}</h1><p>{html.escape(note)}</p>",
    ]
    current = None
    for table in tables:
        if table["group"] != current:
            parts.append(f"<h2>{html.escape(table['title'])}</h2>")
            current = table["group"]
        parts.append(cell(table["subtitle"], "h3"))
        parts.append("<table><tr>" + "".join(cell(h, "th") for h in table["header"]) + "</tr>")
        parts += ["<tr>" + "".join(cell(c) for c in row) + "</tr>" for row in table["rows"]]
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


# --- the job -------------------------------------------------------------------------


def write_summaries(
    score_paths: list[str | os.PathLike],
    variants: list[str],
    baseline: str,
    comparisons: dict,
    out_dir: str | os.PathLike,
) -> dict[str, pd.DataFrame]:
    """Write ``summary.csv``, ``summary_seeds.csv`` and ``comparisons.csv`` into
    ``out_dir`` and return the three tables."""
    scores = load_scores(score_paths)
    order = method_order(scores, variants)
    groups = resolve_comparisons(comparisons, variants, baseline)
    tables = {
        "summary": summarize_runs(scores, order),
        "summary_seeds": summarize_methods(scores, order),
        "comparisons": compare(scores, groups),
    }
    for name, table in tables.items():
        write_csv(table, Path(out_dir) / f"{name}.csv")
    return tables


def write_scale_tables(
    comparisons_csv: str | os.PathLike,
    seeds_csv: str | os.PathLike,
    variants: list[str],
    baseline: str,
    comparisons: dict,
    scale: int,
    test_set: str,
    markdown: str | os.PathLike,
    html_path: str | os.PathLike,
) -> None:
    """The thesis-layout tables of one scale, as Markdown and as HTML."""
    compared = pd.read_csv(comparisons_csv)
    methods = pd.read_csv(seeds_csv)
    groups = resolve_comparisons(comparisons, variants, baseline)
    tables = scale_tables(compared, methods, groups, scale)
    heading = f"x{scale}: {test_set}"
    note = describe(methods, scale, test_set)
    write_text(markdown, to_markdown(tables, heading, note))
    write_text(html_path, to_html(tables, heading, note))


def write_csv(table: pd.DataFrame, path: str | os.PathLike) -> None:
    with atomic_file(path, ".csv") as tmp:
        table.to_csv(tmp, index=False)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _sorted(table: pd.DataFrame, order: list[str], extra: list[str]) -> pd.DataFrame:
    rank = {m: i for i, m in enumerate(order)}
    key = table["variant"].map(lambda v: rank.get(v, len(rank)))
    table = table.assign(_rank=key).sort_values(["scale", "_rank", *extra], na_position="first", kind="stable")
    return table.drop(columns="_rank").reset_index(drop=True)
