"""Work lost when a training job is killed at a random moment, against the save interval.

    .venv/bin/python benchmarks/faults.py                      # 10 SIGKILLs + 10 SIGTERMs, ~5 min on 2 cores
    .venv/bin/python benchmarks/faults.py --kills 20 --save-every-steps 25

One real CPU training run (the demo's default SRCNN on two real Big Buck Bunny frames,
scale 3) is started as a child process, killed at a random moment after it has begun
training, restarted (it resumes from its resume file), killed again, and so on; then it
runs to the end. For every kill:

    steps redone = steps the killed process had finished - steps its resume file holds

SIGKILL (a lost node, an out-of-memory kill) can save nothing: the target is at most one
save interval (``--save-every-steps``) redone. SIGTERM (scancel, a time limit, Snakemake
stopped) lets the step finish and saves: the target is 0. The final model is compared with
an uninterrupted run's (it must be bit-identical). The child counts its steps in a shared
file (a wrapper around ``TrainSteps.step``: instrumentation, the training itself is the
workflow's). Results go to stdout and results/benchmarks/faults.{md,json}.
"""

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import REPO, write_results
from data import default_spec, real_planes

# The child: the workflow's train() with TrainSteps.step wrapped to count finished steps into
# a memory-mapped int64 (readable by the parent after a SIGKILL).
CHILD = """
import json, sys
import numpy as np
from srstudy.train.loop import train
from srstudy.train.steps import TrainSteps
counter = np.memmap(sys.argv[2], dtype=np.int64, mode="r+", shape=(1,))
step = TrainSteps.step
def counted(self):
    step(self)  # eager on the CPU: the step has finished when it returns
    counter[0] += 1
TrainSteps.step = counted
args = json.loads(sys.argv[1])
train(**args)
"""


def steps_saved(state: Path, steps_per_epoch: int) -> int:
    if not state.exists():
        return 0
    saved = torch.load(state, map_location="cpu", weights_only=True)
    return saved["epoch"] * steps_per_epoch + saved.get("step", 0)


def start(args: dict, counter: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow/scripts")}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(args), str(counter)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def start_counted(args: dict, work: Path) -> tuple[subprocess.Popen, np.memmap]:
    """Start (or resume) the run with a fresh step counter it writes into."""
    counter_file = work / "counter"
    np.memmap(counter_file, dtype=np.int64, mode="w+", shape=(1,))[0] = 0
    return start(args, counter_file), np.memmap(counter_file, dtype=np.int64, mode="r", shape=(1,))


def wait_for_first_step(process: subprocess.Popen, counter: np.memmap) -> None:
    """Until the run has finished a step (or ended before one)."""
    while counter[0] == 0 and process.poll() is None:
        time.sleep(0.01)


def kill_once(args: dict, work: Path, *, number: int, rng: random.Random, window: float, per_epoch: int) -> dict:
    """Start (or resume) the run, kill it with ``number`` at a random moment once it
    trains, and count the steps done but not saved."""
    state = Path(args["state_path"])
    before = steps_saved(state, per_epoch)
    process, counter = start_counted(args, work)
    try:
        wait_for_first_step(process, counter)
        time.sleep(rng.uniform(0, window))
        sent = time.monotonic()
        process.send_signal(number)
        _, stderr = process.communicate()
        exited = time.monotonic() - sent
    finally:
        process.kill()  # when this script is interrupted
    done = before + int(counter[0])
    if process.returncode == 0 or done == args["spec"]["epochs"] * per_epoch:
        return {"finished": True}  # the kill came after the last step
    saved = steps_saved(state, per_epoch)
    return {
        "finished": False,
        "signal": signal.Signals(number).name,
        "steps_done": done,
        "steps_saved": saved,
        "steps_redone": done - saved,
        "exit_seconds": round(exited, 3),
        "message": stderr.strip().splitlines()[-1] if stderr.strip() else "",
    }


def run_to_end(args: dict, work: Path) -> tuple[dict, float]:
    """Run (or finish) the training; returns its checkpoint and the seconds from its
    first step to its end."""
    process, counter = start_counted(args, work)
    try:
        wait_for_first_step(process, counter)
        first_step = time.monotonic()
        _, stderr = process.communicate()
    finally:
        process.kill()
    if process.returncode != 0:
        raise RuntimeError(f"training failed:\n{stderr[-2000:]}")
    return torch.load(args["model_path"], map_location="cpu", weights_only=True), time.monotonic() - first_step


def campaign(number: int, kills: int, *, base: dict, work: Path, rng: random.Random, window: float, per_epoch: int):
    out = work / signal.Signals(number).name
    out.mkdir(parents=True)
    args = {
        **base,
        "model_path": str(out / "model.pt"),
        "log_path": str(out / "log.csv"),
        "state_path": str(out / "resume.pt"),
    }
    results = []
    while len(results) < kills:
        result = kill_once(args, out, number=number, rng=rng, window=window, per_epoch=per_epoch)
        if result["finished"]:
            break  # the run ended before the kill: nothing more to kill
        results.append(result)
        print(f"  {result}", flush=True)
    return results, run_to_end(args, out)[0]


def summary(name: str, results: list[dict], interval: int) -> dict:
    redone = [r["steps_redone"] for r in results]
    if not results:  # the run finished before the first kill: nothing to summarise, not a crash
        return {"kill": name, "kills": 0, "save_every_steps": interval} | dict.fromkeys(
            ("median_steps_redone", "worst_steps_redone", "within_one_interval", "median_exit_seconds")
        )
    return {
        "kill": name,
        "kills": len(results),
        "median_steps_redone": statistics.median(redone),
        "worst_steps_redone": max(redone),
        "save_every_steps": interval,
        "within_one_interval": max(redone) <= interval,
        "median_exit_seconds": statistics.median(r["exit_seconds"] for r in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10, help="kills per signal")
    parser.add_argument("--save-every-steps", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps-per-epoch", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "results/benchmarks/faults")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="srstudy-faults-") as tmp:
        work = Path(tmp)
        train_h5 = real_planes(work / "train", [0, 40])
        eval_h5 = real_planes(work / "eval", [80])
        spec = {**default_spec(), "epochs": args.epochs}
        spec["patches_per_epoch"] = args.steps_per_epoch * spec["batch_size"]
        base = {
            "train_h5": str(train_h5),
            "eval_h5": str(eval_h5),
            "spec": spec,
            "seed": 123,
            "scale": 3,
            "device": "cpu",
            "threads": 1,
            "progress": False,
            "save_every_steps": args.save_every_steps,
            "save_every_seconds": None,
        }
        straight_dir = work / "straight"
        straight_dir.mkdir()
        straight, seconds = run_to_end(
            {**base, "model_path": str(straight_dir / "model.pt"), "log_path": str(straight_dir / "log.csv")}, work
        )
        # Each kill comes 0 to 3 save intervals into a (resumed) run's training: uniform
        # over the interval, and on average one interval of net progress per kill (kills
        # closer together than the interval would make none).
        total = args.epochs * args.steps_per_epoch
        window = 3 * args.save_every_steps * seconds / total
        rows = []
        for number in (signal.SIGKILL, signal.SIGTERM):
            print(f"{signal.Signals(number).name}: {args.kills} kills at random moments", flush=True)
            results, final = campaign(
                number, args.kills, base=base, work=work, rng=rng, window=window, per_epoch=args.steps_per_epoch
            )
            identical = all(torch.equal(v, final["state_dict"][k]) for k, v in straight["state_dict"].items())
            name = signal.Signals(number).name
            rows.append({**summary(name, results, args.save_every_steps), "final_identical": identical})
    report = {
        "run": {
            "epochs": args.epochs,
            "steps_per_epoch": args.steps_per_epoch,
            "uninterrupted_seconds": round(seconds, 1),
            "torch": torch.__version__,
        },
        "rows": rows,
    }
    lines = [
        "| kill | kills | median steps redone | worst | save interval (steps) | exit after signal (s) "
        "| final model equal |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['kill']} | {r['kills']} | {r['median_steps_redone']} | {r['worst_steps_redone']} | "
            f"{r['save_every_steps']} | {r['median_exit_seconds']} | {r['final_identical']} |"
        )
    table = "\n".join(lines)
    print(table)
    write_results(args.out, table + "\n", report)


if __name__ == "__main__":
    main()
