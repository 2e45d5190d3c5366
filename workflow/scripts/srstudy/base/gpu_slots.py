"""GPU placement by slot: with ``--resources gpu=N*G`` (``JOBS_PER_GPU=N`` on G GPUs),
each gpu job holds one of the N*G slots for its whole life and runs on GPU slot // N.

Placing jobs by "most free memory" fails exactly when it matters: jobs that start
together all see the same free memory and pick the same GPU. A slot is a lock file
(``flock``) that the job takes before CUDA starts and the kernel releases when the
process ends, however it ends (kill -9 included), so a crashed job never leaks its slot.
Snakemake's ``gpu`` resource caps how many jobs run at once, so a free slot always
exists below that cap."""

import fcntl
import os
import subprocess
from pathlib import Path

JOBS_PER_GPU_VARIABLE = "JOBS_PER_GPU"
SLOT_DIR = Path(".snakemake/gpu-slots")  # in the working directory Snakemake runs jobs in
MAX_SLOTS = 1024

_held: list[int] = []  # file descriptors of held slots, open until the process ends


def jobs_per_gpu(environ=os.environ) -> int:
    value = environ.get(JOBS_PER_GPU_VARIABLE, "1").strip() or "1"
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{JOBS_PER_GPU_VARIABLE}={value!r}: use a whole number >= 1 (gpu jobs per GPU)")
    return int(value)


def visible_gpus(environ=os.environ) -> list[str]:
    """The GPUs jobs may use: CUDA_VISIBLE_DEVICES as the user set it (a restriction
    such as 0,1 is kept), else every GPU ``nvidia-smi -L`` lists; [] without one."""
    if "CUDA_VISIBLE_DEVICES" in environ:
        return [gpu.strip() for gpu in environ["CUDA_VISIBLE_DEVICES"].split(",") if gpu.strip()]
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [str(index) for index, line in enumerate(line for line in listing.splitlines() if line.startswith("GPU"))]


def gpu_for_slot(slot: int, per_gpu: int, gpus: list[str]) -> str:
    """Slots 0..N-1 on the first GPU, N..2N-1 on the second, ...; beyond N*G (a cap
    larger than JOBS_PER_GPU x GPUs) they wrap around."""
    return gpus[(slot // per_gpu) % len(gpus)]


def acquire_slot(directory: str | Path = SLOT_DIR) -> int:
    """Take the lowest free slot under ``directory`` and hold it until the process exits."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for slot in range(MAX_SLOTS):
        handle = os.open(directory / f"slot-{slot}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            continue
        _held.append(handle)
        return slot
    raise RuntimeError(f"all {MAX_SLOTS} gpu slots under {directory} are taken; is --resources gpu set?")


def place_on_gpu(directory: str | Path = SLOT_DIR, environ=os.environ) -> str | None:
    """Pin this process to the GPU of a slot it holds (sets CUDA_VISIBLE_DEVICES; call
    before anything starts CUDA). Under SLURM the job's own allocation is kept. Returns
    the GPU, or None when there is nothing to place (no GPU, or SLURM)."""
    if "SLURM_JOB_ID" in environ:
        return None
    gpus = visible_gpus(environ)
    if not gpus:
        return None
    slot = acquire_slot(directory)
    gpu = gpu_for_slot(slot, jobs_per_gpu(environ), gpus)
    environ["CUDA_VISIBLE_DEVICES"] = gpu
    print(f"gpu slot {slot}: CUDA_VISIBLE_DEVICES={gpu}", flush=True)
    return gpu
