"""What the study cost: wall time and peak memory of every job, from the ``benchmark:``
file Snakemake writes for it (``{root}benchmarks/<rule>/[x<scale>/][<variant>/][seed<n>].tsv``)."""

import html
import os
import re
from pathlib import Path

import pandas as pd

from srstudy.tables import write_csv, write_text

COLUMNS = ["rule", "test_set", "scale", "variant", "seed", "detail", "seconds", "max_rss_mb", "cpu_seconds"]
PER_MODEL_RULES = ("train", "upscale", "score")
_OOD = re.compile(r"(?:^|/)ood/(?P<name>[A-Za-z0-9_-]+)/benchmarks/")


def describe_path(path: str | os.PathLike) -> dict:
    """Rule, test set, scale, variant, seed (and any other part) of a benchmark path."""
    text = Path(path).as_posix()
    head, _, tail = text.partition("benchmarks/")
    if not tail:
        raise ValueError(f"not a benchmark path (.../benchmarks/<rule>/...): {path}")
    ood = _OOD.search(text)
    parts = tail.removesuffix(".tsv").split("/")
    info = {"rule": parts[0], "test_set": ood["name"] if ood else "study"}
    info |= {"scale": pd.NA, "variant": "", "seed": pd.NA, "detail": ""}
    for part in parts[1:]:
        if match := re.fullmatch(r"x(\d+)", part):
            info["scale"] = int(match[1])
        elif match := re.fullmatch(r"seed(\d+)", part):
            info["seed"] = int(match[1])
        elif info["rule"] in PER_MODEL_RULES and not info["variant"]:
            info["variant"] = part
        else:
            info["detail"] = part
    return info


def read_benchmark(path: str | os.PathLike) -> dict:
    """Wall seconds, peak resident memory (MB) and CPU seconds of one job (the mean
    when Snakemake ran it several times with ``--benchmark-repeats``)."""
    table = pd.read_csv(path, sep="\t", na_values=["-", "NA"])
    return {
        "seconds": float(table["s"].mean()),
        "max_rss_mb": float(table["max_rss"].max()) if "max_rss" in table else float("nan"),
        "cpu_seconds": float(table["cpu_time"].mean()) if "cpu_time" in table else float("nan"),
    }


def cost_table(paths: list[str | os.PathLike]) -> pd.DataFrame:
    rows = [describe_path(path) | read_benchmark(path) for path in paths]
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["scale"] = table["scale"].astype("Int64")
    table["seed"] = table["seed"].astype("Int64")
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


def by_variant_and_scale(table: pd.DataFrame, rule: str) -> pd.DataFrame:
    """One rule's wall time (s) per variant (rows) and scale (columns), summed over
    seeds and test sets."""
    rows = table[table["rule"] == rule]
    return rows.pivot_table(index="variant", columns="scale", values="seconds", aggfunc="sum").round(1)


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
        pivot = by_variant_and_scale(table, rule)
        if pivot.empty:
            continue
        lines += ["", f"## {rule}: wall seconds per variant and scale", ""]
        lines.append("| variant | " + " | ".join(f"x{s}" for s in pivot.columns) + " |")
        lines.append("|---" * (len(pivot.columns) + 1) + "|")
        for variant, values in pivot.iterrows():
            lines.append(f"| {variant} | " + " | ".join(f"{v:.1f}" for v in values) + " |")
    return "\n".join(lines) + "\n"


def to_html(table: pd.DataFrame) -> str:
    """The same content as a self-contained HTML page (for the Snakemake report)."""
    parts = [
        "<h1>What the study cost</h1>",
        "<h2>Per rule</h2>",
        by_rule(table).to_html(index=False, float_format="{:.1f}".format),
    ]
    for rule in PER_MODEL_RULES:
        pivot = by_variant_and_scale(table, rule)
        if not pivot.empty:
            parts += [f"<h2>{html.escape(rule)}: wall seconds per variant and scale</h2>", pivot.to_html()]
    parts += ["<h2>Every job</h2>", table.to_html(index=False, na_rep="", float_format="{:.2f}".format)]
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Costs</title></head><body>"
        + "".join(parts)
        + "</body></html>\n"
    )


def write_costs(paths: list[str | os.PathLike], csv_path, markdown_path, html_path) -> pd.DataFrame:
    table = cost_table(paths)
    write_csv(table, csv_path)
    write_text(markdown_path, to_markdown(table))
    write_text(html_path, to_html(table))
    return table
