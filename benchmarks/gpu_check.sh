#!/usr/bin/env bash
# The GPU check: everything that needs a real GPU, in one call of the GPU machine, setup
# included (the budget, 570 s, fits a 600-s call; the aim was 8 minutes, but on an H200
# three sections needed more than their caps). Run on the GPU machine from the repository
# root, with wheelhouse/ (made by benchmarks/gpu_wheels.sh) beside it:
#
#   bash benchmarks/gpu_check.sh
#
# Sections, each bounded in time and failing on its own (one failure keeps the others'
# figures). Fused training goes first (with its CUDA tests): it decides whether the
# thesis study fits a day on one GPU; then the workflow; the measures of the first GPU
# run come last and take what time is left.
#   setup       the wheelhouse installed beside the machine's Python (CUDA torch & co)
#   fused       benchmarks/fused_throughput.py: fused patches/s for G = 1, 3, 5, 15, 45 in
#               TF32 and bf16, each layer's conv kind, 1/4 concurrent fused jobs, then
#               1/4/8 under MPS and the projected config/thesis.yaml time (all seeds)
#   workflow    snakemake on config/gpu.yaml, --cores 16 --resources gpu=$JOBS_PER_GPU,
#               under CUDA MPS where the machine has it, as run.sh runs it (aim: <= 6 min)
#   throughput  benchmarks/train_throughput.py --device cuda: step modes, every thesis
#               variant and the projected thesis.yaml time, 1/2/4/8 concurrent jobs
#   tests       pytest -m cuda (tests/test_cuda.py)
#   study       benchmarks/study.py --only uhd,vram --device cuda
#   precision   the default variant's graph step with TF32 convolutions and in bf16
#   mps         1/4/8 concurrent jobs again under CUDA MPS (kernels of several processes
#               then share the GPU instead of taking turns), where the machine has it
#   profile     benchmarks/gpu_profile.py: the kernels a training step and a 2160p
#               inference spend their time in (profile.md in the archive)
# Then benchmarks/gpu_report.py writes benchmarks/results/<gpu-model>_<date>.{md,json}
# (and copies them to $OUT when it is set, with one archive of the logs, the benchmarks'
# raw JSON and the workflow's tables and training logs).
#
# Environment: PYTHON (default python3), BUDGET_S (seconds for everything, default 570),
# SECTIONS (default "fused tests workflow throughput precision mps profile study"; add compile for the
# torch.compile step mode), JOBS_PER_GPU (concurrent gpu jobs in the workflow, default 8),
# GPU_CHECK_OUT (report folder, default benchmarks/results), GPU_CHECK_COMMIT (the commit
# checked, for the report; the GPU machine gets a working tree without git). Without CUDA
# every section is reported as skipped and the script exits 0 (GPU_CHECK_FORCE=1 runs them
# anyway: a dry rehearsal of the failure and time-limit handling).
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
started=$(date +%s)
budget=${BUDGET_S:-570}
sections=${SECTIONS:-fused tests workflow throughput precision mps profile study}
per_gpu=${JOBS_PER_GPU:-8}
report_dir=${GPU_CHECK_OUT:-benchmarks/results}
work=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
status=$work/sections.tsv
: >"$status"
python=${PYTHON:-python3}
# shellcheck source=workflow/scripts/mps.sh
source workflow/scripts/mps.sh

left() { echo $((budget - ($(date +%s) - started))); }

# record NAME STATUS SECONDS LIMIT NOTE
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$status"; }

# run NAME CAP_SECONDS COMMAND...: bounded by CAP and by what is left of the budget
# (20 s kept for the report); output in $work/NAME.log.
run() {
  local name=$1 cap=$2 limit rc begin
  shift 2
  limit=$(($(left) - 20))
  ((cap < limit)) && limit=$cap
  if ((limit < 15)); then
    record "$name" skipped 0 0 "no time left in the ${budget} s budget"
    return
  fi
  echo "== $name (up to ${limit} s)" >&2
  begin=$(date +%s)
  timeout --kill-after=15 "$limit" "$@" >"$work/$name.log" 2>&1
  rc=$?
  local took=$(($(date +%s) - begin))
  case $rc in
    0) record "$name" ok "$took" "$limit" "" ;;
    124 | 137) record "$name" timeout "$took" "$limit" "stopped after ${limit} s" ;;
    *) record "$name" failed "$took" "$limit" "exit $rc" ;;
  esac
}

# --- setup: the workflow's packages from the wheelhouse, if the machine lacks them ------
# Installed into a folder put first on PYTHONPATH (the machine's Python may itself be a
# venv, whose packages a --system-site-packages venv would not see); Snakemake's jobs
# inherit PYTHONPATH.
needed="import importlib.util as u, sys
sys.exit(any(u.find_spec(m) is None for m in ('snakemake', 'imageio_ffmpeg', 'ffmpeg', 'jsonschema', 'skvideo', 'pytest')))"
site=$work/site
setup() {
  if "$python" -c "$needed" 2>/dev/null; then
    echo "packages present: no setup needed"
    return 0
  fi
  if ! ls wheelhouse/*.whl >/dev/null 2>&1; then
    echo "missing packages and no wheelhouse/: run benchmarks/gpu_wheels.sh where there is a network"
    return 1
  fi
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --disable-pip-version-check \
    --target "$site" wheelhouse/*.whl &&
    PYTHONPATH="$site" "$python" -c "$needed"
}
begin=$(date +%s)
if setup >"$work/setup.log" 2>&1; then
  record setup ok $(($(date +%s) - begin)) 0 ""
else
  record setup failed $(($(date +%s) - begin)) 0 "see setup.log"
fi
[[ -d $site ]] && export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH="$repo/workflow/scripts${PYTHONPATH:+:$PYTHONPATH}"

cuda_check="import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"
if [[ -z ${GPU_CHECK_FORCE:-} ]] && ! "$python" -c "$cuda_check" 2>>"$work/setup.log"; then
  for name in $sections; do record "$name" skipped 0 0 "no CUDA GPU on this machine"; done
else
  nvidia-smi >"$work/nvidia-smi.log" 2>&1
  for name in $sections; do
    case $name in
      workflow)
        mkdir -p "$work/workflow"
        # As run.sh study runs it: several jobs per GPU under MPS.
        JOBS_PER_GPU=$per_gpu mps_start "$work/workflow-mps" 2>>"$work/workflow-mps.log"
        # greedy scheduler: the wheelhouse leaves out pulp (the ILP scheduler's solver).
        JOBS_PER_GPU=$per_gpu run workflow 330 "$python" -m snakemake -s "$repo/Snakefile" \
          --directory "$work/workflow" --configfile "$repo/config/gpu.yaml" --cores 16 \
          --resources gpu="$per_gpu" --scheduler greedy --keep-going
        mps_stop
        ;;
      fused)
        # Fused training (issue 21): G models per step in TF32 and bf16, the layer kinds,
        # concurrent fused jobs without MPS; then under MPS, with the projected thesis time.
        run fused_tf32 100 "$python" benchmarks/fused_throughput.py --device cuda --tf32 --groups 1,3,5,15,45 \
          --sections layers,throughput,jobs --jobs 1,4 --fuse 5 --seconds 1 --repeat 3 --out "$work/fused_tf32"
        run fused_bf16 40 "$python" benchmarks/fused_throughput.py --device cuda --precision bf16 \
          --groups 1,3,5,15,45 --sections throughput --seconds 1 --out "$work/fused_bf16"
        # Without an MPS daemon the concurrent jobs take turns on the GPU; the rows say which.
        JOBS_PER_GPU=8 mps_start "$work/fused-mps" 2>>"$work/fused-mps-daemon.log"
        run fused_mps 90 "$python" benchmarks/fused_throughput.py --device cuda --tf32 --sections jobs,project \
          --jobs 1,4,8 --fuse 5 --seconds 1 --out "$work/fused_mps"
        mps_stop
        ;;
      tests)
        run tests 80 "$python" -m pytest tests/test_cuda.py -m cuda -q -p no:cacheprovider \
          --junitxml "$work/tests.xml" -o addopts="-ra"
        ;;
      study)
        run study 45 "$python" benchmarks/study.py --only uhd,vram --device cuda --repeat 3 --out "$work/study"
        ;;
      throughput)
        run throughput 80 "$python" benchmarks/train_throughput.py --device cuda --variants all \
          --modes baseline,eager,graph --jobs 1,2,4,8 --seconds 1 --rounds 1 --out "$work/throughput"
        ;;
      precision)
        run tf32 30 "$python" benchmarks/train_throughput.py --device cuda --tf32 --variants "" \
          --modes graph --seconds 1.5 --rounds 1 --out "$work/tf32"
        run bf16 30 "$python" benchmarks/train_throughput.py --device cuda --precision bf16 --variants "" \
          --modes graph --seconds 1.5 --rounds 1 --out "$work/bf16"
        ;;
      mps)
        if ! command -v nvidia-cuda-mps-control >/dev/null; then
          record mps skipped 0 0 "nvidia-cuda-mps-control is not on this machine"
        else
          JOBS_PER_GPU=8 mps_start "$work/mps" 2>>"$work/mps-daemon.log"
          if [[ -n ${SRSTUDY_MPS_STARTED:-} ]]; then
            run mps 60 "$python" benchmarks/train_throughput.py --device cuda --variants "" --modes "" \
              --jobs 1,4,8 --seconds 1 --out "$work/mps"
            # Evidence that the jobs went through MPS: the servers it started.
            echo get_server_list | timeout 10 nvidia-cuda-mps-control >>"$work/mps-daemon.log" 2>&1
            mps_stop
          else
            record mps failed 0 0 "the MPS daemon did not start: see mps-daemon.log"
          fi
        fi
        ;;
      profile)
        run profile 40 "$python" benchmarks/gpu_profile.py --out "$work/profile"
        ;;
      compile)  # not in the default list: torch.compile's warm-up alone can take a minute
        run compile 150 "$python" benchmarks/train_throughput.py --device cuda --variants "" \
          --modes baseline,compile --seconds 2 --rounds 1 --out "$work/compile"
        ;;
      *) record "$name" skipped 0 0 "unknown section" ;;
    esac
  done
fi

written=$("$python" benchmarks/gpu_report.py --work "$work" --out "$report_dir" --budget "$budget" \
  --elapsed $(($(date +%s) - started)) --jobs-per-gpu "$per_gpu" --commit "${GPU_CHECK_COMMIT:-}")
rc=$?
echo "report: $written (work folder $work)" >&2
if [[ -n ${OUT:-} && -d ${OUT:-} ]]; then
  # $OUT takes few files: the report, and one archive of what it was made from.
  # shellcheck disable=SC2086 # two paths, no spaces
  [[ $rc == 0 ]] && cp $written "$OUT"/
  (cd "$work" && find . -maxdepth 1 -type f \( -name '*.log' -o -name '*.tsv' -o -name '*.json' \
    -o -name '*.md' -o -name '*.xml' \) -print0 >files.lst &&
    { [[ -d workflow/results ]] && find workflow/results \( -path '*/tables/*' -o -name log.csv \
      -o -name 'run_summary*' -o -path '*/benchmarks/*' -o -path '*/logs/*' \) -type f -print0 >>files.lst; true; } &&
    find workflow/.snakemake/log -name '*.log' -type f -print0 >>files.lst 2>/dev/null
    tar -czf "$OUT/gpu-check-artifacts.tar.gz" --null -T files.lst)
fi
exit $rc
