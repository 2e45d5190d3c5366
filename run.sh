#!/usr/bin/env bash
# One entry point for a fresh machine: sets up .venv (once), then runs the study, the
# report, the tests, or upscales a video. `bash run.sh help` lists commands and settings.
set -euo pipefail
cd "$(dirname "$0")"

setup() {
  local python=${PYTHON:-python3}
  if [[ ! -x .venv/bin/python ]]; then
    if ! "$python" -m venv .venv 2>/dev/null; then
      rm -rf .venv
      if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
        "$python" -m venv .venv
      else
        echo "error: '$python -m venv' failed: install python3-venv (sudo apt-get install python3-venv)" >&2
        exit 1
      fi
    fi
  fi
  # torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
  if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    .venv/bin/pip install -q "${TORCH_SPEC:-torch==2.13.0}"
  fi
  local stamp
  stamp=$(cat pyproject.toml | sha256sum | cut -c1-16)
  if [[ ! -f .venv/.setup-stamp || $(cat .venv/.setup-stamp) != "$stamp" ]]; then
    .venv/bin/pip install -q -e ".[test]"
    echo "$stamp" >.venv/.setup-stamp
  fi
}

# How many gpu=1 jobs (train, upscale) may run at once: JOBS_PER_GPU per GPU (SRCNN is
# too small to fill a GPU alone; each job runs on the GPU of the slot it holds, see
# srstudy/base/gpu_slots.py); on a machine without an NVIDIA GPU they run on the CPU, one per core
# (single-threaded model jobs in parallel beat one multi-threaded job: small
# convolutions scale poorly across threads).
gpu_slots() {
  local gpus=0 per_gpu=${JOBS_PER_GPU:-1}
  if command -v nvidia-smi >/dev/null; then
    gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
  fi
  if ((gpus > 0)); then echo $((gpus * per_gpu)); else nproc; fi
}

usage() {
  cat <<'EOF'
usage: bash run.sh COMMAND [arguments]

commands:
  study [TARGET...] [snakemake options]
        run the study (config/config.yaml unless --configfile says otherwise), then write
        the report results/report.html. Targets and options may come in any order; with
        targets, only they are built and the report is left as it was.
  report [snakemake options]
        (re)write results/report.html from the finished results
  upscale IN.mp4 --model results/models/x2/default/seed123/model.pt -o OUT.mp4 [options]
        upscale any video with a trained model, streamed frame by frame (audio kept,
        lossless H.264 out); `bash run.sh upscale --help` lists its options
  tests [pytest arguments]
        run the test suite
  help, -h, --help
        print this help

stage targets for `study` (each builds its stage and everything it needs; from
workflow/scripts/srstudy/plan/dag.py):
  frames datasets search models upscaled scores videos tables
  or any output path, e.g. results/scores/x2/default.csv

environment variables:
  PYTHON         interpreter that creates .venv (default: python3)
  TORCH_SPEC     torch requirement installed first into a new .venv (default: torch==2.13.0,
                 a CUDA build on Linux x86_64; docs/gpu.md shows CPU-only builds)
  CORES          cores Snakemake may use (default: all)
  GPU_SLOTS      how many gpu=1 jobs (train, upscale, search) run at once (default:
                 JOBS_PER_GPU per GPU that nvidia-smi lists, else one per CPU core)
  JOBS_PER_GPU   gpu jobs sharing one GPU, each pinned to it by the slot it holds (default 1);
                 above 1, a private CUDA MPS daemon lets their kernels share the GPU
  MPS            off: no MPS daemon (jobs sharing a GPU then take turns on it)
  SRSTUDY_DEBUG  set to 1 to print full tracebacks of failed jobs in the terminal too

examples:
  bash run.sh study                                   # everything, then the report
  bash run.sh study -n                                # dry run: what would run
  bash run.sh study models                            # train every model, nothing after
  bash run.sh study scores --config 'scales=[2]'      # one scale, up to its scores
  bash run.sh study --until train                     # stop after training
  bash run.sh study results/scores/x2/default.csv     # one variant at one scale
  bash run.sh study --configfile config/thesis.yaml   # the thesis's full study
  GPU_SLOTS=1 CORES=4 bash run.sh study
  bash run.sh upscale in.mp4 --model results/models/x2/default/seed123/model.pt -o out.mp4
  bash run.sh tests -k upscale
EOF
}

# Stage targets and output paths go first on Snakemake's command line: several of its
# options (--resources, --config, --configfile ...) take every word after them, so a
# target after one would be read as its value. Words after an option that names rules
# or files (--until train, -R results/...) stay with it.
RULE_OPTIONS=" --until -U --omit-from -O --forcerun -R --allowed-rules --target-jobs "
TARGETS=()
OPTIONS=()
split_targets() {
  local word last_option="" STAGES
  # The stage targets, as the workflow generates them (srstudy/plan/dag.py): frames|datasets|...
  STAGES=$(PYTHONPATH=workflow/scripts .venv/bin/python -c 'from srstudy.plan.dag import STAGES; print("|".join(STAGES))')
  for word in "$@"; do
    if [[ $word == -* ]]; then
      last_option=$word
      OPTIONS+=("$word")
    elif [[ $RULE_OPTIONS != *" $last_option "* && ($word == results/* || $word =~ ^(all|$STAGES)$) ]]; then
      TARGETS+=("$word")
    else
      OPTIONS+=("$word")
    fi
  done
}

# Options that inspect or maintain rather than run: no report after them.
no_run() {
  local word
  for word in "$@"; do
    case $word in
      -n | --dry-run | --dryrun | --lint | --dag | --rulegraph | --filegraph | -l | --list* | -S | --summary | \
        -D | --detailed-summary | --unlock | --cleanup-metadata | -t | --touch | --delete-all-output | \
        --delete-temp-output | --report | --report=* | -h | --help | --version | -v) return 0 ;;
    esac
  done
  return 1
}

command=${1:-}
shift || true
case $command in
  study)
    setup
    split_targets "$@"
    # shellcheck source=workflow/scripts/mps.sh
    source workflow/scripts/mps.sh
    mps_start
    trap mps_stop EXIT
    # --resources=...: with '=' the option takes this one value, not the words after it.
    .venv/bin/snakemake "${TARGETS[@]}" --cores "${CORES:-all}" --resources="gpu=${GPU_SLOTS:-$(gpu_slots)}" \
      "${OPTIONS[@]}"
    if no_run "${OPTIONS[@]}"; then
      exit 0
    elif ((${#TARGETS[@]} == 0)) || [[ " ${TARGETS[*]} " == *" all "* ]]; then
      .venv/bin/snakemake --report results/report.html "${OPTIONS[@]}"
      echo "study done: results/tables/, results/figures/ and the report results/report.html"
    else
      echo "done: ${TARGETS[*]} (the report covers the whole study: bash run.sh study, or bash run.sh report)"
    fi
    ;;
  report)
    setup
    .venv/bin/snakemake --report results/report.html "$@"
    echo "report: results/report.html"
    ;;
  upscale)
    setup
    PYTHONPATH=workflow/scripts${PYTHONPATH:+:$PYTHONPATH} exec .venv/bin/python -m srstudy.stages.upscale_video "$@"
    ;;
  tests)
    setup
    exec .venv/bin/python -m pytest "$@"
    ;;
  help | -h | --help)
    usage
    ;;
  *)
    usage >&2
    [[ -z $command ]] || echo "error: unknown command '$command'" >&2
    exit 2
    ;;
esac
