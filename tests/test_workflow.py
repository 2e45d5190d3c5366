"""The workflow as Snakemake runs it, always in a temporary working directory."""

import h5py
import numpy as np
import pytest
import yaml
from conftest import REPO, SYNTHETIC_SIZE, TEST_CONFIG, explain, png_ids, snakemake
from srstudy.base.frames import frame_name, modcrop
from srstudy.plan.frames import frame_ids
from srstudy.stages.dataset import y_plane
from srstudy.stages.video import probe, resolve_video, sha256

DEFAULT_CONFIG = REPO / "config/config.yaml"


def test_e2e_runs_to_completion(e2e):
    _, _, result = e2e
    assert result.returncode == 0, explain(result)


def test_e2e_frames(e2e):
    workdir, config, _ = e2e
    for split in ("train", "eval", "test"):  # one folder per frame set
        assert png_ids(workdir / f"results/frames/{split}") == frame_ids(config["frames"][split])
    for name, spec in config["ood_tests"].items():
        assert png_ids(workdir / f"results/ood/{name}/frames/test") == frame_ids(spec["frames"])


def test_e2e_h5_sets_hold_the_configured_frames_at_every_scale(e2e):
    workdir, config, _ = e2e
    video = resolve_video(config["video"]["path"])
    info = probe(video)
    assert config["scales"]
    for scale in config["scales"]:
        for split in ("train", "eval"):
            path = workdir / f"results/h5/x{scale}/{split}.h5"
            assert path.is_file(), path
            with h5py.File(path, "r") as h5:
                assert h5["frames"][...].tolist() == frame_ids(config["frames"][split]), path
                n = len(frame_ids(config["frames"][split]))
                shape = (n, info.height - info.height % scale, info.width - info.width % scale)
                assert h5["hr"].shape == h5["lr"].shape == shape, path
                assert h5.attrs["scale"] == scale
                assert h5.attrs["video_sha256"] == sha256(video)


def test_e2e_bicubic_frames_for_every_test_frame_and_scale(e2e):
    workdir, config, _ = e2e
    roots = {"results": frame_ids(config["frames"]["test"])}
    roots.update({f"results/ood/{name}": frame_ids(spec["frames"]) for name, spec in config["ood_tests"].items()})
    assert len(roots) > 1, "the CI config has an out-of-domain test set"
    for root, ids in roots.items():
        for scale in config["scales"]:
            folder = workdir / root / f"degraded/test/x{scale}"
            for sub in ("bicubic", "lr"):
                missing = set(ids) - set(png_ids(folder / sub))
                assert not missing, f"{folder / sub}: frames {sorted(missing)} missing"


def test_e2e_job_logs_hold_whole_lines(e2e):
    """Progress bars write whole lines into job logs, a few per epoch at most."""
    workdir, _, _ = e2e
    logs = sorted((workdir / "results/logs/train_group").rglob("*.log"))  # the CI config's models train in groups
    assert logs, "no training logs"
    for log in logs:
        text = log.read_text()
        assert "\r" not in text and "epoch 1:" in text, log
        assert len(text.splitlines()) < 20 and len(text) < 5000, (log, text)


def test_e2e_a_run_of_the_whole_study_ends_with_its_report(e2e):
    """The workflow writes results/report.html after a successful run of rule all
    (Snakefile: onsuccess), with every table and figure in it."""
    workdir, _, result = e2e
    assert result.returncode == 0, explain(result)
    report = workdir / "results/report.html"
    assert report.is_file() and report.stat().st_mtime >= (workdir / "results/tables/costs.html").stat().st_mtime
    assert "study done" in result.stderr + result.stdout


def test_e2e_second_run_has_nothing_to_do(e2e):
    workdir, _, first = e2e
    assert first.returncode == 0, "the first run failed"
    result = snakemake(workdir, "-n", "--cores", "2", "--resources", "gpu=1")
    assert result.returncode == 0, explain(result)
    output = result.stdout + result.stderr
    assert "Nothing to be done" in output, explain(result)


# --- other configs ----------------------------------------------------------------------


def test_default_config_dry_run(tmp_path):
    result = snakemake(tmp_path, "-n", "--cores", "2", "--resources", "gpu=1", configfile=DEFAULT_CONFIG)
    assert result.returncode == 0, explain(result)
    output = result.stdout + result.stderr
    for rule in ("extract_frames", "degrade", "pack_h5"):
        assert rule in output
    assert not (tmp_path / "results").exists()


def test_lint_is_clean(tmp_path):
    result = snakemake(tmp_path, "--lint", configfile=DEFAULT_CONFIG)
    assert result.returncode == 0, explain(result)


def _overlap(config):
    config["frames"]["eval"] = dict(config["frames"]["train"])


def _misspelled(config):
    config["scale"] = config.pop("scales")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_overlap, ["frames.train and frames.eval overlap"]),
        (_misspelled, ["unknown key 'scale' (did you mean 'scales'?)"]),
    ],
    ids=["overlapping-frames", "misspelled-key"],
)
def test_bad_config_fails_before_any_job(tmp_path, change, expected):
    config = yaml.safe_load(TEST_CONFIG.read_text())
    change(config)
    configfile = tmp_path / "bad.yaml"
    configfile.write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "--cores", "1", "--resources", "gpu=1", configfile=configfile)
    assert result.returncode != 0, explain(result)
    for text in expected:
        assert text in result.stderr, explain(result)
    assert not (tmp_path / "results").exists(), "a job ran"


def test_synthetic_clip_through_the_h5_sets(tmp_path, synthetic_clip, sequential_decode):
    """A clip from ffmpeg's lavfi source, a config written here, scales 2 and 3."""
    config = {
        "video": {"path": str(synthetic_clip)},
        "frames": {
            "train": {"start": 0, "stop": 6, "step": 2},
            "eval": {"start": 7, "stop": 9},
            "test": {"start": 9, "stop": 12},
        },
        "scales": [2, 3],
        "threads": {"extract": 1, "degrade": 1},
    }
    configfile = tmp_path / "synthetic.yaml"
    configfile.write_text(yaml.safe_dump(config))
    targets = [f"results/h5/x{scale}/{split}.h5" for scale in (2, 3) for split in ("train", "eval")]
    result = snakemake(tmp_path, "--cores", "2", "--resources", "gpu=1", configfile=configfile, targets=targets)
    assert result.returncode == 0, explain(result)

    frames = sequential_decode(synthetic_clip)
    width, height = SYNTHETIC_SIZE
    for scale in (2, 3):
        for split, ids in (("train", [0, 2, 4]), ("eval", [7, 8])):
            with h5py.File(tmp_path / f"results/h5/x{scale}/{split}.h5", "r") as h5:
                assert h5["frames"][...].tolist() == ids
                assert h5["hr"].shape == (len(ids), height - height % scale, width - width % scale)
                assert h5.attrs["video_sha256"] == sha256(synthetic_clip)
                for row, index in enumerate(ids):
                    # The ground truth is the frame as another decoder counts it.
                    np.testing.assert_array_equal(h5["hr"][row], y_plane(modcrop(frames[index], scale)))
    extracted = {"train": [0, 2, 4], "eval": [7, 8]}  # the training sets' frames, and no other
    assert sorted(p.name for p in (tmp_path / "results/frames").iterdir()) == ["eval", "train"]
    for split, ids in extracted.items():
        assert png_ids(tmp_path / f"results/frames/{split}") == ids
        for scale in (2, 3):
            assert sorted(p.name for p in (tmp_path / f"results/degraded/{split}/x{scale}/bicubic").iterdir()) == [
                frame_name(i) for i in ids
            ]
