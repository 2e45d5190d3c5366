"""The workflow on a real single-node SLURM through profiles/slurm (tests/slurm/run_slurm_test.sh).

The script installs Slurm, munge and MariaDB with apt, starts their daemons and runs the
.test workflow as SLURM jobs, then the fault scenarios (tests/slurm/faults.py: time limits,
scancel, scontrol requeue, a lost node), so it runs only where that is wanted: in CI
(CI=true) as root.
Elsewhere it is skipped with the reason. By hand: `sudo bash tests/slurm/run_slurm_test.sh`."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from srstudy.report.cluster import fault_report, requeues, submitted_jobs, summary

SCRIPT = Path(__file__).parent / "slurm" / "run_slurm_test.sh"
# The script bounds each step (apt, pip, daemons, the run) with timeout -s KILL; this is
# the outer guard. On expiry the script gets SIGTERM, so its trap stops the daemons.
LIMIT_S = 1800
GRACE_S = 60
# The run, started in the background when the suite collects the test (conftest.py): it
# spends most of its time waiting on SLURM (status polls, time limits, a node coming
# back), which the rest of the suite fills. The test then waits for it.
BACKGROUND: dict = {}


def skip_reason() -> str | None:
    if os.environ.get("CI") != "true":
        return (
            "real SLURM test runs only in CI (CI=true): it apt-installs Slurm/munge/MariaDB and starts "
            "daemons; run it by hand as root with: bash tests/slurm/run_slurm_test.sh"
        )
    if os.geteuid() != 0:
        return "real SLURM test needs root (it installs packages and runs slurmd)"
    if shutil.which("apt-get") is None:
        return "real SLURM test needs apt-get (Debian/Ubuntu)"
    return None


def start_in_background() -> None:
    """Start the SLURM script (once), its output to a file."""
    if BACKGROUND or skip_reason():
        return
    env = dict(os.environ)
    if (Path(sys.prefix) / "bin" / "snakemake").exists():
        env.setdefault("VENV", sys.prefix)
    log = Path(tempfile.mkstemp(prefix="srstudy-slurm-", suffix=".log")[1])
    with open(log, "w") as out:
        process = subprocess.Popen(["bash", str(SCRIPT)], stdout=out, stderr=subprocess.STDOUT, env=env)
    BACKGROUND.update(process=process, log=log, started=time.monotonic())


def stop_background() -> None:
    """SIGTERM (the script's trap stops the daemons), then a kill after the grace time."""
    process = BACKGROUND.get("process")
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=GRACE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def failure_summary(output: str, tail_chars: int = 6000) -> str:
    """The script's and the fault scenarios' own lines (which step failed, on which check),
    then the tail of the output (the logs it dumps on failure): CI shows only the message's end."""
    steps = [line for line in output.splitlines() if line.startswith(("[slurm-test", "[faults]"))]
    return "\n".join([*steps[-40:], "--- output tail", output[-tail_chars:]])


def test_failure_summary_leads_with_the_failed_check():
    output = "[slurm-test 1s] up\n" + "x" * 9000 + "\n[faults] FAIL: warned: None\n" + "log line\n" * 2000
    summary = failure_summary(output)
    assert summary.splitlines()[:2] == ["[slurm-test 1s] up", "[faults] FAIL: warned: None"]
    assert summary.endswith("log line\n") and len(summary) < 6200


def test_workflow_on_real_slurm():
    reason = skip_reason()
    if reason:
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    start_in_background()  # already running unless this test was collected some other way
    process, log = BACKGROUND["process"], BACKGROUND["log"]
    left = LIMIT_S - (time.monotonic() - BACKGROUND["started"])
    try:
        process.wait(timeout=max(left, 1))
    except subprocess.TimeoutExpired:
        stop_background()
        pytest.fail(f"SLURM test still running after {LIMIT_S}s; stopped it:\n{log.read_text()[-6000:]}")
    output = log.read_text()
    print(output)
    assert process.returncode == 0, f"SLURM test failed (exit {process.returncode}):\n{failure_summary(output)}"
    assert "PASS:" in output


def _check_run():
    import importlib.util

    spec = importlib.util.spec_from_file_location("check_run", SCRIPT.parent / "check_run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RUN_LOG = """
[Wed Nov 25 20:04:36 2026]
rule train:
    output: results/models/x3/elu/seed123/model.pt
    jobid: 12
    wildcards: scale=3, variant=elu, seed=123
    resources: tmpdir=<TBD>, mem_mb=1000, mem=1 GB, runtime=1440, gpu=1
Job 12 has been submitted with SLURM jobid 13 (log: .snakemake/slurm_logs/rule_train/13.log).
rule degrade:
    jobid: 3
    resources: tmpdir=<TBD>, mem_mb=1000, runtime=60
Job 3 has been submitted with SLURM jobid 4 (log: .snakemake/slurm_logs/rule_degrade/4.log).
localrule all:
    jobid: 0
    resources: tmpdir=/tmp, mem_mb=1000
"""
SACCT = (
    "13|uuid|COMPLETED|0:0|billing=1,cpu=1,gres/gpu=1,mem=1000M,node=1\n"
    "4|uuid|COMPLETED|0:0|billing=1,cpu=1,mem=1000M,node=1\n"
)


def test_check_run_accepts_a_matching_run():
    assert _check_run().check(RUN_LOG, SACCT) == []


@pytest.mark.parametrize(
    "sacct, expected",
    [
        (SACCT.replace(",gres/gpu=1", ""), "0 GPU(s) allocated, rule declares gpu=1"),
        (SACCT.replace("4|uuid|COMPLETED|0:0", "4|uuid|FAILED|1:0"), "state FAILED"),
        (SACCT + "99|other|COMPLETED|0:0|cpu=1\n", "did not submit"),
        (SACCT.splitlines()[0], "state None"),
    ],
)
def test_check_run_reports_mismatches(sacct, expected):
    problems = _check_run().check(RUN_LOG, sacct)
    assert any(expected in p for p in problems), problems


def test_check_run_reports_a_job_never_submitted():
    log = RUN_LOG.replace("Job 3 has been submitted with SLURM jobid 4", "")
    problems = _check_run().check(log, SACCT)
    assert any("degrade) was never submitted" in p for p in problems), problems


# srstudy.report.cluster: the workflow's own report of SLURM's requeues (Snakefile onsuccess/onerror).
REQUEUE_LOG = """
Job 10 has been submitted with SLURM jobid 13 (log: /w/.snakemake/slurm_logs/rule_train/2_before_123/13.log).
Job 9 has been submitted with SLURM jobid 14 (log: /w/.snakemake/slurm_logs/rule_train/2_nodeloss_123/14.log).
Job 3 has been submitted with SLURM jobid 15 (log: /w/.snakemake/slurm_logs/rule_pack_h5/15.log).
"""
# sacct -D -X -n -P -o JobIDRaw,State,NodeList: every run of each job, oldest first.
REQUEUE_SACCT = "13|COMPLETED|node1\n14|NODE_FAIL|node2\n14|COMPLETED|node1\n15|COMPLETED|node1\n"


def test_cluster_names_the_jobs_the_run_submitted():
    assert submitted_jobs(REQUEUE_LOG) == {"13": "train/2_before_123", "14": "train/2_nodeloss_123", "15": "pack_h5"}


def test_cluster_reports_a_lost_node_and_the_requeued_job():
    lines = requeues(submitted_jobs(REQUEUE_LOG), REQUEUE_SACCT)
    assert lines == [
        "train/2_nodeloss_123 (SLURM job 14): its node node2 was lost (NODE_FAIL); SLURM ran it again "
        "(1 requeue), now COMPLETED"
    ]


def test_cluster_reports_nothing_when_nothing_was_requeued_or_for_other_runs():
    jobs = submitted_jobs(REQUEUE_LOG)
    assert requeues(jobs, REQUEUE_SACCT.replace("14|NODE_FAIL|node2\n", "")) == []
    # A job of another run (not in the log) is none of this run's business.
    assert requeues(jobs, "99|NODE_FAIL|node2\n99|COMPLETED|node1\n") == []
    # A failure Snakemake saw and retried (a new job id) is Snakemake's to report.
    assert requeues(jobs, "14|FAILED|node2\n") == []


def test_cluster_reports_every_requeue_of_a_job():
    sacct = "14|PREEMPTED|n1\n14|REQUEUED|n2\n14|RUNNING|n3\n"
    (line,) = requeues({"14": "train/2_elu_1"}, sacct)
    assert "preempted on n1 (PREEMPTED); then it was requeued on n2" in line and "(2 requeues), now RUNNING" in line


def test_cluster_fault_report_is_silent_without_slurm_submissions(tmp_path):
    log = tmp_path / "run.log"
    log.write_text("Job 1 finished.\n")
    assert fault_report(log) == []
    assert fault_report([str(log)]) == []  # Snakemake's hooks get a list of log files
    assert fault_report(tmp_path / "missing.log") == []
    assert fault_report(None) == []


def test_cluster_summary_says_what_to_do():
    line = (
        "train/2_elu_1 (SLURM job 14): its node n1 was lost (NODE_FAIL); SLURM ran it again (1 requeue), now COMPLETED"
    )
    done = summary([line])
    assert done[0].startswith("SLURM requeued 1 job of this run") and done[1] == f"  {line}"
    assert done[-1] == "nothing to do: every requeued job finished"
    failed = summary([line, line], failed=True)
    assert failed[0].startswith("SLURM requeued 2 jobs of this run")
    assert failed[-1] == "the run failed: rerun the same command to resume; finished jobs are not redone"
    assert summary([]) == summary([], failed=True) == []
