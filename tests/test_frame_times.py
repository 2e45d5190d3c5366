"""Frame sets given in seconds: resolved to decode numbers with the video's frame rate."""

import pytest
import yaml
from conftest import SCHEMA, explain, png_ids, snakemake
from srstudy.plan.config import validate_schema
from srstudy.plan.errors import ConfigError
from srstudy.plan.frames import frame_ids, frames_at_times
from srstudy.plan.preflight import check_semantics


def test_frames_at_times_by_hand():
    assert frames_at_times(0, 1, 0.25, 60) == [0, 15, 30, 45]
    assert frames_at_times(1.0, 1.1, None, 60) == [60, 61, 62, 63, 64, 65]  # every frame, 1.1 s excluded
    assert frames_at_times(2.6, 7.4, 1.2, 60) == [156, 228, 300, 372]
    assert frames_at_times(0, 0.3, 0.1, 25) == [0, 2, 5]  # nearest frame: 2.5 -> 2 (half to even)


def synthetic_config(clip, **frames) -> dict:
    config = {
        "video": {"path": str(clip)},
        "frames": {
            "train": {"start_s": 0, "stop_s": 0.24, "every_s": 0.08},
            "eval": {"start_s": 0.28, "stop_s": 0.36},
            "test": {"start": 9, "stop": 12},
        }
        | frames,
        "scales": [2],
    }
    return validate_schema(config, SCHEMA)


def test_frame_sets_in_seconds_use_the_videos_frame_rate(synthetic_clip):
    config = synthetic_config(synthetic_clip)  # 25 fps
    check_semantics(config)
    assert frame_ids(config["frames"]["train"]) == [0, 2, 4]
    assert frame_ids(config["frames"]["eval"]) == [7, 8]
    assert frame_ids(config["frames"]["test"]) == [9, 10, 11]


def test_a_missing_video_needs_its_frame_rate(tmp_path):
    config = synthetic_config(tmp_path / "later.mp4")
    config["video"]["url"] = "https://example.org/later.mp4"
    with pytest.raises(ConfigError, match=r"video\.fps: frames are given in seconds .* set fps"):
        check_semantics(config)
    config["video"]["fps"] = 10
    check_semantics(config)
    assert frame_ids(config["frames"]["train"]) == [0, 1, 2]  # 0, 0.8, 1.6 frames: the nearest
    assert frame_ids(config["frames"]["eval"]) == [3]


def test_a_wrong_frame_rate_is_refused(synthetic_clip):
    config = synthetic_config(synthetic_clip)
    config["video"]["fps"] = 60
    with pytest.raises(ConfigError, match=r"video\.fps: 60 is configured but .* runs at 25 fps"):
        check_semantics(config)


def test_both_forms_in_one_set_are_refused(synthetic_clip):
    config = synthetic_config(synthetic_clip, test={"start": 9, "stop": 12, "start_s": 0.36, "stop_s": 0.48})
    with pytest.raises(ConfigError, match=r"frames\.test: give frame numbers .* not both"):
        check_semantics(config)


def test_a_set_with_neither_form_is_refused(synthetic_clip):
    with pytest.raises(ConfigError, match=r"frames\.test: give start and stop .* or start_s and stop_s"):
        synthetic_config(synthetic_clip, test={"step": 2})


def test_time_based_sets_through_snakemake(tmp_path, synthetic_clip):
    config = synthetic_config(synthetic_clip)
    config = {"video": {"path": str(synthetic_clip)}, "frames": config["frames"], "scales": [2]}
    for frames in config["frames"].values():
        frames.pop("step", None)
    configfile = tmp_path / "times.yaml"
    configfile.write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "--cores", "1", configfile=configfile, targets=["frames"])
    assert result.returncode == 0, explain(result)
    # each frame set is its own folder (srstudy.plan.dag: frames_of gets the resolved numbers)
    assert png_ids(tmp_path / "results/frames/train") == [0, 2, 4]
    assert png_ids(tmp_path / "results/frames/eval") == [7, 8]
    assert png_ids(tmp_path / "results/frames/test") == [9, 10, 11]
