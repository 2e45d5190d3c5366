#!/usr/bin/env bash
# A real single-node SLURM on this machine, then the .test workflow through the project's
# SLURM profile (profiles/slurm), checked with sacct. Needs root and Debian/Ubuntu (apt).
#
#   bash tests/slurm/run_slurm_test.sh [extra snakemake targets or arguments]
#
# What it does, all inside one scratch folder (kept on failure, removed on success):
#   1. apt-get installs slurm-wlm, munge, slurmdbd, mariadb-server (skipped when present;
#      a temporary policy-rc.d keeps apt from starting the distribution's services).
#   2. pip installs the project's optional "slurm" dependencies into .venv.
#   3. starts munged, mariadbd, slurmdbd, slurmctld and slurmd in the foreground under
#      setsid on 127.0.0.1 (free ports), records their PIDs, waits for the node to be idle.
#      The node has fake GPUs (gres gpu on stand-in device files), so the train and
#      upscale jobs' `gpu=1` really is submitted as `--gpus=1` and scheduled as a GPU.
#   4. runs snakemake --profile <project profile + test overrides> in a temp --directory.
#   5. checks: nothing left to do, and sacct lists every submitted job COMPLETED, with a
#      gres/gpu allocation for exactly the jobs that declare a GPU (check_run.py).
#   6. fault scenarios (faults.py): time limit, scancel, requeue, a lost node; each
#      interrupted training resumes and ends equal to an uninterrupted one; beside them,
#      100 small jobs through the profile as shipped, its polling rate counted.
# A trap stops every daemon it started, by PID, on any exit (also failures and signals).
#
# Environment: SLURM_TEST_RUN_TIMEOUT (s, the snakemake run, default 600),
#              SLURM_TEST_FAULTS_TIMEOUT (s, step 6, default 1080),
#              SLURM_TEST_WORKFLOW=0, SLURM_TEST_FAULTS=0 (skip step 4-5 or 6's faults),
#              SLURM_TEST_LOST_NODE=0 (step 6 without the lost node),
#              SLURM_TEST_LOAD=N (N small jobs, default 100; 0: none),
#              SLURM_TEST_FAULT_ARGS (more faults.py arguments), SLURM_TEST_HOLD=1 (start the
#              cluster, then wait until $SCRATCH/hold is removed: for experiments),
#              SLURM_TEST_CPUS, SLURM_TEST_GPUS (the node's CPUs, default max(4, nproc),
#              and fake GPUs, default as many as CPUs),
#              SLURM_TEST_KEEP=1 (keep the scratch folder), VENV (default <repo>/.venv).
# Slurm's client commands read /etc/slurm/slurm.conf when SLURM_CONF is unset, and the
# jobstep plugin (>= 0.6.1) unsets it for the srun inside each job: so the script links
# /etc/slurm/slurm.conf to its scratch config while it runs (and refuses to replace a real
# one), and removes the link at exit.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=${VENV:-$REPO/.venv}
RUN_TIMEOUT=${SLURM_TEST_RUN_TIMEOUT:-600}
FAULTS_TIMEOUT=${SLURM_TEST_FAULTS_TIMEOUT:-1080}
ETC_CONF=/etc/slurm/slurm.conf
T0=$SECONDS

log() { printf '[slurm-test %4ds] %s\n' $((SECONDS - T0)) "$*"; }
die() {
  log "FAIL: $*"
  exit 1
}

[[ $(id -u) == 0 ]] || die "must run as root (installs packages, runs slurmd)"
command -v apt-get >/dev/null || die "needs apt-get (Debian/Ubuntu)"
[[ -x $VENV/bin/snakemake ]] || die "no snakemake in $VENV: run 'bash run.sh tests' (or set VENV)"
if [[ -L $ETC_CONF && $(readlink "$ETC_CONF") == /tmp/srstudy-slurm.*/etc/slurm.conf ]]; then
  rm -f "$ETC_CONF" # left behind by an earlier run that was killed
elif [[ -e $ETC_CONF || -L $ETC_CONF ]]; then
  die "$ETC_CONF exists and is not this test's: refusing to run on a machine with a real Slurm"
fi

SCRATCH=$(mktemp -d /tmp/srstudy-slurm.XXXXXX)
chmod 755 "$SCRATCH"
mkdir -p "$SCRATCH"/{etc,log,run,state,spool,munge,mysql,work}
PIDS=()
NAMES=()
RUN_PID=

exec 3>&1 4>&2
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  set +e # clean up everything, whatever fails on the way
  # A signal can land inside a command whose output is redirected (bounded ... >log):
  # write to the script's own stdout and stderr again.
  exec 1>&3 2>&4
  if [[ -n $RUN_PID ]] && kill -0 "$RUN_PID" 2>/dev/null; then
    pkill -KILL -P "$RUN_PID" # the command under timeout (snakemake ignores TERM when hung)
    kill -KILL "$RUN_PID"
  fi
  [[ ${ADDED_POLICY:-0} == 1 ]] && rm -f "$POLICY"
  if [[ $status != 0 ]]; then
    for f in "$SCRATCH"/log/*.log; do
      [[ -s $f ]] && { echo "--- tail of $f"; tail -n 15 "$f"; }
    done
    find "$SCRATCH/work/.snakemake/slurm_logs" -name '*.log' 2>/dev/null | head -n 4 | while read -r f; do
      echo "--- tail of $f"
      tail -n 25 "$f"
    done
  fi
  # Jobs first (while slurmd can still end their steps), then the daemons in reverse
  # order of start, each by its recorded PID: TERM, then KILL.
  if [[ -n ${SLURMD_UP:-} ]] && [[ -n $(timeout 5 squeue -h -o %i 2>/dev/null) ]]; then
    log "cancelling the jobs still in the queue"
    timeout 10 scancel --full --quiet $(timeout 5 squeue -h -o %i) 2>/dev/null
    for _ in $(seq 30); do
      [[ -z $(timeout 5 squeue -h -o %i 2>/dev/null) ]] && break
      sleep 0.5
    done
  fi
  local i pid
  if [[ -s $SCRATCH/run/slurmd.restarted.pid ]]; then # started again by faults.py
    PIDS+=("$(cat "$SCRATCH/run/slurmd.restarted.pid")")
    NAMES+=(slurmd)
  fi
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    pid=${PIDS[i]}
    kill -0 "$pid" 2>/dev/null || continue
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "${NAMES[i]} (pid $pid) ignored TERM: KILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  [[ ${#PIDS[@]} -gt 0 ]] && log "stopped ${NAMES[*]}"
  # Job steps outlive slurmd (slurmstepd detaches): end any process this cluster started,
  # known by its working directory or an open file in the scratch folder.
  local proc leftover=()
  for proc in /proc/[0-9]*; do
    pid=${proc#/proc/}
    [[ $pid == "$$" ]] && continue
    if [[ $(readlink "$proc/cwd" 2>/dev/null) == "$SCRATCH"* ]] \
      || ls -l "$proc/fd" 2>/dev/null | grep -q -- "-> $SCRATCH/"; then
      leftover+=("$pid")
    fi
  done
  if [[ ${#leftover[@]} -gt 0 ]]; then
    log "killing leftover job processes: ${leftover[*]}"
    kill -KILL "${leftover[@]}" 2>/dev/null
  fi
  if [[ -L $ETC_CONF ]] && [[ $(readlink "$ETC_CONF") == "$SCRATCH"/* ]]; then
    rm -f "$ETC_CONF"
  fi
  if [[ $status == 0 && ${SLURM_TEST_KEEP:-0} != 1 ]]; then
    rm -rf "$SCRATCH"
  else
    log "scratch folder kept: $SCRATCH"
  fi
  log "exit $status"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Run a command bounded by a hard timeout, in the background so a signal to this script
# is handled at once (bash runs traps only between foreground commands).
bounded() {
  local seconds=$1
  shift
  timeout -s KILL "$seconds" "$@" 3>&- 4>&- &
  RUN_PID=$!
  local rc=0
  wait "$RUN_PID" || rc=$?
  RUN_PID=
  return "$rc"
}

# Start a daemon in the foreground under setsid (its own session, out of the reach of the
# terminal's signals) and record its PID. Without job control, setsid execs in place,
# so $! is the daemon's own PID.
start() {
  local name=$1
  shift
  setsid "$@" >"$SCRATCH/log/$name.out" 2>&1 </dev/null 3>&- 4>&- &
  PIDS+=($!)
  NAMES+=("$name")
}

# Wait until a check succeeds; fail (naming the daemon's log) after a deadline.
wait_for() {
  local what=$1 seconds=$2 logfile=$3
  shift 3
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    local i
    for i in "${!PIDS[@]}"; do
      kill -0 "${PIDS[i]}" 2>/dev/null || die "${NAMES[i]} exited while waiting for $what (see $logfile)"
    done
    ((SECONDS < deadline)) || die "timed out after ${seconds}s waiting for $what (see $logfile)"
    sleep 0.3
  done
}

# ---------------------------------------------------------------- 1. packages
PACKAGES=(slurm-wlm munge slurmdbd mariadb-server)
if command -v slurmctld slurmd slurmdbd munged mungekey mariadbd mariadb-install-db sacct >/dev/null \
  && [[ $(command -v slurmctld slurmd slurmdbd munged mungekey mariadbd mariadb-install-db sacct | wc -l) == 8 ]]; then
  log "packages already installed"
else
  log "apt-get install ${PACKAGES[*]}"
  POLICY=/usr/sbin/policy-rc.d
  ADDED_POLICY=0
  if [[ ! -e $POLICY ]]; then
    # Without it, a machine without systemd would start the packages' own services.
    printf '#!/bin/sh\nexit 101\n' >"$POLICY" && chmod 755 "$POLICY" && ADDED_POLICY=1
  fi
  rc=0
  bounded 240 apt-get update -qq >"$SCRATCH/log/apt.log" 2>&1 || rc=$?
  if [[ $rc == 0 ]]; then
    bounded 300 env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${PACKAGES[@]}" >>"$SCRATCH/log/apt.log" 2>&1 || rc=$?
  fi
  [[ $ADDED_POLICY == 1 ]] && rm -f "$POLICY" && ADDED_POLICY=0
  [[ $rc == 0 ]] || die "apt-get failed (rc $rc): see $SCRATCH/log/apt.log"
fi
log "$(slurmctld -V), $(munged --version 2>&1 | awk '{print $1, $2}' | head -n1)"

# ---------------------------------------------------------------- 2. the plugin
SPECS=$("$VENV/bin/python" - "$REPO/pyproject.toml" <<'EOF'
import sys, tomllib
with open(sys.argv[1], "rb") as handle:
    print("\n".join(tomllib.load(handle)["project"]["optional-dependencies"]["slurm"]))
EOF
)
mapfile -t SPECS <<<"$SPECS"
if "$VENV/bin/python" -c "import snakemake_executor_plugin_slurm, snakemake_executor_plugin_slurm_jobstep" 2>/dev/null; then
  log "slurm plugin already in $VENV"
else
  log "pip install ${SPECS[*]}"
  bounded 300 "$VENV/bin/pip" install -q "${SPECS[@]}" >"$SCRATCH/log/pip.log" 2>&1 \
    || die "pip install failed: see $SCRATCH/log/pip.log"
fi

# ---------------------------------------------------------------- 3. daemons
read -r CTLD_PORT SLURMD_PORT DBD_PORT DB_PORT < <("$VENV/bin/python" -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
MUNGE_SOCK=$SCRATCH/munge/munge.socket.2
DB_SOCK=$SCRATCH/run/mysqld.sock
DB_PASS=srstudy-$RANDOM$RANDOM
# The node offers at least 8 CPUs (and as many fake GPUs), also on a 2-core machine: the
# test's jobs are small, and most of their time is spent waiting on Slurm and on polling
# (the fault scenarios' trainings sleep between steps; the load's jobs run beside them).
NCPU=${SLURM_TEST_CPUS:-$(($(nproc) > 8 ? $(nproc) : 8))}
NGPU=${SLURM_TEST_GPUS:-$NCPU}
MEM_MB=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512))
export SLURM_CONF=$SCRATCH/etc/slurm.conf
# The jobs import this checkout's package, also when .venv has another one installed.
export PYTHONPATH=$REPO/workflow/scripts${PYTHONPATH:+:$PYTHONPATH}

mungekey --create --keyfile="$SCRATCH/munge/munge.key" >/dev/null
chmod 600 "$SCRATCH/munge/munge.key"
chmod 755 "$SCRATCH/munge" # clients (root here) reach the socket through it
start munged munged --foreground --force --socket="$MUNGE_SOCK" --key-file="$SCRATCH/munge/munge.key" \
  --pid-file="$SCRATCH/run/munged.pid" --log-file="$SCRATCH/log/munged.log" --seed-file="$SCRATCH/munge/seed"
wait_for munged 20 "$SCRATCH/log/munged.log" bash -c "munge -n -S '$MUNGE_SOCK' | unmunge -S '$MUNGE_SOCK'"
log "munged up"

bounded 120 mariadb-install-db --no-defaults --user=root --datadir="$SCRATCH/mysql" --auth-root-authentication-method=socket \
  --skip-test-db >"$SCRATCH/log/mariadb-install.log" 2>&1 || die "mariadb-install-db failed: see $SCRATCH/log/mariadb-install.log"
start mariadbd mariadbd --no-defaults --user=root --datadir="$SCRATCH/mysql" --socket="$DB_SOCK" \
  --port="$DB_PORT" --bind-address=127.0.0.1 --skip-name-resolve --pid-file="$SCRATCH/run/mariadbd.pid" \
  --log-error="$SCRATCH/log/mariadbd.log"
wait_for mariadbd 60 "$SCRATCH/log/mariadbd.log" mariadb-admin --no-defaults -S "$DB_SOCK" -u root ping
mariadb --no-defaults -S "$DB_SOCK" -u root -e "
  CREATE DATABASE slurm_acct_db;
  CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
  GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
log "mariadbd up"

cat >"$SCRATCH/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCK
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
LogFile=$SCRATCH/log/slurmdbd.log
PidFile=$SCRATCH/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
chmod 600 "$SCRATCH/etc/slurmdbd.conf"

# One node with the machine's CPUs and memory and NGPU fake GPUs: gres "gpu" whose device
# files are stand-ins for /dev/null (Slurm drops a GPU without a file; AutoDetect is off),
# enough for the scheduler to grant --gpus=1; the jobs find no CUDA device and torch runs
# on the CPU.
cat >"$SLURM_CONF" <<EOF
# srstudy-slurm-test: written by tests/slurm/run_slurm_test.sh, removed when it exits
ClusterName=srstudy
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# cred_expire: a requeued job waits this long (+1 s) before it may start again (default
# 120 s). 30 s, not less: the lost-node scenario starts slurmd again at once, and the new
# slurmd cleans up after the killed run (stale step sockets, the old job script, at each
# of its first registrations, the second ~10 s in) before the requeued run may start.
# With 10 s they could overlap: the likely cause of the requeued run's step being ended
# now and then (faults.py tolerates that one case: Snakemake's retry resumes the job).
AuthInfo=socket=$MUNGE_SOCK,cred_expire=30
# slurmd's RPCs and step cleanup in its log, for a failure's post-mortem (kept on failure).
SlurmdDebug=debug
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
MinJobAge=300
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=10
StateSaveLocation=$SCRATCH/state
SlurmdSpoolDir=$SCRATCH/spool
SlurmctldPidFile=$SCRATCH/run/slurmctld.pid
SlurmdPidFile=$SCRATCH/run/slurmd.pid
SlurmctldLogFile=$SCRATCH/log/slurmctld.log
SlurmdLogFile=$SCRATCH/log/slurmd.log
GresTypes=gpu
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
AccountingStoragePass=$MUNGE_SOCK
AccountingStorageTRES=gres/gpu
SlurmdParameters=config_overrides
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$NCPU Sockets=1 CoresPerSocket=$NCPU ThreadsPerCore=1 RealMemory=$MEM_MB Gres=gpu:$NGPU State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
mkdir -p "$SCRATCH/dev"
for ((i = 0; i < NGPU; i++)); do mknod -m 666 "$SCRATCH/dev/fakegpu$i" c 1 3; done
cat >"$SCRATCH/etc/gres.conf" <<EOF
AutoDetect=off
NodeName=localhost Name=gpu File=$SCRATCH/dev/fakegpu[0-$((NGPU - 1))]
EOF
mkdir -p /etc/slurm
ln -sfn "$SLURM_CONF" "$ETC_CONF"

start slurmdbd slurmdbd -D
wait_for slurmdbd 60 "$SCRATCH/log/slurmdbd.log" timeout 5 sacctmgr -n list cluster
start slurmctld slurmctld -D -i
wait_for slurmctld 60 "$SCRATCH/log/slurmctld.log" bash -c "timeout 5 scontrol ping | grep -q UP"
start slurmd slurmd -D -N localhost
wait_for "the node to be idle" 60 "$SCRATCH/log/slurmd.log" \
  bash -c '[[ $(timeout 5 sinfo -h -n localhost -o %T) == idle ]]'
SLURMD_UP=1
log "slurm up: node localhost idle, $NCPU CPUs, ${MEM_MB} MB, gres $(sinfo -h -n localhost -o %G)"

if [[ ${SLURM_TEST_HOLD:-0} == 1 ]]; then
  # Keep the cluster up for experiments until $SCRATCH/hold is removed (or a signal).
  printf 'export SLURM_CONF=%q SCRATCH=%q SLURMD_PID=%q\n' "$SLURM_CONF" "$SCRATCH" "${PIDS[-1]}" >"$SCRATCH/env.sh"
  touch "$SCRATCH/hold"
  log "holding: source $SCRATCH/env.sh; rm $SCRATCH/hold to stop"
  while [[ -e $SCRATCH/hold ]]; do sleep 1; done
  exit 0
fi

# ---------------------------------------------------------------- 4. the workflow
WORK=$SCRATCH/work
PROFILE=$SCRATCH/profile
WORKFLOW_PROFILE=$SCRATCH/workflow-profile
mkdir -p "$PROFILE" "$WORKFLOW_PROFILE"
# The project's profiles, with test-sized memory (this node's RAM), no retries and quick
# polling; everything else (executor, jobs, runtimes, GPU mapping, warning signal) as
# users get it. The workflow profile's copy replaces profiles/default (--workflow-profile).
"$VENV/bin/python" - "$REPO/profiles" "$PROFILE/config.yaml" "$WORKFLOW_PROFILE/config.yaml" <<'EOF'
import sys, yaml
from pathlib import Path
profiles = Path(sys.argv[1])
profile = yaml.safe_load((profiles / "slurm/config.yaml").read_text())
profile.update({"retries": 0, "latency-wait": 5, "max-status-checks-per-second": 5,
                "slurm-init-seconds-before-status-checks": 2})
Path(sys.argv[2]).write_text(yaml.safe_dump(profile, sort_keys=False))
workflow = yaml.safe_load((profiles / "default/config.yaml").read_text())
for resources in workflow["set-resources"].values():
    resources["mem_mb"] = 1000
Path(sys.argv[3]).write_text(yaml.safe_dump(workflow, sort_keys=False))
EOF
SNAKEMAKE=("$VENV/bin/snakemake" --snakefile "$REPO/Snakefile" --directory "$WORK"
  --configfile "$REPO/.test/config/config.yaml")

bounded 120 "${SNAKEMAKE[@]}" --cores 1 -n "$@" >"$SCRATCH/log/dryrun.log" 2>&1 \
  || die "dry run failed: see $SCRATCH/log/dryrun.log"
log "workflow: $(grep -cE '^(local)?rule ' "$SCRATCH/log/dryrun.log") jobs; running it (limit ${RUN_TIMEOUT}s)"

T_RUN=$SECONDS
rc=0
if [[ ${SLURM_TEST_WORKFLOW:-1} == 1 ]]; then
  bounded "$RUN_TIMEOUT" "${SNAKEMAKE[@]}" --profile "$PROFILE" --workflow-profile "$WORKFLOW_PROFILE" "$@" >"$SCRATCH/log/snakemake.log" 2>&1 || rc=$?
  if [[ $rc != 0 ]]; then
    tail -n 40 "$SCRATCH/log/snakemake.log"
    [[ $rc == 137 ]] && die "snakemake killed after ${RUN_TIMEOUT}s (SLURM_TEST_RUN_TIMEOUT)"
    die "snakemake failed (rc $rc): see $SCRATCH/log/snakemake.log"
  fi
  log "workflow done in $((SECONDS - T_RUN))s"

  # ---------------------------------------------------------------- 5. checks
  bounded 120 "${SNAKEMAKE[@]}" --cores 1 -n "$@" >"$SCRATCH/log/after.log" 2>&1 \
    || die "dry run after the run failed: see $SCRATCH/log/after.log"
  grep -q "Nothing to be done" "$SCRATCH/log/after.log" \
    || die "outputs missing after the run: the dry run still lists jobs (see $SCRATCH/log/after.log)"
  ls "$WORK"/results/h5/x*/train.h5 >/dev/null 2>&1 || [[ $# -gt 0 ]] || die "no results/h5/x*/train.h5 in $WORK"

  sacct -X -n -P -a -S now-1days -o JobID,JobName,State,ExitCode,AllocTRES >"$SCRATCH/log/sacct.txt"
  sed 's/^/  sacct: /' "$SCRATCH/log/sacct.txt" | head -n 60
  RESULT=$("$VENV/bin/python" "$REPO/tests/slurm/check_run.py" "$SCRATCH/log/snakemake.log" "$SCRATCH/log/sacct.txt") \
    || die "sacct does not match the run:
$RESULT"
  log "PASS: $RESULT; total $((SECONDS - T0))s"
fi

# ---------------------------------------------------------------- 6. faults
# Time limits (with and without the profile's warning signal), scancel, scontrol requeue
# and a lost node, on this cluster and in the same working directory (the h5 sets are
# reused); beside them SLURM_TEST_LOAD (100) small jobs. SLURM_TEST_FAULTS=0 leaves the
# load alone, SLURM_TEST_LOAD=0 the faults alone.
FAULT_ARGS=(--slurmd-pid "${PIDS[-1]}")
[[ ${SLURM_TEST_LOAD:-100} -gt 0 ]] && FAULT_ARGS+=(--load "${SLURM_TEST_LOAD:-100}")
[[ ${SLURM_TEST_FAULTS:-1} == 1 ]] || FAULT_ARGS+=(--only-load)
[[ ${SLURM_TEST_LOST_NODE:-1} == 1 ]] || FAULT_ARGS+=(--no-lost-node)
FAULT_ARGS+=(${SLURM_TEST_FAULT_ARGS:-})
if [[ ${SLURM_TEST_FAULTS:-1} == 1 || ${SLURM_TEST_LOAD:-100} -gt 0 ]]; then
  T_FAULTS=$SECONDS
  rc=0
  bounded "$FAULTS_TIMEOUT" "$VENV/bin/python" "$REPO/tests/slurm/faults.py" "$REPO" "$WORK" "$SCRATCH/log" \
    "${FAULT_ARGS[@]}" || rc=$?
  [[ $rc == 0 ]] || die "fault scenarios failed (rc $rc): see the lines above and $SCRATCH/log/faults_*.log"
  log "PASS: fault scenarios in $((SECONDS - T_FAULTS))s; total $((SECONDS - T0))s"
fi
