"""Checks a finished SLURM run of the workflow (used by run_slurm_test.sh).

    python check_run.py SNAKEMAKE_LOG SACCT_TXT

SNAKEMAKE_LOG is the run's output; SACCT_TXT is
``sacct -X -n -P -o JobID,JobName,State,ExitCode,AllocTRES``. Passes when every
non-local job of the run was submitted to SLURM, sacct lists exactly those jobs, all
COMPLETED, and a job holds a gres/gpu allocation exactly when its rule declares a GPU."""

import re
import sys
from pathlib import Path

RULE = re.compile(r"^(local)?rule (\w+):$")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
RESOURCES = re.compile(r"^\s+resources: (.*)$")
SUBMITTED = re.compile(r"^Job (\d+) has been submitted with SLURM jobid (\d+)")


def parse_log(text: str) -> tuple[dict, dict]:
    """``({snakemake jobid: (rule, local, gpus)}, {snakemake jobid: slurm jobid})``."""
    jobs, submitted, current = {}, {}, None
    for line in text.splitlines():
        if match := RULE.match(line):
            current = {"rule": match.group(2), "local": bool(match.group(1)), "gpus": 0}
        elif current is not None and (match := JOBID.match(line)):
            jobs[int(match.group(1))] = current
        elif current is not None and (match := RESOURCES.match(line)):
            gpu = re.search(r"(?:^|, )gpu=(\d+)", match.group(1))
            current["gpus"] = int(gpu.group(1)) if gpu else 0
        elif match := SUBMITTED.match(line):
            submitted[int(match.group(1))] = match.group(2)
    return jobs, submitted


def check(log_text: str, sacct_text: str) -> list[str]:
    jobs, submitted = parse_log(log_text)
    rows = {}
    for line in sacct_text.splitlines():
        if line.strip():
            job_id, _name, state, exit_code, tres = (line.split("|") + [""] * 5)[:5]
            rows[job_id] = (state, exit_code, tres)
    problems = []
    remote = {jid: job for jid, job in jobs.items() if not job["local"]}
    if not remote:
        problems.append("the run log shows no job for SLURM")
    for jid, job in sorted(remote.items()):
        slurm_id = submitted.get(jid)
        if slurm_id is None:
            problems.append(f"job {jid} ({job['rule']}) was never submitted to SLURM")
            continue
        state, exit_code, tres = rows.pop(slurm_id, (None, None, ""))
        allocated = re.search(r"gres/gpu=(\d+)", tres)
        allocated = int(allocated.group(1)) if allocated else 0
        if state != "COMPLETED":
            problems.append(f"SLURM job {slurm_id} ({job['rule']}): state {state}, exit {exit_code}")
        if allocated != job["gpus"]:
            problems.append(
                f"SLURM job {slurm_id} ({job['rule']}): {allocated} GPU(s) allocated, rule declares gpu={job['gpus']}"
            )
    for jid in sorted(set(submitted) - set(remote)):
        problems.append(f"SLURM job {submitted[jid]} was submitted for a job the log does not describe ({jid})")
    for slurm_id, (state, _, _) in rows.items():
        problems.append(f"sacct lists SLURM job {slurm_id} ({state}) that this run did not submit")
    return problems


def main() -> int:
    log_text = Path(sys.argv[1]).read_text(errors="replace")
    problems = check(log_text, Path(sys.argv[2]).read_text())
    jobs, submitted = parse_log(log_text)
    gpu_jobs = sum(1 for jid in submitted if jobs.get(jid, {}).get("gpus"))
    if problems:
        print("\n".join(f"  - {p}" for p in problems))
        return 1
    print(f"{len(submitted)} SLURM jobs COMPLETED, {gpu_jobs} of them with --gpus (gres/gpu allocated)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
