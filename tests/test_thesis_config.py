"""config/thesis.yaml: the thesis's setup, valid, and the DAG it makes (dry runs only),
on a synthetic 3840x2160 stand-in for the Big Buck Bunny 2160p master."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, SCHEMA
from srstudy.plan.config import validate_schema
from srstudy.plan.frames import frame_ids
from srstudy.plan.preflight import check_semantics
from srstudy.plan.variants import variant_spec
from srstudy.report.published import thesis_columns
from srstudy.stages.video import make_standin, probe

THESIS = REPO / "config/thesis.yaml"
SNAKEFILE = REPO / "Snakefile"
SCALES = [2, 3, 4, 6, 8]
VARIANT_LAYERS = {
    "default": [(9, 64), (5, 32), (5, 1)],
    "additional_layer": [(9, 64), (5, 32), (5, 16), (5, 1)],
    "elu": [(9, 64), (5, 32), (5, 1)],
    "sigmoid": [(9, 32), (5, 32), (5, 1)],
    "tanh": [(9, 32), (5, 32), (5, 1)],
    "low_channels": [(9, 32), (5, 32), (5, 1)],
    "additional_layer_full": [(9, 128), (5, 64), (5, 32), (5, 1)],
    "sigmoid_full": [(9, 64), (5, 32), (5, 1)],
    "tanh_full": [(9, 64), (5, 32), (5, 1)],
}
THESIS_NAMES = {
    "default": "Default",
    "additional_layer": "Additional layer",
    "elu": "ELU",
    "sigmoid": "Sigmoid",
    "tanh": "TANH",
    "low_channels": "Low channels",
}
SEEDS = 3
ACTIVATIONS = {"elu": "elu", "sigmoid": "sigmoid", "tanh": "tanh", "sigmoid_full": "sigmoid", "tanh_full": "tanh"}


def thesis_config() -> dict:
    return validate_schema(yaml.safe_load(THESIS.read_text()), SCHEMA)


def test_thesis_config_is_valid_and_is_the_thesis_setup():
    config = thesis_config()
    check_semantics(config)
    assert config["scales"] == SCALES
    assert frame_ids(config["frames"]["test"]) == list(range(155, 446, 10))
    assert len(frame_ids(config["frames"]["test"])) == 30
    assert set(config["variants"]) == set(VARIANT_LAYERS)
    for name, layers in VARIANT_LAYERS.items():
        spec = variant_spec(config, name)
        assert [(layer["kernel"], layer["channels"]) for layer in spec["layers"]] == layers, name
        assert spec["activation"] == ACTIVATIONS.get(name, "relu"), name
        assert (spec["epochs"], spec["lr"], spec["last_layer_lr_factor"]) == (40, 1e-4, 0.1), name
        assert (spec["batch_size"], spec["patch_size"], spec["patch_stride"]) == (16, 33, 14), name
        assert spec["seeds"] == [123, 124, 125], name
    assert config["upscale"]["thesis_code"] is True
    assert thesis_columns(config) == {
        "variants": {name: THESIS_NAMES[name] for name in THESIS_NAMES},
        "scales": SCALES,
        "excluded": [],
    }
    video = config["video"]
    assert video["path"].endswith("bbb_sunflower_2160p_60fps_normal.mp4")
    assert video["url"].startswith("https://") and video["url"].endswith(Path(video["path"]).name)


# --- dry runs ----------------------------------------------------------------------------


def dry_run(workdir: Path, configfile: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "-n", "-s", str(SNAKEFILE), "--directory", str(workdir)]
    command += ["--configfile", str(configfile), "--cores", "8", "--resources", "gpu=1"]
    return subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=300)


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run: {rule: count}."""
    table = output[output.index("Job stats:") :]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m.group(1) != "total"}


def explain(result) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"


@pytest.fixture(scope="module")
def standin(tmp_path_factory, ffmpeg_exe) -> Path:
    """A 3840x2160, 60 fps H.264 clip as long as the configured frames need."""
    frames_needed = max(max(frame_ids(r)) for r in thesis_config()["frames"].values()) + 1
    clip = make_standin(tmp_path_factory.mktemp("standin") / "bbb_standin_2160p60.mp4", frames_needed)
    info = probe(clip, ffmpeg_exe)
    assert (info.width, info.height, info.fps) == (3840, 2160, 60)
    assert info.approx_frames >= frames_needed
    return clip


def test_dry_run_on_a_2160p_standin_trains_every_variant_at_every_scale(tmp_path, standin):
    config = yaml.safe_load(THESIS.read_text())
    config["video"] = {"path": str(standin)}  # present: no download
    configfile = tmp_path / "thesis-standin.yaml"
    configfile.write_text(yaml.safe_dump(config))
    result = dry_run(tmp_path, configfile)
    assert result.returncode == 0, explain(result)
    counts = job_counts(result.stdout)
    variants = len(VARIANT_LAYERS)
    # train.group: scales: one fused job per variant and seed trains its models at every scale
    assert counts["train_group"] == variants * SEEDS and "train" not in counts, counts
    assert counts["upscale"] == len(SCALES) * variants * SEEDS, counts
    assert counts["extract_frames"] == 3  # train, eval and test frames: one job per frame set
    assert counts["degrade"] == 3 * len(SCALES)
    assert counts["pack_h5"] == len(SCALES)
    assert "download_video" not in counts
    for scale in SCALES:
        for variant in VARIANT_LAYERS:
            assert f"results/models/x{scale}/{variant}/seed123/model.pt" in result.stdout


def test_dry_run_without_the_video_downloads_it_first(tmp_path):
    """The configured master is missing in a fresh working directory: it has a url, so the
    config is accepted and the DAG starts with one download_video job."""
    result = dry_run(tmp_path, THESIS)
    assert result.returncode == 0, explain(result)
    counts = job_counts(result.stdout)
    assert counts["download_video"] == 1, counts
    assert counts["train_group"] == len(VARIANT_LAYERS) * SEEDS and "train" not in counts, counts
    assert "output: resources/bbb_sunflower_2160p_60fps_normal.mp4" in result.stdout
