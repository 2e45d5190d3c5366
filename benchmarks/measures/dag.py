"""Wall time of snakemake -n on config/thesis.yaml with a 2160p stand-in (<= 10 s).

The DAG is what a user waits for before anything runs; the stand-in is a synthetic
2160p video long enough for every frame set, so no download is needed."""

import re
import statistics
import subprocess
import sys
import time

import yaml
from common import REPO, row
from data import THESIS, load_config
from srstudy.plan.frames import frame_ids
from srstudy.stages.video import make_standin

OPTIONS = ()
RUNS = 3  # snakemake -n takes seconds: three runs, median kept, whatever --repeat says
TARGET_S = 10


def run(context, options) -> list[dict]:
    work = context.work
    config = yaml.safe_load(THESIS.read_text())
    frames_needed = max(max(frame_ids(r)) for r in load_config(THESIS)["frames"].values()) + 1
    config["video"] = {"path": str(make_standin(work / "standin_2160p60.mp4", frames_needed))}
    configfile = work / "thesis-standin.yaml"
    configfile.write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "snakemake", "-n", "-s", str(REPO / "Snakefile")]
    command += ["--configfile", str(configfile), "--cores", "8", "--resources", "gpu=1"]
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        result = subprocess.run(command, cwd=work, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if result.returncode:
            raise RuntimeError(f"snakemake -n failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    seconds = statistics.median(times)
    jobs = re.search(r"^total\s+(\d+)", result.stdout, re.M)
    jobs = f"{jobs.group(1)} jobs" if jobs else "job count not found"
    return [
        row(
            "DAG: snakemake -n, config/thesis.yaml",
            f"{seconds:.1f} s",
            "",
            None,
            f"<= {TARGET_S} s",
            seconds <= TARGET_S,
            f"median of {RUNS}; 2160p stand-in of {frames_needed} frames; {jobs}",
        )
    ]
