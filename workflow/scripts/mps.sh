# CUDA MPS for several gpu jobs per GPU, sourced by run.sh and benchmarks/gpu_check.sh.
#
# Without MPS, the kernels of different processes never run on a GPU at the same time:
# the processes take turns, so N small training jobs on one GPU go no faster together than
# one. Under MPS their kernels share the GPU. mps_start starts a private control daemon
# (its pipe folder under .snakemake/mps/) when JOBS_PER_GPU > 1, the machine has
# nvidia-cuda-mps-control and no MPS daemon of the user's or the site's is in use
# (CUDA_MPS_PIPE_DIRECTORY set); only processes started from this shell (which inherit the
# variables) use it. MPS=off turns it off. mps_stop ends the daemon.

mps_start() {
  local root=${1:-.snakemake/mps}
  [[ ${MPS:-auto} == off ]] && return 0
  ((${JOBS_PER_GPU:-1} > 1)) || return 0
  [[ -z ${CUDA_MPS_PIPE_DIRECTORY:-} ]] || return 0
  if ! command -v nvidia-cuda-mps-control >/dev/null; then
    command -v nvidia-smi >/dev/null &&
      echo "note: no nvidia-cuda-mps-control here: the ${JOBS_PER_GPU} jobs on a GPU will take turns on it" >&2
    return 0
  fi
  [[ $root == /* ]] || root=$PWD/$root
  mkdir -p "$root/pipe" "$root/log"
  export CUDA_MPS_PIPE_DIRECTORY=$root/pipe CUDA_MPS_LOG_DIRECTORY=$root/log
  if timeout 20 nvidia-cuda-mps-control -d; then
    echo "CUDA MPS: ${JOBS_PER_GPU} jobs per GPU share it (daemon pipe $CUDA_MPS_PIPE_DIRECTORY; MPS=off to turn off)" >&2
    SRSTUDY_MPS_STARTED=1
  else
    echo "note: the CUDA MPS daemon did not start (see $CUDA_MPS_LOG_DIRECTORY); jobs on a GPU will take turns" >&2
    unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
  fi
}

mps_stop() {
  [[ -n ${SRSTUDY_MPS_STARTED:-} ]] || return 0
  echo quit | timeout 20 nvidia-cuda-mps-control >/dev/null 2>&1
  unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY SRSTUDY_MPS_STARTED
}
