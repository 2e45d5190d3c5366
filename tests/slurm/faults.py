"""Fault scenarios on the real single-node SLURM (run by run_slurm_test.sh after the
happy path, on the same daemons and in the same working directory, so the h5 sets exist).

    python faults.py REPO WORK LOGDIR --slurmd-pid PID [--load N] [--no-lost-node]

Tiny trainings of one spec, slowed down by ``progress.step_delay_seconds`` (not by big
data) so they can be hit mid-epoch, each under its own variant name:

  run A (one Snakemake run, the scenarios side by side, the project's profile: retries 1):
    warned    first attempt's time limit is 3 minutes: SLURM's warning signal (the
              profile's --signal) arrives, the job saves and fails, the retry resumes
    timelimit first attempt's limit is 1 minute, no warning: SLURM kills it at the limit
              (SIGTERM, then SIGKILL after KillWait), the retry resumes
    cancel    scancel once it has saved progress; Snakemake's retry resumes
    requeue   scontrol requeue once it has saved progress (preemption); SLURM reruns
              the same job, which resumes
  run B (skip: --no-lost-node): a node lost mid-job: slurmd and the job's processes are
    SIGKILLed once 'before' has finished and 'nodeloss' has saved progress; SLURM marks
    the node down after SlurmdTimeout and requeues the job (the profile's slurm-requeue),
    slurmd is started again at once (before the requeued job may start: cred_expire),
    the job resumes. Snakemake's own polls miss the NODE_FAIL; the workflow's end-of-run
    report must name it. Nothing finished (run A's models, 'before') is submitted again.
  load (--load N, beside run A): N small jobs (load.smk) through the project's profile
    as shipped all complete; every SLURM command the run calls is counted (a PATH of
    wrappers): the status queries must come one per poll interval of the profile.

Every model must equal an uninterrupted local run of the same spec, bit for bit. Prints
one line per check; exits 1 on the first failure. Needs SLURM_CONF (set by the script).
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch
import yaml

# One spec for every scenario: 2 epochs of 40 steps, progress saved every 5 steps; with
# the step delay a training takes ~25 s, so a scenario can hit it mid-epoch.
STEPS, BATCH, DELAY = 40, 16, 0.3
SPEC = {
    "epochs": 2,
    "patches_per_epoch": STEPS * BATCH,
    "batch_size": BATCH,
    "lr": 1.0e-3,
    "layers": [{"kernel": 9, "channels": 8}, {"kernel": 5, "channels": 4}, {"kernel": 5, "channels": 1}],
}
# The time-limited variants train longer than their first attempt's limit: 'timelimit'
# ~100 s against 1 minute; 'warned' ~150 s, still training when the warning comes (at
# most 120 s in, see write_profile).
LONG = {"patches_per_epoch": 160 * BATCH}
WARNED = {"patches_per_epoch": 240 * BATCH}
SUBMITTED = re.compile(r"^Job \d+ has been submitted with SLURM jobid (\d+) \(log: .*/rule_(\w+)/([^/]*)/\d+\.log\)")


def log(message: str) -> None:
    print(f"[faults] {message}", flush=True)


def fail(message: str) -> None:
    log(f"FAIL: {message}")
    sys.exit(1)


def write_config(repo: Path, work: Path, variants: dict, seeds: list[int] | None = None) -> Path:
    config = yaml.safe_load((repo / ".test/config/config.yaml").read_text())
    config.update(
        {
            "scales": [2],
            "ood_tests": {},
            "device": "cpu",
            "progress": {"save_every_steps": 5, "save_every_seconds": None, "step_delay_seconds": DELAY},
            "defaults": {**config["defaults"], **SPEC, **({"seeds": seeds} if seeds else {})},
            "variants": variants,
            "baseline_variant": next(iter(variants)),
            "videos": {"variants": []},
        }
    )
    config["report"]["comparisons"] = {"all_variants": {}}
    path = work / "faults.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def write_profile(repo: Path, out: Path) -> Path:
    """The project's profiles (retries, requeue; the rules' resources and warning signal)
    with this node's memory, quick polling, and a 1-minute first attempt for the
    time-limited variants: ``out`` (for --profile) and ``out/workflow`` (for
    --workflow-profile, in place of profiles/default, whose keys would win)."""
    profile = yaml.safe_load((repo / "profiles/slurm/config.yaml").read_text())
    workflow = yaml.safe_load((repo / "profiles/default/config.yaml").read_text())
    for resources in workflow["set-resources"].values():
        resources["mem_mb"] = 1000
    train = workflow["set-resources"]["train"] = dict(workflow["set-resources"]["train"])
    # First attempts: 'timelimit' gets 1 minute and no warning (SLURM kills it, with a
    # SIGTERM KillWait before the SIGKILL); 'warned' 3 minutes and the warning 60 s ahead.
    # SLURM may send a warning up to 60 s before its time (seen: 38 s), so it comes 60-120 s
    # in: after training started (a job's Snakemake and imports take 10-30 s on a loaded
    # machine; a SIGTERM before the script's handler ends the job unsaved) and before it ends.
    runtime = train["runtime"]  # no braces: Snakemake formats the expression first
    train["runtime"] = (
        f"(1 if wildcards.variant == 'timelimit' else 3 if wildcards.variant == 'warned' else {runtime}) "
        f"if attempt == 1 else {runtime}"
    )
    warning = re.sub(r"@\d+", "@60", train["slurm_extra"])
    train["slurm_extra"] = f"'' if wildcards.variant == 'timelimit' else {warning}"
    profile.update({"latency-wait": 5, "max-status-checks-per-second": 5, "slurm-init-seconds-before-status-checks": 2})
    (out / "workflow").mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    (out / "workflow/config.yaml").write_text(yaml.safe_dump(workflow, sort_keys=False))
    return out


def write_load_profile(repo: Path, out: Path) -> Path:
    """The project's profile as shipped (jobs in flight, polling), with this node's memory
    (load.smk's rule has no entry in profiles/default: the study's rules' resources)."""
    profile = yaml.safe_load((repo / "profiles/slurm/config.yaml").read_text())
    profile["default-resources"] = {"runtime": 60, "mem_mb": 1000}
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return out


def model_dir(work: Path, variant: str, seed: int = 123) -> Path:
    return work / f"results/models/x2/{variant}/seed{seed}"


def target(variant: str, seed: int = 123) -> str:
    return f"results/models/x2/{variant}/seed{seed}/model.pt"


class Run:
    """A Snakemake run in the background; its output is copied to a log file and scanned
    for SLURM job ids (variant -> job ids, in submission order)."""

    def __init__(self, command: list[str], logfile: Path, env: dict | None = None):
        self.logfile, self.jobs, self.lines = logfile, {}, []
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, env=env
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        with open(self.logfile, "w") as out:
            for line in self.process.stdout:
                out.write(line)
                out.flush()
                self.lines.append(line)
                if match := SUBMITTED.match(line):
                    slurm_id, rule, where = match.groups()
                    self.jobs.setdefault(where if rule == "train" else rule, []).append(slurm_id)

    def job(self, variant: str, seed: int = 123) -> str | None:
        ids = self.jobs.get(f"2_{variant}_{seed}")
        return ids[-1] if ids else None

    def text(self) -> str:
        return "".join(self.lines)

    def wait(self, timeout: float) -> int:
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
            fail(f"snakemake still running after {timeout:.0f}s (log: {self.logfile})")
        self.reader.join(timeout=10)
        return self.process.returncode


def wait_until(what: str, ready, timeout: float, run: Run | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if run is not None and run.process.poll() is not None:
            fail(f"snakemake ended (exit {run.process.returncode}) before {what} (log: {run.logfile})")
        if time.monotonic() > deadline:
            fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def saved_step(folder: Path) -> tuple[int, int] | None:
    """(epochs finished, steps of the next) in a resume file, None before the first save."""
    try:
        state = torch.load(folder / "resume.pt", map_location="cpu", weights_only=True)
    except (FileNotFoundError, RuntimeError, EOFError):
        return None
    return state["epoch"], state.get("step", 0)


def sacct_states(job_id: str) -> list[str]:
    """Every run of a SLURM job (requeues included), oldest first."""
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-D", "-j", job_id, "-o", "State"], capture_output=True, text=True, check=True
    ).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def reference(repo: Path, work: Path, variant: str, out: Path) -> dict:
    """An uninterrupted local run of ``variant``'s spec (without the step delay: it
    changes no result)."""
    from srstudy.plan.config import validate_schema
    from srstudy.plan.variants import variant_spec
    from srstudy.train.loop import train

    config = validate_schema(yaml.safe_load((work / "faults.yaml").read_text()), repo / SCHEMA)
    spec = {k: v for k, v in variant_spec(config, variant).items() if k != "seeds"}
    out.mkdir(parents=True, exist_ok=True)
    h5 = [work / f"results/h5/x2/{split}.h5" for split in ("train", "eval")]
    return train(
        *h5,
        spec,
        seed=123,
        scale=2,
        model_path=out / "model.pt",
        log_path=out / "log.csv",
        device="cpu",
        threads=1,
        progress=False,
    )


SCHEMA = "workflow/schemas/config.schema.yaml"
# Run A's variants and their spec overrides (each one's model is checked against an
# uninterrupted run of its spec).
RUN_A = {"warned": WARNED, "timelimit": LONG, "cancel": {}, "requeue": {}}


def same_model(work: Path, variant: str, expected: dict) -> bool:
    got = torch.load(model_dir(work, variant) / "model.pt", map_location="cpu", weights_only=True)
    return got["epoch"] == expected["epoch"] and all(
        torch.equal(value, got["state_dict"][key]) for key, value in expected["state_dict"].items()
    )


def slurm_log(work: Path, variant: str, job: str) -> str:
    """A SLURM job's output (the job's stderr: Snakemake's and the script's messages)."""
    return (work / f".snakemake/slurm_logs/rule_train/2_{variant}_123/{job}.log").read_text(errors="replace")


def train_log(work: Path, variant: str) -> str:
    return (work / f"results/logs/train/x2/{variant}/seed123.log").read_text()


def check(condition: bool, message: str) -> None:
    if not condition:
        fail(message)
    log(f"ok: {message}")


def resumed_mid_epoch(work: Path, variant: str) -> str | None:
    match = re.search(r"resuming \S+ x2 seed 123 at epoch (\d+) step (\d+)", train_log(work, variant))
    return match.group(0) if match else None


def resumed(work: Path, variant: str) -> str | None:
    """A resume from saved progress, mid-epoch or at an epoch's end: where a time limit
    lands depends on the machine's speed (on a loaded one, in the end-of-epoch eval)."""
    match = re.search(r"resuming \S+ x2 seed 123 (at epoch \d+ step \d+|after epoch \d+)", train_log(work, variant))
    return match.group(0) if match else None


def descendants(pid: int) -> list[int]:
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout.split()
    return [c for child in map(int, children) for c in (child, *descendants(child))]


def job_processes(job_id: str) -> list[int]:
    """slurmstepd of every step of ``job_id`` and everything under them."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                command = (proc / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if command.startswith(f"slurmstepd: [{job_id}."):
                pids += [int(proc.name), *descendants(int(proc.name))]
    return pids


def scenario_a(args, snakemake: list[str], expected: dict[str, dict], timeout: float) -> None:
    variants = list(RUN_A)
    started = time.monotonic()
    run = Run([*snakemake, *map(target, variants)], args.logdir / "faults_a.log")
    done = set()
    while run.process.poll() is None:
        for variant, action in (("cancel", ["scancel"]), ("requeue", ["scontrol", "requeue"])):
            job = run.job(variant)
            saved = saved_step(model_dir(args.work, variant))
            if variant not in done and job and saved:
                subprocess.run([*action, job], check=True)
                log(f"{' '.join(action)} {job} ({variant}) at saved progress {saved}")
                done.add(variant)
        if time.monotonic() - started > timeout:
            break
        time.sleep(0.2)
    rc = run.wait(max(1, timeout - (time.monotonic() - started)))
    log(f"run A: exit {rc} in {time.monotonic() - started:.0f}s")
    check(rc == 0, f"run A completed every job (log: {run.logfile})")
    check(done == {"cancel", "requeue"}, "cancel and requeue hit their jobs mid-run")
    for variant in variants:
        ids = run.jobs.get(f"2_{variant}_123", [])
        states = [state for job in ids for state in sacct_states(job)]
        check(states and states[-1] == "COMPLETED", f"{variant}: SLURM states {states} end COMPLETED")
        # The signals (warning, scancel, requeue) come at a saved step; the time limit
        # whenever the minute is up.
        where = (resumed if variant == "timelimit" else resumed_mid_epoch)(args.work, variant)
        check(where is not None, f"{variant}: {where}")
        same = same_model(args.work, variant, expected[variant])
        check(same, f"{variant}: final model equals an uninterrupted run's, bit for bit")
    states = {v: [s for job in run.jobs.get(f"2_{v}_123", []) for s in sacct_states(job)] for v in variants}
    check(states["warned"][0] == "FAILED", "warned: first attempt stopped itself on the warning (FAILED, not TIMEOUT)")
    check(states["timelimit"][0] == "TIMEOUT", "timelimit: first attempt killed at the limit (TIMEOUT)")
    for variant in ("warned", "timelimit", "cancel"):
        first = slurm_log(args.work, variant, run.jobs[f"2_{variant}_123"][0])
        line = re.search(r"^error: .*interrupted by SIGTERM.*$", first, re.MULTILINE)
        check(line is not None, f"{variant}: first attempt said {line.group(0) if line else '(nothing)'}")
    check(states["cancel"][0] == "CANCELLED", "cancel: first attempt CANCELLED, Snakemake's retry resumed")
    check(
        len(run.jobs["2_requeue_123"]) == 1 and "REQUEUED" in states["requeue"],
        "requeue: one SLURM job, requeued by SLURM and resumed",
    )
    # Snakemake never saw that requeue; the workflow's end-of-run report names it (and
    # only it: the other faults were Snakemake's own retries).
    job = run.job("requeue")
    report = re.search(r"^SLURM requeued (\d+) jobs? of this run.*\n(.*)$", run.text(), re.M)
    check(
        report is not None
        and report.group(1) == "1"
        and f"train/2_requeue_123 (SLURM job {job}): it was requeued on localhost" in report.group(2),
        f"requeue: Snakemake's output names it: {report.group(0) if report else '(nothing)'}",
    )


def scenario_b(args, snakemake: list[str], expected: dict, finished: list[str]) -> None:
    started = time.monotonic()
    run = Run([*snakemake, *map(target, ["before", "nodeloss", *finished])], args.logdir / "faults_b.log")
    folder = model_dir(args.work, "nodeloss")
    wait_until(
        "'before' finished and 'nodeloss' saved progress",
        lambda: (model_dir(args.work, "before") / "model.pt").exists() and saved_step(folder) and run.job("nodeloss"),
        args.timeout,
        run,
    )
    job = run.job("nodeloss")
    victims = [args.slurmd_pid, *job_processes(job)]
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    log(f"node lost: SIGKILL slurmd and job {job}'s processes {victims[1:]} at saved progress {saved_step(folder)}")
    wait_until("SLURM to find the node lost", lambda: node_state().startswith("down"), args.timeout, run)
    log(f"SLURM: job {job} {sacct_states(job)}, node {node_state()}; node stays down {args.node_down_seconds}s")
    time.sleep(args.node_down_seconds)
    slurmd = subprocess.Popen(
        ["slurmd", "-D", "-N", "localhost"],
        stdout=open(args.logdir / "slurmd-restarted.out", "w"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    (args.logdir.parent / "run" / "slurmd.restarted.pid").write_text(str(slurmd.pid))
    log(f"slurmd started again (pid {slurmd.pid})")
    rc = run.wait(max(1, args.timeout - (time.monotonic() - started)))
    log(f"run B: exit {rc} in {time.monotonic() - started:.0f}s")
    check("NODE_FAIL" in sacct_states(job), f"sacct keeps the failure: job {job} {sacct_states(job)}")
    check(rc == 0, f"run B completed after the node came back (log: {run.logfile})")
    # The plugin's polls miss the NODE_FAIL (SLURM requeues at once); the workflow's
    # onsuccess report names it (srstudy/report/cluster.py).
    report = re.search(r"^SLURM requeued 1 job of this run after a cluster fault.*\n(.*)\n(.*)$", run.text(), re.M)
    said = f"{report.group(0)}" if report else "(nothing)"
    check(
        report is not None
        and f"train/2_nodeloss_123 (SLURM job {job}): its node localhost was lost (NODE_FAIL)" in report.group(1),
        f"Snakemake's output names the lost node and the requeued job: {said}",
    )
    check(resumed_mid_epoch(args.work, "nodeloss") is not None, f"nodeloss: {resumed_mid_epoch(args.work, 'nodeloss')}")
    check(same_model(args.work, "nodeloss", expected), "nodeloss: final model equals an uninterrupted run's")
    submitted = sorted(run.jobs)
    check(submitted == ["2_before_123", "2_nodeloss_123"], f"only 'before' and 'nodeloss' were submitted ({submitted})")
    # SLURM requeues the job itself; should the requeued run fail as well (a restarted
    # slurmd may still clean up after the old run: seen once in a few runs with a short
    # cred_expire), Snakemake's retry resumes it: one more submission, the same model.
    tries = len(run.jobs["2_nodeloss_123"])
    check(tries <= 2, f"nodeloss: SLURM requeued job {job} and it resumed ({tries} submission(s))")


def node_state() -> str:
    return subprocess.run(["sinfo", "-h", "-n", "localhost", "-o", "%T"], capture_output=True, text=True).stdout.strip()


def rpc_counts() -> dict[str, int]:
    """slurmctld's RPC counts by message type (sdiag)."""
    out = subprocess.run(["sdiag"], capture_output=True, text=True, check=True).stdout
    section = out.split("Remote Procedure Call statistics by message type")[1].split("Remote Procedure Call")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^\s*(\w+)\s+\(\s*\d+\)\s+count:(\d+)", section, re.M)}


# The SLURM commands the plugin runs; the load scenario counts each call of them.
COUNTED = ("squeue", "sacct", "scontrol", "sbatch", "sinfo", "sshare", "sacctmgr")


def counting_path(folder: Path, calls: Path) -> str:
    """A PATH whose first folder wraps each SLURM command: every call appends
    '<time> <SLURM job id or main> <command line>' to ``calls``, then runs the real one.
    Jobs inherit it (sbatch exports the environment), so calls made inside jobs show
    their job id and the main Snakemake's show 'main'."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in COUNTED:
        real = shutil.which(name)
        if real:
            (folder / name).write_text(
                "#!/bin/sh\n"
                f'printf \'%s %s %s\\n\' "$(date +%s.%N)" "${{SLURM_JOB_ID:-main}}" "{name} $*" >>{calls}\n'
                f'exec {real} "$@"\n'
            )
            (folder / name).chmod(0o755)
    return f"{folder}:{os.environ['PATH']}"


def status_queries(calls_text: str) -> list[float]:
    """Times of the main Snakemake's job-status queries (squeue/sacct for the run's jobs,
    ``--name <run id>``): the plugin's poll of the controller."""
    times = []
    for line in calls_text.splitlines():
        stamp, who, command = (line.split(" ", 2) + ["", ""])[:3]
        if who == "main" and command.split(" ")[0] in ("squeue", "sacct") and "--name" in command:
            times.append(float(stamp))
    return times


class Load:
    """N small jobs (tests/slurm/load.smk) through the project's profile as shipped
    (its polling settings unchanged), in the background beside run A: its jobs mostly
    sleep, so the two share the machine's 2 cores well. Every SLURM command the run
    calls is counted (:func:`counting_path`)."""

    def __init__(self, args, profile: Path):
        self.n, self.folder = args.load, args.work / "load"
        self.calls = args.logdir / "load_calls.txt"
        self.calls.unlink(missing_ok=True)
        env = dict(os.environ, PATH=counting_path(args.logdir.parent / "counting-bin", self.calls))
        command = [sys.executable, "-m", "snakemake", "--snakefile", str(args.repo / "tests/slurm/load.smk")]
        command += ["--directory", str(self.folder), "--config", f"jobs={self.n}", "--profile", str(profile)]
        self.before, self.started = rpc_counts(), time.monotonic()
        self.run = Run(command, args.logdir / "faults_load.log", env=env)

    def check(self, timeout: float, init_seconds: float) -> None:
        rc = self.run.wait(max(1, timeout - (time.monotonic() - self.started)))
        seconds = time.monotonic() - self.started
        after = rpc_counts()
        rpcs = {k: after.get(k, 0) - self.before.get(k, 0) for k in after if after.get(k, 0) > self.before.get(k, 0)}
        submitted = sum(len(ids) for ids in self.run.jobs.values())
        calls = self.calls.read_text() if self.calls.exists() else ""
        main = [line.split(" ", 2)[2].split(" ")[0] for line in calls.splitlines() if line.split(" ")[1] == "main"]
        polls = status_queries(calls)
        per_minute = 60 * len(polls) / seconds
        log(
            f"load: {submitted} jobs in {seconds:.0f}s; the main Snakemake called "
            f"{json.dumps({name: main.count(name) for name in sorted(set(main))})}, "
            f"{len(polls)} status queries ({per_minute:.2f}/min); slurmctld RPCs during the run "
            f"(run A's too): {json.dumps(rpcs)}"
        )
        done = sum(1 for i in range(self.n) if (self.folder / f"load/{i}.txt").exists())
        check(rc == 0 and submitted >= self.n and done == self.n, f"load: all {submitted} submitted jobs completed")
        gaps = [b - a for a, b in zip(polls, polls[1:], strict=False)]
        # The plugin polls all of the run's jobs with one query, first after init_seconds,
        # then every init_seconds (+10 s while nothing finishes, up to 180 s): at most one
        # query per init_seconds, however many jobs are queued.
        check(
            len(polls) >= 1 and (not gaps or min(gaps) >= 0.9 * init_seconds),
            f"load: one status query per cycle, every {init_seconds:.0f}s or more "
            f"(shortest gap {min(gaps, default=0):.1f}s)",
        )
        check(
            len(polls) <= seconds / init_seconds + 1,
            f"load: {len(polls)} status queries in {seconds:.0f}s for {submitted} jobs (<= 1 per {init_seconds:.0f}s)",
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("work", type=Path)
    parser.add_argument("logdir", type=Path)
    parser.add_argument("--slurmd-pid", type=int, required=True)
    parser.add_argument("--load", type=int, default=0, help="also N small jobs, beside run A")
    parser.add_argument("--only-load", action="store_true")
    parser.add_argument("--no-lost-node", action="store_true", help="skip run B, the lost node")
    parser.add_argument("--only-lost-node", action="store_true", help="only run B (for experiments)")
    parser.add_argument(
        "--node-down-seconds", type=float, default=0, help="run B: how long the node stays down once SLURM saw it"
    )
    parser.add_argument("--timeout", type=float, default=300, help="seconds per Snakemake run")
    args = parser.parse_args()
    sys.path.insert(0, str(args.repo / "workflow/scripts"))
    profile = write_profile(args.repo, args.logdir.parent / "profile-faults")
    snakemake = [sys.executable, "-m", "snakemake", "--snakefile", str(args.repo / "Snakefile")]
    snakemake += ["--directory", str(args.work), "--configfile", str(args.work / "faults.yaml")]
    snakemake += ["--profile", str(profile), "--workflow-profile", str(profile / "workflow")]
    shipped = yaml.safe_load((args.repo / "profiles/slurm/config.yaml").read_text())
    init_seconds = shipped["slurm-init-seconds-before-status-checks"]
    load_profile = write_load_profile(args.repo, args.logdir.parent / "profile-load")
    if args.only_load:
        Load(args, load_profile).check(args.timeout * 2, init_seconds)
        log("PASS: load")
        return 0
    variants = RUN_A | {"nodeloss": {}, "before": {"epochs": 1, "patches_per_epoch": 4 * BATCH}}
    write_config(args.repo, args.work, variants)
    h5 = [f"results/h5/x2/{split}.h5" for split in ("train", "eval")]
    if not all((args.work / path).exists() for path in h5):  # the happy path made them, unless skipped
        prepare = Run([*snakemake, *h5], args.logdir / "faults_h5.log")
        check(prepare.wait(args.timeout) == 0, "the h5 sets were built")
    # One uninterrupted run per distinct spec (the variants of one spec share it).
    expected, by_spec = {}, {}
    for variant in (*RUN_A, "nodeloss"):
        key = repr(sorted(variants[variant].items()))
        if key not in by_spec:
            by_spec[key] = reference(args.repo, args.work, variant, args.logdir.parent / f"reference-{variant}")
        expected[variant] = by_spec[key]
    t0 = time.monotonic()
    finished = []
    if not args.only_lost_node:
        load = Load(args, load_profile) if args.load else None
        # The load's jobs take CPU from run A's (mostly sleeping) trainings: more time for
        # both (measured on a shared 2-core machine: 387 s each, 169 s for run A alone).
        shared = args.timeout * (2 if load else 1)
        scenario_a(args, snakemake, expected, shared)
        finished = list(RUN_A)
        if load:
            load.check(shared, init_seconds)
            log(f"PASS: load, beside run A, in {time.monotonic() - load.started:.0f}s")
    if not args.no_lost_node:
        scenario_b(args, snakemake, expected["nodeloss"], finished)
    log(f"PASS: fault scenarios in {time.monotonic() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
