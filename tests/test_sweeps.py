"""Sweeps: grids of settings expand into named variants that join every job and table."""

import copy
import re

import pytest
import yaml
from conftest import SCHEMA, explain, snakemake
from srstudy.plan.config import validate_schema
from srstudy.plan.errors import ConfigError
from srstudy.plan.variants import expand_sweeps, value_label

LAYERS_DEEP = [
    {"kernel": 9, "channels": 64},
    {"kernel": 5, "channels": 32},
    {"kernel": 5, "channels": 16},
    {"kernel": 5, "channels": 1},
]


def expanded(test_config, sweeps):
    config = validate_schema({**copy.deepcopy(test_config), "sweeps": sweeps}, SCHEMA)
    return expand_sweeps(config, SCHEMA)


def test_value_labels_are_valid_name_parts():
    assert [value_label(v) for v in (1e-3, 1e-4, 1e-5, 0.5, 16, "elu", None)] == [
        "0p001",
        "0p0001",
        "1e-05",
        "0p5",
        "16",
        "elu",
        "none",
    ]


def test_a_grid_gives_every_combination_with_stable_names(test_config):
    config = expanded(test_config, {"g": {"factors": {"lr": [1e-3, 1e-4], "activation": ["relu", "elu", "prelu"]}}})
    generated = {name: spec for name, spec in config["variants"].items() if name.startswith("g_")}
    assert list(generated) == [
        "g_lr-0p001_activation-relu",
        "g_lr-0p001_activation-elu",
        "g_lr-0p001_activation-prelu",
        "g_lr-0p0001_activation-relu",
        "g_lr-0p0001_activation-elu",
        "g_lr-0p0001_activation-prelu",
    ]
    assert generated["g_lr-0p0001_activation-elu"] == {"lr": 1e-4, "activation": "elu"}
    assert {"default", "elu"} <= set(config["variants"])  # hand-written variants stay
    again = expanded(test_config, {"g": {"factors": {"lr": [1e-3, 1e-4], "activation": ["relu", "elu", "prelu"]}}})
    assert again["variants"] == config["variants"]


def test_one_factor_at_a_time_around_the_defaults_skips_the_base_point(test_config):
    sweep = {
        "design": "one_at_a_time",
        "factors": {"activation": ["relu", "elu"], "layers": {"deep": LAYERS_DEEP}, "batch_size": [4, 16]},
    }
    config = expanded(test_config, {"ofat": sweep})
    generated = {name: spec for name, spec in config["variants"].items() if name.startswith("ofat_")}
    # relu and batch 16 are the defaults: no variant for them
    assert generated == {
        "ofat_activation-elu": {"activation": "elu"},
        "ofat_layers-deep": {"layers": LAYERS_DEEP},
        "ofat_batch_size-4": {"batch_size": 4},
    }


def test_a_sweeps_base_applies_to_each_of_its_variants(test_config):
    config = expanded(test_config, {"s": {"base": {"activation": "elu"}, "factors": {"lr": [1e-3]}}})
    assert config["variants"]["s_lr-0p001"] == {"activation": "elu", "lr": 1e-3}


@pytest.mark.parametrize(
    ("sweeps", "message"),
    [
        (
            {"s": {"factors": {"lr": [0, 1e-3]}}},
            "sweeps.s.factors.lr (value '0'): 0 is less than or equal to the minimum of 0",
        ),
        (
            {"s": {"factors": {"activation": ["swish"]}}},
            "sweeps.s.factors.activation (value 'swish'): 'swish' is not one of",
        ),
        ({"s": {"factors": {"layers": {"bad": [{"kernel": 3}]}}}}, "sweeps.s.factors.layers (value 'bad'): "),
        ({"s": {"factors": {"activation": ["re lu"]}}}, "sweeps.s.factors.activation (value 're lu')"),
        ({"elu": {"factors": {}}}, "sweeps.elu.factors: {} is empty"),
        ({"s": {"factors": {"seeds": [[1]]}}}, "'seeds' is not one of"),
        ({"s": {"design": "one_at_a_time", "factors": {"activation": ["relu"]}}}, "every value equals the base"),
    ],
)
def test_bad_sweeps_are_refused_naming_the_key(test_config, sweeps, message):
    with pytest.raises(ConfigError) as error:
        expanded(test_config, sweeps)
    assert message in str(error.value)


def test_a_generated_name_that_clashes_is_refused(test_config):
    test_config["variants"]["s_lr-0p001"] = {}
    with pytest.raises(ConfigError, match="generated variant 's_lr-0p001' exists already"):
        expanded(test_config, {"s": {"factors": {"lr": [1e-3]}}})


def test_a_sweep_added_after_a_finished_run_trains_only_its_variants(e2e, tmp_path, test_config):
    workdir, _, result = e2e
    assert result.returncode == 0, "the end-to-end run failed"
    test_config["sweeps"] = {"act": {"design": "one_at_a_time", "factors": {"activation": ["relu", "prelu"]}}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(test_config, sort_keys=False))
    result = snakemake(workdir, "-n", "--cores", "2", "--resources", "gpu=1", configfile=path)
    assert result.returncode == 0, explain(result)
    trained = re.findall(r"^rule train(?:_group)?:\n(?:\s+.*\n)*?\s+wildcards: (.*)$", result.stdout, re.M)
    assert trained and all("variant=act_activation-prelu" in w for w in trained)
    assert len(trained) == 1  # one group job trains its scales; no existing model retrains
    assert "act_activation-relu" not in result.stdout  # relu is the default: no variant
