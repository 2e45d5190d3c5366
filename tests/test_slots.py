"""GPU placement by slot: real processes started together each hold a distinct slot and
land on GPU slot // JOBS_PER_GPU; a killed job's slot is free again; SLURM's own
allocation is kept. (The GPU list comes from CUDA_VISIBLE_DEVICES, as a user restricting
the GPUs would set it, so this runs without a GPU; test_cuda.py checks it with CUDA.)"""

import json
import os
import signal
import subprocess
import sys

import pytest
from conftest import REPO
from srstudy.base.gpu_slots import gpu_for_slot, jobs_per_gpu, place_on_gpu

HOLDER = (
    "import json, os, sys; from srstudy.base.gpu_slots import place_on_gpu; "
    "gpu = place_on_gpu(sys.argv[1]); "
    "print(json.dumps({'gpu': gpu, 'visible': os.environ.get('CUDA_VISIBLE_DEVICES')}), flush=True); "
    "sys.stdin.read()"  # hold the slot until the parent closes stdin
)


def start_holders(count, slot_dir, env):
    environment = {**os.environ, "PYTHONPATH": str(REPO / "workflow/scripts"), **env}
    command = [sys.executable, "-c", HOLDER, str(slot_dir)]
    return [
        subprocess.Popen(command, env=environment, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(count)
    ]


def report(process) -> dict:
    """The holder's placement, after place_on_gpu's own line ("gpu slot N: ...")."""
    line = process.stdout.readline()
    while line and not line.startswith("{"):
        line = process.stdout.readline()
    return json.loads(line)


def release(processes):
    for process in processes:
        if process.poll() is None:
            process.stdin.close()
        process.wait(timeout=30)


def test_concurrent_jobs_get_distinct_slots_and_their_gpus(tmp_path):
    env = {"CUDA_VISIBLE_DEVICES": "0,1", "JOBS_PER_GPU": "2"}
    holders = start_holders(4, tmp_path / "slots", env)
    try:
        placed = [report(p) for p in holders]  # all four hold a slot at this point
        assert sorted(p["gpu"] for p in placed) == ["0", "0", "1", "1"]
        assert all(p["visible"] == p["gpu"] for p in placed)

        # kill -9 one holder on GPU 1: the next job takes its slot, so lands on GPU 1.
        victim = next(h for h, p in zip(holders, placed, strict=True) if p["gpu"] == "1")
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        late = start_holders(1, tmp_path / "slots", env)
        holders += late
        assert report(late[0])["gpu"] == "1"
    finally:
        release(holders)


def test_slot_to_gpu_mapping_and_settings():
    assert [gpu_for_slot(s, 3, ["4", "7"]) for s in range(8)] == ["4", "4", "4", "7", "7", "7", "4", "4"]
    assert jobs_per_gpu({}) == 1 and jobs_per_gpu({"JOBS_PER_GPU": "4"}) == 4
    with pytest.raises(ValueError, match=r"JOBS_PER_GPU='two': use a whole number >= 1"):
        jobs_per_gpu({"JOBS_PER_GPU": "two"})


def test_slurm_allocation_and_gpu_less_machines_are_left_alone(tmp_path):
    slurm = {"SLURM_JOB_ID": "42", "CUDA_VISIBLE_DEVICES": "3"}
    assert place_on_gpu(tmp_path, slurm) is None and slurm["CUDA_VISIBLE_DEVICES"] == "3"
    no_gpu = {"CUDA_VISIBLE_DEVICES": ""}
    assert place_on_gpu(tmp_path, no_gpu) is None and no_gpu["CUDA_VISIBLE_DEVICES"] == ""
    assert not list(tmp_path.iterdir())  # no slot taken
