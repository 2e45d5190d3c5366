"""What SLURM did to a run's jobs behind Snakemake's back, said at the end of the run.

With ``slurm-requeue`` (profiles/slurm) SLURM requeues a job whose node was lost
(NODE_FAIL) or that was preempted, under the same job id; by the time Snakemake polls
again the job is pending or running, so snakemake-executor-plugin-slurm never sees the
fault and a run that lost a node reads like one that did not. The Snakefile's
``onsuccess``/``onerror`` hooks call :func:`fault_report` with Snakemake's log: it
collects the SLURM job ids the run submitted, asks ``sacct -D`` (every run of a job,
requeues included) once, and names each job that was requeued, why, on which node, and
how it ended. Read-only and best effort: without SLURM or sacct it says nothing."""

import re
import shutil
import subprocess
from pathlib import Path

SUBMITTED = re.compile(r"^Job \d+ has been submitted with SLURM jobid (\d+) \(log: (\S+)\)", re.MULTILINE)
# Records of a job's earlier runs that mean SLURM itself ran it again.
REQUEUE_STATES = {
    "NODE_FAIL": "its node {node} was lost (NODE_FAIL)",
    "BOOT_FAIL": "its node {node} failed to boot (BOOT_FAIL)",
    "PREEMPTED": "it was preempted on {node} (PREEMPTED)",
    "REQUEUED": "it was requeued on {node} (scontrol requeue or preemption)",
}
SACCT_FIELDS = "JobIDRaw,State,NodeList"


def submitted_jobs(log_text: str) -> dict[str, str]:
    """SLURM job id -> the job's name in the plugin's log folder (``train/2_elu_123``),
    from Snakemake's output."""
    jobs = {}
    for slurm_id, log in SUBMITTED.findall(log_text):
        parts = Path(log).parts
        rule = next((p for p in parts if p.startswith("rule_")), "rule_?")[len("rule_") :]
        where = parts[-2] if len(parts) >= 2 and not parts[-2].startswith("rule_") else ""
        jobs[slurm_id] = f"{rule}/{where}" if where else rule
    return jobs


def requeues(jobs: dict[str, str], sacct_text: str) -> list[str]:
    """One line per job of ``jobs`` that SLURM ran more than once, from
    ``sacct -D -X -n -P -o JobIDRaw,State,NodeList`` (oldest run first)."""
    history: dict[str, list[tuple[str, str]]] = {}
    for line in sacct_text.splitlines():
        fields = line.strip().split("|")
        if len(fields) >= 3 and fields[0] in jobs:
            history.setdefault(fields[0], []).append((fields[1].split()[0] if fields[1] else "", fields[2]))
    lines = []
    for slurm_id, runs in history.items():
        faults = [
            REQUEUE_STATES[state].format(node=node or "?") for state, node in runs[:-1] if state in REQUEUE_STATES
        ]
        if faults:
            last = runs[-1][0] or "?"
            lines.append(
                f"{jobs[slurm_id]} (SLURM job {slurm_id}): {'; then '.join(faults)}; SLURM ran it again "
                f"({len(runs) - 1} requeue{'s' if len(runs) > 2 else ''}), now {last}"
            )
    return lines


def fault_report(log_path, failed: bool = False, timeout: float = 30) -> list[str]:
    """The lines to print at the end of a run whose Snakemake log is ``log_path`` (a
    path or a list of them, as Snakemake's hooks get it): empty
    when no job was submitted to SLURM, sacct is missing, or nothing was requeued."""
    # Snakemake hands its hooks a list of log files (one per log handler).
    paths = [log_path] if isinstance(log_path, str | Path) else list(log_path or [])
    text = ""
    for path in paths:
        try:
            text += Path(path).read_text(errors="replace")
        except (OSError, TypeError):
            pass
    jobs = submitted_jobs(text)
    if not jobs or shutil.which("sacct") is None:
        return []
    try:
        sacct = subprocess.run(
            ["sacct", "-D", "-X", "-n", "-P", "-o", SACCT_FIELDS, "-j", ",".join(jobs)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return summary(requeues(jobs, sacct.stdout), failed)


def summary(found: list[str], failed: bool = False) -> list[str]:
    """The report around :func:`requeues`' lines: what happened, then what to do."""
    if not found:
        return []
    head = (
        f"SLURM requeued {len(found)} job{'s' if len(found) > 1 else ''} of this run after a cluster fault "
        "(Snakemake's polls do not see it); a requeued training resumes from its last saved progress "
        "(its log says where):"
    )
    tail = (
        ["the run failed: rerun the same command to resume; finished jobs are not redone"]
        if failed
        else ["nothing to do: every requeued job finished"]
    )
    return [head, *(f"  {line}" for line in found), *tail]
