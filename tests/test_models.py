"""The SRCNN built from a variant spec: shapes, parameter counts, learning rates."""

import pytest
import torch
import yaml
from conftest import REPO, SCHEMA
from srstudy.nets.arch import conv_macs, receptive_radius
from srstudy.nets.build import build_model, parameter_count, parameter_groups
from srstudy.nets.device import select_device
from srstudy.nets.layers import ACTIVATIONS
from srstudy.nets.registry import model_spec
from srstudy.plan.config import validate_schema
from srstudy.plan.variants import variant_spec

DEFAULT_LAYERS = [{"kernel": 9, "channels": 64}, {"kernel": 5, "channels": 32}, {"kernel": 5, "channels": 1}]

# Hand-counted: a conv k x k from c_in to c_out has k*k*c_in*c_out weights + c_out biases.
# default 9-5-5 64/32: 81*64+64 + 25*64*32+32 + 25*32+1
THESIS_PARAMETERS = {
    "default": 5248 + 51232 + 801,
    "additional_layer": 5248 + 51232 + (25 * 32 * 16 + 16) + (25 * 16 + 1),
    "elu": 5248 + 51232 + 801,
    "sigmoid": (81 * 32 + 32) + (25 * 32 * 32 + 32) + 801,
    "tanh": (81 * 32 + 32) + (25 * 32 * 32 + 32) + 801,
    "low_channels": (81 * 32 + 32) + (25 * 32 * 32 + 32) + 801,
    "additional_layer_full": (81 * 128 + 128) + (25 * 128 * 64 + 64) + (25 * 64 * 32 + 32) + 801,
    "sigmoid_full": 5248 + 51232 + 801,
    "tanh_full": 5248 + 51232 + 801,
}


@pytest.fixture(scope="module")
def configs():
    return {
        name: validate_schema(yaml.safe_load((REPO / f"config/{name}.yaml").read_text()), SCHEMA)
        for name in ("config", "thesis")
    }


def test_output_has_input_size():
    model = build_model({"layers": DEFAULT_LAYERS, "activation": "relu"})
    x = torch.rand(2, 1, 37, 53)
    assert model(x).shape == x.shape


@pytest.mark.parametrize("name", sorted(THESIS_PARAMETERS))
def test_thesis_variants_parameter_counts(configs, name):
    model = build_model(variant_spec(configs["thesis"], name))
    assert parameter_count(model) == THESIS_PARAMETERS[name]


def test_macs_per_pixel_counts_every_weight_once():
    assert conv_macs(DEFAULT_LAYERS) == 81 * 64 + 25 * 64 * 32 + 25 * 32
    model = build_model({"layers": DEFAULT_LAYERS, "activation": "relu"})
    weights = sum(p.numel() for name, p in model.named_parameters() if name.endswith("weight"))
    assert conv_macs(DEFAULT_LAYERS) == weights


def test_configs_carry_the_thesis_variants(configs):
    assert set(THESIS_PARAMETERS) <= set(configs["thesis"]["variants"])
    # The demo leaves out only additional_layer_full (41% of its compute); the rest build alike.
    # It adds the post-upsampling FSRCNN and ESPCN (tests/test_archs.py), not thesis variants.
    demo_srcnn = set(configs["config"]["variants"]) - {"fsrcnn", "espcn"}
    assert demo_srcnn == set(THESIS_PARAMETERS) - {"additional_layer_full"}
    for name in demo_srcnn:
        demo, thesis = (model_spec(variant_spec(configs[c], name)) for c in ("config", "thesis"))
        assert demo == thesis, name


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_every_activation_builds_and_sits_between_convs(activation):
    model = build_model({"layers": DEFAULT_LAYERS, "activation": activation})
    kinds = [type(m).__name__ for m in model.body]
    assert kinds[0] == "Conv2d" and kinds[-1] == "Conv2d"  # no activation after the last conv
    assert kinds.count("Conv2d") == 3 and len(kinds) == 5
    assert model(torch.rand(1, 1, 20, 20)).shape == (1, 1, 20, 20)


def test_bad_layer_lists_are_refused():
    with pytest.raises(ValueError, match="1 output channel"):
        build_model({"layers": [{"kernel": 9, "channels": 64}, {"kernel": 5, "channels": 3}], "activation": "relu"})
    with pytest.raises(ValueError, match="even"):
        build_model({"layers": [{"kernel": 4, "channels": 64}, {"kernel": 5, "channels": 1}], "activation": "relu"})
    with pytest.raises(ValueError, match="unknown activation"):
        build_model({"layers": DEFAULT_LAYERS, "activation": "swish2"})


def test_last_layer_gets_the_lr_factor():
    model = build_model({"layers": DEFAULT_LAYERS, "activation": "prelu"})
    groups = parameter_groups(model, 1e-4, 0.1)
    assert groups[0]["lr"] == 1e-4 and groups[1]["lr"] == pytest.approx(1e-5)
    assert sum(p.numel() for p in groups[1]["params"]) == 801
    assert sum(p.numel() for g in groups for p in g["params"]) == parameter_count(model)


def test_receptive_radius():
    assert receptive_radius(DEFAULT_LAYERS) == 4 + 2 + 2


def test_device_selection_on_this_machine():
    assert select_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert select_device("auto").type in {"cpu", "mps"}
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            select_device("cuda")
