#!/usr/bin/env bash
# One entry point for a fresh machine: sets up .venv (once), then
#   bash run.sh study [snakemake args]   runs the study on config/config.yaml and
#                                        writes the report results/report.html
#   bash run.sh tests [pytest args]      runs the test suite
# Environment: PYTHON (interpreter for the venv, default python3),
#              TORCH_SPEC (default torch==2.13.0; see README for CUDA builds),
#              CORES (default all), GPU_SLOTS (default: GPUs x JOBS_PER_GPU, or CPU cores
#              without a GPU), JOBS_PER_GPU (gpu jobs sharing one GPU, default 1).
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
# srstudy/slots.py); on a machine without an NVIDIA GPU they run on the CPU, one per core
# (single-threaded model jobs in parallel beat one multi-threaded job: small
# convolutions scale poorly across threads).
gpu_slots() {
  local gpus=0 per_gpu=${JOBS_PER_GPU:-1}
  if command -v nvidia-smi >/dev/null; then
    gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
  fi
  if ((gpus > 0)); then echo $((gpus * per_gpu)); else nproc; fi
}

command=${1:-}
shift || true
case $command in
  study)
    setup
    .venv/bin/snakemake --cores "${CORES:-all}" --resources gpu="${GPU_SLOTS:-$(gpu_slots)}" "$@"
    case " $* " in
      *" -n "* | *" --dry-run "* | *" --dryrun "*) ;;
      *)
        .venv/bin/snakemake --report results/report.html "$@"
        echo "study done: results/tables/, results/figures/ and the report results/report.html"
        ;;
    esac
    ;;
  tests)
    setup
    exec .venv/bin/python -m pytest "$@"
    ;;
  *)
    echo "usage: bash run.sh study|tests [extra arguments]" >&2
    exit 2
    ;;
esac
