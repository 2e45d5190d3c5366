"""Re-judge a committed run's tables with the current convergence rule, from the numbers
they hold (no rerun): ``training.csv`` keeps each model's epochs, best epoch, best and last
eval PSNR and its drift over the last quarter, which is all the rule reads
(:func:`srstudy.train.convergence.classify`). Rewrites, in place:

* ``training.csv``: the verdict columns of the run summary;
* ``run.md``: the convergence lines and the per-model table;
* ``x{scale}.md``: the banner, the Flags column (each model's verdict), Δ cells within the
  two models' drift marked *unresolved*, and no interval where the test frames make fewer
  blocks than an interval needs (the table's own note gives the count).

Every measured number (PSNR, SSIM, Δ, p) stays as it was.

    PYTHONPATH=workflow/scripts .venv/bin/python benchmarks/reverdict.py benchmarks/results/<run>/ \\
        --gpu-report benchmarks/results/<gpu report stem>
"""

import argparse
import json
import math
import re
from pathlib import Path

import pandas as pd
from srstudy.base.files import write_csv, write_text
from srstudy.report import statistics
from srstudy.report.layout import to_markdown
from srstudy.report.run_summary import models_table
from srstudy.train import convergence

BLOCKS = re.compile(r"With (\d+) frames in (\d+) blocks of (\d+)")
# Flags the verdicts replace: the old rule's, and an earlier rewrite's (so it can rerun).
REPLACED_FLAGS = ("not converged", *convergence.VERDICTS)


def rejudge(training: pd.DataFrame, settings: dict | None = None) -> pd.DataFrame:
    """``training.csv`` with the verdict columns recomputed from its own numbers."""
    rows = []
    for row in training.to_dict("records"):
        drift = row.pop("last_quarter_gain_db", row.get("drift_db", math.nan))
        result = convergence.classify(
            epochs=int(row["epochs"]),
            best_epoch=int(row["best_epoch"]),
            best_db=float(row["best_eval_psnr_y"]),
            last_db=float(row["last_eval_psnr_y"]),
            drift_db=float(drift),
            settings=settings,
        )
        rows.append(row | result.columns())
    return pd.DataFrame(rows)


def rewrite_run(path: Path, models: pd.DataFrame, settings: dict | None) -> None:
    text = path.read_text()
    verdicts = convergence.counts_text(models["verdict"])
    below = int((models["best_eval_psnr_y"] < models["bicubic_eval_psnr_y"]).sum())
    text = re.sub(
        r"\*\*WARNING: .*?\*\*",
        f"**WARNING: {verdicts}. The comparison tables reflect how fast each "
        "variant trains in this budget, not its final quality.**",
        text,
        count=1,
        flags=re.S,
    )
    text = re.sub(
        r"^\d+ models; .*$",
        f"{len(models)} models: {verdicts}; {below} with a best eval PSNR below "
        f"bicubic's.\n\n{convergence.describe(settings)}",
        text,
        count=1,
        flags=re.M,
    )
    head, _, _ = text.partition("## Every model: convergence")
    table = to_markdown([models_table(models)], "", []).split("\n", 2)[2]
    write_text(path, head + table)


def rewrite_scale(path: Path, models: pd.DataFrame, settings: dict | None) -> None:
    rule = convergence.settings_of(settings)
    scale = int(path.stem[1:])
    at = models[models["scale"] == scale]
    verdicts = {v: list(g["verdict"]) for v, g in at.groupby("variant")}
    drifts = {v: float(g["remaining_drift_db"].max()) for v, g in at.groupby("variant")}
    text = path.read_text()
    found = BLOCKS.search(text)
    no_interval = found and int(found.group(2)) < statistics.MIN_BLOCKS
    all_verdicts = list(at["verdict"])
    text = re.sub(
        r"\*\*WARNING: .*?\*\*",
        f"**WARNING: at x{scale}, {convergence.counts_text(all_verdicts)}: this comparison reflects how fast each "
        "variant trains, not its final quality.**",
        text,
        count=1,
    )
    out, header = [], None
    for line in text.splitlines():
        if line.startswith("| Variant"):
            header = [c.strip() for c in line.strip("|").split("|")]
            reference = re.search(r"ΔPSNR vs (\S+) \[95% CI\]", line).group(1)
        elif header and line.startswith("| ") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            name = re.sub(r"\*\*(.+?)\*\*.*", r"\1", cells[0])
            flags = [f for f in cells[1].split(", ") if f and not f.startswith(REPLACED_FLAGS)]
            seeds = verdicts.get(name, [])
            flags += [v for v in convergence.VERDICTS[1:] if v in seeds]
            cells[1] = ", ".join(flags)
            for i, title in enumerate(header):
                if title.startswith(("ΔPSNR vs", "ΔSSIM vs")) and "bicubic" not in title and no_interval:
                    cells[i] = cells[i].split(" [")[0]
            psnr = header.index(f"ΔPSNR vs {reference} [95% CI]")
            cells[psnr] = cells[psnr].replace(" unresolved", "")
            if name not in (reference, "bicubic"):
                delta = float(cells[psnr].split(" ")[0])
                pair = [drifts.get(name, math.inf), drifts.get(reference, math.inf)]
                if not convergence.resolved(delta, pair, rule["resolve_factor"]):
                    cells[psnr] += " unresolved"
            line = "| " + " | ".join(cells) + " |"
        elif not line.startswith("|"):
            header = None if line.strip() else header
        out.append(line)
    text = "\n".join(out) + "\n"
    if no_interval and "No interval where" not in text:
        n, blocks, length = found.groups()
        text = text.replace(
            "p (Holm):",
            f"No interval where {n} frames make {blocks} blocks of {length}; an interval needs at least "
            f"{statistics.MIN_BLOCKS}: a bootstrap of so few blocks is narrower than the evidence.\n\n"
            f"*unresolved*: the difference is not larger than {rule['resolve_factor']:g}x the larger training drift "
            "of the two models (run.md).\n\np (Holm):",
            1,
        )
    text = text.replace("none with fewer than 3 blocks", f"none with fewer than {statistics.MIN_BLOCKS} blocks")
    write_text(path, text)


def rewrite_gpu_report(stem: Path, models: pd.DataFrame) -> None:
    """The GPU report's convergence target (``<stem>.json`` and ``.md``) from ``models``."""
    report = json.loads(stem.with_suffix(".json").read_text())
    verdicts = {f"x{r.scale}/{r.variant}/seed{r.seed}": r.verdict for r in models.itertuples()}
    report["workflow"]["verdicts"] = verdicts
    target = "config/gpu.yaml: every model converged (report.convergence, srstudy/train/convergence.py)"
    measured = convergence.counts_text(verdicts.values())
    met = all(v == convergence.CONVERGED for v in verdicts.values())
    text = stem.with_suffix(".md").read_text()
    for row in report["targets"]:
        if row["target"].startswith("config/gpu.yaml: every eval PSNR flattened"):
            old = f"| {row['target']} | {row['measured']} |"
            assert old in text, f"{stem}.md: no row '{row['target']}'"
            text = text.replace(old, f"| {target} | {measured} |")
            row.update(target=target, measured=measured, met=met)
    write_text(stem.with_suffix(".json"), json.dumps(report, indent=1) + "\n")
    write_text(stem.with_suffix(".md"), text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--gpu-report", type=Path, help="the GPU report's path without suffix, to update too")
    args = parser.parse_args()
    models = rejudge(pd.read_csv(args.folder / "training.csv"))
    write_csv(args.folder / "training.csv", models)
    rewrite_run(args.folder / "run.md", models, None)
    for path in sorted(args.folder.glob("x*.md")):
        rewrite_scale(path, models, None)
    if args.gpu_report:
        rewrite_gpu_report(args.gpu_report, models)
    print(convergence.counts_text(models["verdict"]))


if __name__ == "__main__":
    main()
