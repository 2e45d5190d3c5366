"""Config checks run before any job: schema (with defaults), semantics, videos."""

import copy

import pytest
import yaml
from conftest import (
    BBB_SPEC,
    REPO,
    SCHEMA,
    SYNTHETIC_FRAMES,
    TEST_CONFIG,
    explain,
    make_lavfi_clip,
    rename_key,
    set_key,
    snakemake,
)
from srstudy.plan.config import validate_schema
from srstudy.plan.errors import ConfigError
from srstudy.plan.frames import frame_ids
from srstudy.plan.preflight import check_semantics, check_videos
from srstudy.plan.variants import variant_spec
from srstudy.stages.video import resolve_video


def validated(config: dict) -> dict:
    return validate_schema(config, SCHEMA)


def schema_error(config: dict) -> str:
    with pytest.raises(ConfigError) as error:
        validated(config)
    return str(error.value)


def semantics_error(config: dict) -> str:
    validated(config)
    with pytest.raises(ConfigError) as error:
        check_semantics(config)
    return str(error.value)


def videos_error(config: dict) -> str:
    validated(config)
    check_semantics(config)
    with pytest.raises(ConfigError) as error:
        check_videos(config)
    return str(error.value)


# --- the schema ------------------------------------------------------------------------


def test_schema_fills_defaults():
    config = validated(
        {
            "video": {"path": BBB_SPEC},
            "frames": {
                "train": {"start": 0, "stop": 4},
                "eval": {"start": 4, "stop": 6},
                "test": {"start": 6, "stop": 8},
            },
            "scales": [2],
            "threads": {"extract": 1},
        }
    )
    assert config["defaults"]["lr"] == 1e-4
    assert config["defaults"]["layers"] == [
        {"kernel": 9, "channels": 64},
        {"kernel": 5, "channels": 32},
        {"kernel": 5, "channels": 1},
    ]
    assert config["defaults"]["activation"] == "relu"
    assert config["defaults"]["batch_size"] == 16
    assert config["defaults"]["seeds"] == [123]
    assert config["threads"] == {"extract": 1, "degrade": 2, "train": 2, "upscale": 2, "score": 1}
    assert config["device"] == "auto"
    assert config["ffmpeg"] is None
    assert config["ood_tests"] == {}
    assert config["variants"] == {"default": {}}
    assert config["baseline_variant"] == "default"
    assert config["video"]["url"] is None
    assert config["frames"]["train"]["step"] == 1
    assert config["progress"] == {"save_every_seconds": 120, "save_every_steps": None, "step_delay_seconds": 0}


def test_schema_keeps_given_values_and_variants_inherit(test_config):
    config = validated(test_config)
    assert config["defaults"]["lr"] == 1e-3
    assert config["defaults"]["epochs"] == 2
    assert config["threads"]["train"] == 1
    assert config["variants"]["elu"] == {"activation": "elu"}  # overrides only, no defaults copied in
    spec = variant_spec(config, "elu")
    assert spec["activation"] == "elu" and spec["lr"] == 1e-3 and spec["patch_size"] == 33


SCHEMA_ERRORS = {
    # name: (change, text the message must hold: the key, the bad value)
    "misspelled top-level key": (rename_key(["scales"], "scale"), ["(top level)", "'scale'"]),
    "misspelled frames key": (rename_key(["frames", "train"], "trian"), ["frames:", "'trian'"]),
    "misspelled range key": (set_key(["frames", "test", "stpe"], 2), ["frames.test:", "'stpe'"]),
    "misspelled defaults key": (set_key(["defaults", "learning_rate"], 0.1), ["defaults:", "'learning_rate'"]),
    "misspelled variant key": (set_key(["variants", "elu", "activaton"], "elu"), ["variants.elu:", "'activaton'"]),
    "misspelled ood key": (rename_key(["ood_tests", "bikes", "frames"], "frame"), ["ood_tests.bikes:", "'frame'"]),
    "scales not a list": (set_key(["scales"], 2), ["scales:", "not of type 'array'"]),
    # Strings that spell numbers are read as numbers (--config gives strings); others are not.
    "scale as a word": (set_key(["scales"], ["two"]), ["scales[0]:", "not of type 'integer'"]),
    "threads as a word": (set_key(["threads", "train"], "2 threads"), ["threads.train:", "not of type 'integer'"]),
    "lr as a word": (set_key(["defaults", "lr"], "fast"), ["defaults.lr:", "not of type 'number'"]),
    "scale below 2": (set_key(["scales"], [1, 2]), ["scales[0]:", "minimum of 2"]),
    "duplicate scales": (set_key(["scales"], [2, 2]), ["scales:", "non-unique"]),
    "variant name with a space": (set_key(["variants", "my variant"], {}), ["variants:", "'my variant'"]),
    "variant name with a slash": (set_key(["variants", "a/b"], {}), ["variants:", "'a/b'"]),
    "unknown activation": (set_key(["variants", "elu", "activation"], "swish"), ["variants.elu.activation:", "swish"]),
    "bad device": (set_key(["device"], "gpu"), ["device:", "'gpu'"]),
    "negative frame": (set_key(["frames", "eval", "start"], -1), ["frames.eval.start:", "minimum of 0"]),
    "missing video": (lambda c: c.pop("video"), ["(top level)", "'video' is a required property"]),
}


@pytest.mark.parametrize("case", sorted(SCHEMA_ERRORS))
def test_schema_refuses(test_config, case):
    change, expected = SCHEMA_ERRORS[case]
    change(test_config)
    message = schema_error(test_config)
    for text in expected:
        assert text in message, message


def test_schema_lists_every_problem(test_config):
    test_config["scalse"] = [2]
    test_config["defaults"]["lr"] = -1
    message = schema_error(test_config)
    assert "'scalse'" in message and "defaults.lr:" in message


# --- command-line overrides (snakemake --config) ------------------------------------------


def test_strings_become_the_types_the_schema_asks_for(test_config):
    # What `--config scales=[2,3] 'defaults={epochs: 3, lr: 1e-3}'` delivers: strings.
    test_config["scales"] = ["2", "3"]
    test_config["defaults"] = {"epochs": "3", "lr": "1e-3", "patches_per_epoch": "null"}
    test_config["variants"]["elu"] = {"activation": "elu", "seeds": ["5"]}
    test_config["upscale"] = {"tile": "256"}
    test_config["report"]["psnr_map"] = {"frame": "null", "cell": "64"}
    config = validated(test_config)
    assert config["scales"] == [2, 3]
    assert config["defaults"]["epochs"] == 3 and config["defaults"]["lr"] == 1e-3
    assert config["defaults"]["patches_per_epoch"] is None
    assert config["variants"]["elu"]["seeds"] == [5]
    assert config["upscale"]["tile"] == 256 and config["report"]["psnr_map"] == {"frame": None, "cell": 64}


def test_strings_stay_where_the_schema_wants_strings(test_config):
    test_config["baseline_variant"] = "default"
    test_config["variants"] = {"default": {}, "123": {"activation": "tanh"}}
    test_config["upscale"] = {"tile": "auto"}
    config = validated(test_config)
    assert "123" in config["variants"] and config["upscale"]["tile"] == "auto"


def test_a_string_that_is_no_number_is_still_refused(test_config):
    test_config["scales"] = ["2", "two"]
    assert "scales[1]: 'two' is not of type 'integer'" in schema_error(test_config)


def test_command_line_lists_and_nested_keys_reach_the_dag(tmp_path):
    """A real dry run with list and nested overrides: one scale, other seeds and epochs."""
    result = snakemake(tmp_path, "-n", "--config", "scales=[3]", "defaults={epochs: 1, seeds: [5, 6]}")
    assert result.returncode == 0, explain(result)
    assert "x3/" in result.stdout and "x2/" not in result.stdout, explain(result)
    assert "seed6/" in result.stdout and "seed123" not in result.stdout, explain(result)


# --- semantics ----------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b"), [("train", "eval"), ("train", "test"), ("eval", "test")])
def test_overlapping_frame_sets_are_refused(test_config, a, b):
    test_config["frames"][b] = copy.deepcopy(test_config["frames"][a])
    test_config["frames"][b]["stop"] += 1000
    message = semantics_error(test_config)
    assert f"frames.{a} and frames.{b} overlap" in message
    assert "disjoint" in message


def test_overlap_message_names_the_shared_frames(test_config):
    test_config["frames"]["eval"] = {"start": 10, "stop": 31}
    assert "frames [10]" in semantics_error(test_config)


@pytest.mark.parametrize("frame_set", ["train", "eval", "test"])
def test_empty_frame_range_is_refused(test_config, frame_set):
    test_config["frames"][frame_set] = {"start": 500, "stop": 500}
    message = semantics_error(test_config)
    assert f"frames.{frame_set}: the range holds no frame" in message


def test_empty_ood_range_is_refused(test_config):
    test_config["ood_tests"]["bikes"]["frames"] = {"start": 5, "stop": 2}
    assert "ood_tests.bikes.frames" in semantics_error(test_config)


def test_last_layer_must_output_one_channel(test_config):
    test_config["variants"]["wide"] = {"layers": [{"kernel": 9, "channels": 64}, {"kernel": 5, "channels": 3}]}
    message = semantics_error(test_config)
    assert "variants.wide.layers" in message and "1 output channel" in message


def test_last_layer_in_defaults(test_config):
    test_config["defaults"]["layers"] = [{"kernel": 9, "channels": 64}, {"kernel": 5, "channels": 2}]
    assert "defaults.layers" in semantics_error(test_config)


def test_even_kernel_is_refused(test_config):
    test_config["variants"]["even"] = {"layers": [{"kernel": 8, "channels": 64}, {"kernel": 5, "channels": 1}]}
    assert "variants.even.layers: kernel sizes must be odd" in semantics_error(test_config)


def test_unknown_baseline_and_reserved_name(test_config):
    test_config["baseline_variant"] = "nope"
    test_config["variants"]["bicubic"] = {}
    message = semantics_error(test_config)
    assert "baseline_variant: 'nope'" in message
    assert "variants.bicubic" in message


def test_semantics_accept_the_test_config(test_config):
    check_semantics(validated(test_config))


# --- videos -------------------------------------------------------------------------


def synthetic_config(test_config, clip, **frames) -> dict:
    test_config["video"] = {"path": str(clip)}
    test_config["frames"] = {
        "train": {"start": 0, "stop": 4},
        "eval": {"start": 4, "stop": 6},
        "test": {"start": 6, "stop": SYNTHETIC_FRAMES},
        **frames,
    }
    test_config["ood_tests"] = {}
    test_config.pop("report", None)  # its crops are placed on the CI config's own test frames
    return test_config


def test_check_videos_resolves_every_video(test_config):
    videos = check_videos(validated(test_config))
    assert videos == {
        "video": resolve_video(BBB_SPEC),
        "ood_tests.bikes.video": resolve_video(test_config["ood_tests"]["bikes"]["video"]["path"]),
    }


def test_synthetic_clip_config_passes(test_config, synthetic_clip):
    config = validated(synthetic_config(test_config, synthetic_clip))
    check_semantics(config)
    assert check_videos(config) == {"video": synthetic_clip}


def test_missing_video_without_url_is_refused(tmp_path, test_config):
    missing = tmp_path / "missing.mp4"
    test_config["ood_tests"]["bikes"]["video"] = {"path": str(missing)}
    message = videos_error(test_config)
    assert f"ood_tests.bikes.video.path: video '{missing}' does not exist" in message


def test_missing_video_with_url_is_left_to_the_download(tmp_path, test_config):
    missing = tmp_path / "missing.mp4"
    test_config["video"] = {"path": str(missing), "url": "https://example.org/clip.mp4"}
    assert check_videos(validated(test_config))["video"] == missing


def test_unknown_package_is_refused(test_config):
    test_config["video"]["path"] = "package:no-such-distribution-xyz/a.mp4"
    message = videos_error(test_config)
    assert "video.path:" in message and "no-such-distribution-xyz" in message


def test_not_a_video_is_refused(tmp_path, test_config):
    text = tmp_path / "video.mp4"
    text.write_text("not a video")
    test_config["video"]["path"] = str(text)
    message = videos_error(test_config)
    assert f"video.path: '{text}' is not a readable video" in message


def test_frame_beyond_the_video_is_refused(test_config, synthetic_clip):
    synthetic_config(test_config, synthetic_clip, test={"start": 6, "stop": 40})
    message = videos_error(test_config)
    assert "frame 39 is configured" in message
    assert str(synthetic_clip) in message
    assert f"use frame numbers below {SYNTHETIC_FRAMES}" in message


def test_frame_beyond_the_embedded_clip_is_refused(test_config):
    test_config["frames"]["test"] = {"start": 100, "stop": 300, "step": 10}
    assert "frame 290 is configured" in videos_error(test_config)


def test_scale_too_large_for_the_frame_is_refused(tmp_path, test_config, ffmpeg_exe):
    small = make_lavfi_clip(ffmpeg_exe, tmp_path / "small.mp4", SYNTHETIC_FRAMES, size=(128, 72))
    synthetic_config(test_config, small)
    test_config["scales"] = [2, 16]  # 16 is the largest scale the schema allows
    message = videos_error(test_config)
    assert "video.path:" in message
    assert "too small for scale 16" in message
    assert "Remove scale 16 from 'scales'" in message
    assert "scale 2 " not in message


# --- the shipped configs --------------------------------------------------------------

SHIPPED = sorted((REPO / "config").glob("*.yaml")) + [TEST_CONFIG]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(REPO)))
def test_shipped_config_is_valid(path, monkeypatch):
    monkeypatch.chdir(REPO)  # video paths are relative to the working directory
    config = validated(yaml.safe_load(path.read_text()))
    check_semantics(config)
    for name in ("train", "eval", "test"):
        assert frame_ids(config["frames"][name])
    specs = [config["video"]] + [test["video"] for test in config["ood_tests"].values()]
    if all(resolve_video(spec["path"]).exists() or spec["url"] for spec in specs):
        check_videos(config)
    else:
        pytest.skip(f"{path.name}: a video is not on this machine and has no url")


def test_videos_name_configured_variants_and_scales(test_config):
    test_config["videos"] = {"variants": ["elu", "gelu"], "scales": [2, 5]}
    message = semantics_error(test_config)
    assert "videos.variants: ['gelu'] not among the variants" in message
    assert "videos.scales: [5] not among the scales [2, 3]" in message
