"""run.sh's CUDA MPS daemon (workflow/scripts/mps.sh) on a machine without MPS: nothing
is started, no MPS variable reaches the jobs, a daemon of the user's is left alone.
test_cuda.py checks the daemon itself where the machine has one."""

import os
import shutil
import subprocess

import pytest
from conftest import REPO

pytestmark = pytest.mark.skipif(
    shutil.which("nvidia-cuda-mps-control") is not None, reason="this machine has MPS: test_cuda.py checks it"
)


def after_start(tmp_path, **env) -> dict:
    """The MPS variables a job started after mps_start would see."""
    script = (
        f"source workflow/scripts/mps.sh; mps_start {tmp_path}/mps; "
        'echo "pipe=${CUDA_MPS_PIPE_DIRECTORY:-} started=${SRSTUDY_MPS_STARTED:-}"; mps_stop'
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CUDA_MPS")} | env
    result = subprocess.run(["bash", "-c", script], cwd=REPO, env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return dict(part.split("=", 1) for part in result.stdout.split())


@pytest.mark.parametrize("env", [{"JOBS_PER_GPU": "4"}, {"JOBS_PER_GPU": "1"}, {"JOBS_PER_GPU": "4", "MPS": "off"}])
def test_without_mps_jobs_get_no_mps_variables(tmp_path, env):
    assert after_start(tmp_path, **env) == {"pipe": "", "started": ""}
    assert not (tmp_path / "mps").exists()


def test_a_daemon_of_the_users_is_left_alone(tmp_path):
    mine = str(tmp_path / "my-pipe")
    assert after_start(tmp_path, JOBS_PER_GPU="4", CUDA_MPS_PIPE_DIRECTORY=mine) == {"pipe": mine, "started": ""}
