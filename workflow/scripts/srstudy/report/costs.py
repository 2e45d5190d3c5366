"""What the study cost: wall time and peak memory of every job, from the ``benchmark:``
file Snakemake writes for it. What each job was (rule, test set, scale, method, seed)
comes with it as data from the workflow's declaration of its jobs, not from its path."""

import html
import os

import pandas as pd

from srstudy.base.files import write_csv, write_text

COLUMNS = ["rule", "test_set", "scale", "method", "seed", "detail", "seconds", "max_rss_mb", "cpu_seconds"]
PER_MODEL_RULES = ("train", "upscale", "score")
LABELS = ("rule", "test_set", "scale", "method", "seed", "detail")


def read_benchmark(path: str | os.PathLike) -> dict:
    """Wall seconds, peak resident memory (MB) and CPU seconds of one job (the mean
    when Snakemake ran it several times with ``--benchmark-repeats``)."""
    table = pd.read_csv(path, sep="\t", na_values=["-", "NA"])
    return {
        "seconds": float(table["s"].mean()),
        "max_rss_mb": float(table["max_rss"].max()) if "max_rss" in table else float("nan"),
        "cpu_seconds": float(table["cpu_time"].mean()) if "cpu_time" in table else float("nan"),
    }


def cost_table(paths: list[str | os.PathLike], jobs: list[dict]) -> pd.DataFrame:
    """One row per job: its labels (``jobs``, in the order of ``paths``: rule, test_set,
    scale, method, seed, detail) and what its benchmark file measured; a group job's
    (labels with ``members``) one row per model it trained."""
    if len(paths) != len(jobs):
        raise ValueError(f"{len(paths)} benchmark files but {len(jobs)} job descriptions")
    rows = []
    for path, job in zip(paths, jobs, strict=True):
        missing = set(LABELS) - set(job)
        if missing:
            raise ValueError(f"job of {path} lacks {sorted(missing)}")
        measured = read_benchmark(path)
        members = job.get("members")
        if not members:
            rows.append({key: job[key] for key in LABELS} | measured)
            continue
        # A group job (several models fused in one): each model its equal share of the
        # time (fused models do the same work each step), the job's peak memory.
        share = 1 / len(members)
        for member in members:
            rows.append(
                {key: member[key] for key in LABELS}
                | {
                    "detail": f"1/{len(members)} of a group job",
                    "seconds": measured["seconds"] * share,
                    "max_rss_mb": measured["max_rss_mb"],
                    "cpu_seconds": measured["cpu_seconds"] * share,
                }
            )
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["scale"] = pd.array(table["scale"].tolist(), dtype="Int64")
    table["seed"] = pd.array(table["seed"].tolist(), dtype="Int64")
    return table


def by_rule(table: pd.DataFrame) -> pd.DataFrame:
    """Per rule: jobs, total and largest wall time, largest peak memory."""
    grouped = table.groupby("rule", sort=False)
    summary = grouped.agg(
        jobs=("seconds", "size"),
        total_seconds=("seconds", "sum"),
        max_seconds=("seconds", "max"),
        max_rss_mb=("max_rss_mb", "max"),
    )
    summary["share"] = summary["total_seconds"] / summary["total_seconds"].sum()
    return summary.sort_values("total_seconds", ascending=False).reset_index()


def by_method_and_scale(table: pd.DataFrame, rule: str) -> pd.DataFrame:
    """One rule's wall time (s) per method (rows) and scale (columns), summed over
    seeds and test sets."""
    rows = table[table["rule"] == rule]
    return rows.pivot_table(index="method", columns="scale", values="seconds", aggfunc="sum").round(1)


def to_markdown(table: pd.DataFrame) -> str:
    lines = ["# What the study cost", "", "Wall time and peak memory of every job (Snakemake `benchmark:` files).", ""]
    lines += [
        "## Per rule",
        "",
        "| rule | jobs | total s | share | slowest job s | peak MB |",
        "|---|---|---|---|---|---|",
    ]
    for row in by_rule(table).itertuples():
        lines.append(
            f"| {row.rule} | {row.jobs} | {row.total_seconds:.1f} | {row.share:.0%} | {row.max_seconds:.1f} "
            f"| {row.max_rss_mb:.0f} |"
        )
    for rule in PER_MODEL_RULES:
        pivot = by_method_and_scale(table, rule)
        if pivot.empty:
            continue
        lines += ["", f"## {rule}: wall seconds per method and scale", ""]
        lines.append("| method | " + " | ".join(f"x{s}" for s in pivot.columns) + " |")
        lines.append("|---" * (len(pivot.columns) + 1) + "|")
        for method, values in pivot.iterrows():
            lines.append(f"| {method} | " + " | ".join(f"{v:.1f}" for v in values) + " |")
    return "\n".join(lines) + "\n"


def to_html(table: pd.DataFrame) -> str:
    """The same content as a self-contained HTML page (for the Snakemake report)."""
    parts = [
        "<h1>What the study cost</h1>",
        "<h2>Per rule</h2>",
        by_rule(table).to_html(index=False, float_format="{:.1f}".format),
    ]
    for rule in PER_MODEL_RULES:
        pivot = by_method_and_scale(table, rule)
        if not pivot.empty:
            parts += [f"<h2>{html.escape(rule)}: wall seconds per method and scale</h2>", pivot.to_html()]
    parts += ["<h2>Every job</h2>", table.to_html(index=False, na_rep="", float_format="{:.2f}".format)]
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Costs</title></head><body>"
        + "".join(parts)
        + "</body></html>\n"
    )


def write_costs(
    paths: list[str | os.PathLike],
    jobs: list[dict],
    *,
    csv_path: str | os.PathLike,
    markdown_path: str | os.PathLike,
    html_path: str | os.PathLike,
) -> pd.DataFrame:
    """The cost table (:func:`cost_table`) as CSV, Markdown and HTML; returns it."""
    table = cost_table(paths, jobs)
    write_csv(csv_path, table)
    write_text(markdown_path, to_markdown(table))
    write_text(html_path, to_html(table))
    return table
