"""Workflow time of an Optuna search through Snakemake, and what pruning saved.

    .venv/bin/python benchmarks/search.py                    # 16 trials, demo budget, 2 workers
    .venv/bin/python benchmarks/search.py --trials 8 --scale 2

The demo config (config/config.yaml) gets a search block: the scale given, `--trials`
trials at the demo's per-trial budget (its 'defaults'), `--workers` worker jobs, TPE and
the median pruner. The frames and h5 sets are built first (not timed); then the search's
jobs (workers and summary) are timed as one `snakemake` call with `--cores` cores and as
many gpu slots as workers. Writes results/benchmarks/search.{md,json}.
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from common import REPO, write_results

SPACE = {
    "lr": {"low": 1.0e-4, "high": 1.0e-2, "log": True},
    "activation": ["relu", "elu", "prelu"],
    "channels": [16, 32, 64],
    "batch_size": [4, 8],
}


def snakemake(work: Path, config: Path, cores: int, slots: int, *targets: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "snakemake", *targets, "-s", str(REPO / "Snakefile"), "--directory", str(work)]
        + ["--configfile", str(config), "--cores", str(cores), "--resources", f"gpu={slots}", "--quiet", "all"],
        check=True,
        cwd=work,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scale", type=int, default=3)
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()

    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["search"] = {
        "bench": {
            "scales": [args.scale],
            "trials": args.trials,
            "workers": args.workers,
            "space": SPACE,
        }
    }
    with tempfile.TemporaryDirectory(prefix="search-bench-") as tmp:
        work = Path(tmp)
        path = work / "config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        folder = f"results/search/bench/x{args.scale}"
        snakemake(work, path, args.cores, args.workers, f"results/h5/x{args.scale}/eval.h5")
        seconds = snakemake(work, path, args.cores, args.workers, f"{folder}/best.yaml")
        best = yaml.safe_load((work / folder / "best.yaml").read_text())
        table = (work / folder / "trials.md").read_text()
    compute = best["compute"]
    result = {
        "trials": args.trials,
        "workers": args.workers,
        "scale": args.scale,
        "cores": args.cores,
        "search_seconds": round(seconds, 1),
        "pruned_fraction": compute["pruned"] / compute["trials"],
        **compute,
        "best": {"trial": best["trial"], "eval_psnr_y": best["eval_psnr_y"], "settings": best["settings"]},
    }
    summary = (
        f"{args.trials} trials, {args.workers} workers, x{args.scale}, {args.cores} cores: "
        f"{seconds / 60:.1f} min of workflow time; {compute['pruned']} of {compute['trials']} trials pruned "
        f"({100 * result['pruned_fraction']:.0f}%), {100 * compute['saved_fraction']:.0f}% of the epochs saved\n"
    )
    write_results(REPO / "results/benchmarks/search", summary + "\n" + table, result)
    print(summary + table)


if __name__ == "__main__":
    main()
