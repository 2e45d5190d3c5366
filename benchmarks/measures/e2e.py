"""Wall time of bash run.sh study in a fresh clone of HEAD (<= 10 min on 2 cores).

The README's first command on the demo config. The clone reuses this checkout's .venv:
first-time setup is a one-off, the study is what a user reruns. Its output goes to
e2e.log beside the results."""

import os
import subprocess
import sys
import time

import pandas as pd
from common import REPO, row

OPTIONS = ()
TARGET_S = 600


def run(context, options) -> list[dict]:
    if subprocess.run(["git", "status", "--porcelain", "-uno"], cwd=REPO, capture_output=True, text=True).stdout:
        print("note: e2e runs the committed HEAD; uncommitted changes are not in it", file=sys.stderr)
    clone = context.work / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    (clone / ".venv").symlink_to(REPO / ".venv")
    log = context.out_dir / "e2e.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(log, "w") as handle:
        result = subprocess.run(["bash", "run.sh", "study"], cwd=clone, stdout=handle, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    if result.returncode:
        raise RuntimeError(f"bash run.sh study failed; see {log}")
    return [
        row(
            "end to end: bash run.sh study (demo config)",
            f"{seconds / 60:.1f} min",
            "",
            None,
            f"<= {TARGET_S // 60} min",
            seconds <= TARGET_S,
            f"{os.cpu_count()} cores, .venv set up; Y-PSNR default/bicubic dB: {gains(clone / 'results')}",
        )
    ]


def gains(results) -> str:
    """Per scale, the default variant's mean Y-PSNR over bicubic's: the run did real work."""
    summary = pd.read_csv(results / "tables/summary.csv")
    out = []
    for scale, group in summary.groupby("scale"):
        psnr = group.set_index("variant")["psnr_y"]
        out.append(f"x{scale} {psnr['default']:.2f}/{psnr['bicubic']:.2f}")
    return ", ".join(out)
