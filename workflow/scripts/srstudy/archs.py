"""The model registry: every network a variant can name with ``arch:`` (default
``srcnn``), each declaring what the rest of the workflow needs to know about it:

* ``grid``: what it reads. ``hr``: the bicubic-upscaled Y plane, output of the same size
  (SRCNN); ``lr``: the low-resolution Y plane, output ``scale`` times larger
  (post-upsampling: FSRCNN, ESPCN). Datasets, training patches and tiled upscaling follow it.
* ``halo``: how far, in input pixels, an output pixel sees: the margin tiled inference
  needs to equal whole-frame inference.
* ``parameter_groups``: the optimizer's groups (the output layer at ``lr x
  last_layer_lr_factor``, as the reference trains SRCNN and Dong et al. FSRCNN's deconvolution).
* ``macs``: multiply-accumulates per output pixel (2 FLOP each).
* ``options``: its own size keys (a block named after it in a variant), as JSON-schema
  properties with the paper's defaults; the config schema is extended with them
  (:func:`extend_schema`), so they are validated, defaulted and documented like any key.

A fourth architecture is one more :class:`Arch` in :data:`ARCHS` (and variants naming it).
torch is imported only when a network is built: the config check imports this module
before any job runs, and torch takes seconds to import."""

import math
from collections.abc import Callable
from dataclasses import dataclass, field

DEFAULT = "srcnn"
KEY = "arch"
ACTIVATION_NAMES = ("relu", "elu", "sigmoid", "tanh", "prelu", "leaky_relu", "gelu", "silu")
GRIDS = ("hr", "lr")


@dataclass(frozen=True)
class Arch:
    name: str
    title: str
    grid: str
    # Keys of a variant spec that define the network (the rest only affect training).
    model_keys: tuple[str, ...]
    build: Callable  # (spec, scale) -> nn.Module
    halo: Callable  # (spec, scale) -> input pixels
    macs: Callable  # (spec, scale) -> multiply-accumulates per output pixel
    describe: Callable  # (spec, scale) -> (layers text, activation)
    options: dict = field(default_factory=dict)  # JSON-schema properties of its own block
    check: Callable = lambda spec, where: []  # (spec, config key) -> problems beyond the schema

    def factor(self, scale: int) -> int:
        """Output pixels per input pixel along a side."""
        return scale if self.grid == "lr" else 1

    def settings(self, spec: dict) -> dict:
        """The arch's own block of a spec (empty for an arch without one)."""
        return spec.get(self.name, {}) if self.options else {}

    def parameter_groups(self, model, lr: float, last_layer_lr_factor: float) -> list[dict]:
        """``lr`` everywhere but the output layer (the last module with weights), which
        gets ``lr * last_layer_lr_factor``."""
        last = [m for m in model.modules() if any(True for _ in m.parameters(recurse=False))][-1]
        ids = set(map(id, last.parameters()))
        return [
            {"params": [p for p in model.parameters() if id(p) not in ids], "lr": lr},
            {"params": list(last.parameters()), "lr": lr * last_layer_lr_factor},
        ]


def _nn():
    from torch import nn

    return nn


def _activation(name: str, channels: int):
    from srstudy.models import _activation

    return _activation(name, channels)


# --- SRCNN (Dong et al. 2014): convs on the bicubic-upscaled plane -----------------------


def _srcnn_build(spec: dict, scale: int | None):
    from srstudy.models import SRCNN

    return SRCNN(spec["layers"], spec["activation"])


def _srcnn_halo(spec: dict, scale: int | None) -> int:
    return sum(layer["kernel"] // 2 for layer in spec["layers"])


def _conv_macs(layers: list[dict], in_channels: int = 1) -> int:
    macs = 0
    for layer in layers:
        macs += layer["kernel"] ** 2 * in_channels * layer["channels"]
        in_channels = layer["channels"]
    return macs


def _layers_text(layers: list[dict]) -> str:
    return ", ".join(f"{layer['kernel']}x{layer['kernel']}:{layer['channels']}" for layer in layers)


def _srcnn_check(spec: dict, where: str) -> list[str]:
    problems = []
    if spec["layers"][-1]["channels"] != 1:
        problems.append(f"{where}.layers: the last layer must have 1 output channel (the Y plane)")
    if any(layer["kernel"] % 2 == 0 for layer in spec["layers"]):
        problems.append(f"{where}.layers: kernel sizes must be odd, so the output stays aligned")
    return problems


SRCNN = Arch(
    name="srcnn",
    title="SRCNN",
    grid="hr",
    model_keys=("layers", "activation"),
    build=_srcnn_build,
    halo=_srcnn_halo,
    macs=lambda spec, scale: _conv_macs(spec["layers"]),
    describe=lambda spec, scale: (_layers_text(spec["layers"]), spec["activation"]),
    check=_srcnn_check,
)


# --- FSRCNN (Dong et al. 2016): LR features, shrink, map, expand, strided deconvolution ----

FSRCNN_FEATURE_KERNEL, FSRCNN_MAP_KERNEL = 5, 3


def deconv_padding(kernel: int, scale: int) -> tuple[int, int]:
    """``(padding, output_padding)`` of a stride-``scale`` transposed convolution that
    makes exactly ``scale`` x the input's size, its kernel centred on each LR pixel's
    block as nearly as an integer offset allows."""
    padding = max(0, math.ceil((kernel - scale) / 2))
    return padding, 2 * padding - (kernel - scale)


def _fsrcnn_build(spec: dict, scale: int):
    nn, own = _nn(), spec["fsrcnn"]
    d, s, m, act = own["d"], own["s"], own["m"], own["activation"]
    layers = [nn.Conv2d(1, d, FSRCNN_FEATURE_KERNEL, padding=FSRCNN_FEATURE_KERNEL // 2), _activation(act, d)]
    layers += [nn.Conv2d(d, s, 1), _activation(act, s)]
    for _ in range(m):
        layers += [nn.Conv2d(s, s, FSRCNN_MAP_KERNEL, padding=FSRCNN_MAP_KERNEL // 2), _activation(act, s)]
    layers += [nn.Conv2d(s, d, 1), _activation(act, d)]
    padding, extra = deconv_padding(own["deconv_kernel"], scale)
    deconv = nn.ConvTranspose2d(d, 1, own["deconv_kernel"], scale, padding, output_padding=extra)
    layers.append(deconv)
    # The paper's initialisation: He et al. for the convolutions, N(0, 0.001) for the
    # deconvolution (torch's default scales it by its 1 output channel: a noisy start).
    for layer in layers:
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)
    nn.init.normal_(deconv.weight, std=0.001)
    nn.init.zeros_(deconv.bias)
    return nn.Sequential(*layers)


def _fsrcnn_halo(spec: dict, scale: int) -> int:
    # Output y gets LR pixel i's kernel tap y + padding - scale i (0..k-1): the outputs of
    # LR pixels [a, b) read i from a - floor((k - 1 - padding) / scale) to
    # b - 1 + floor((padding - 1) / scale) + 1.
    own = spec["fsrcnn"]
    kernel = own["deconv_kernel"]
    padding, _ = deconv_padding(kernel, scale)
    deconv = max((kernel - 1 - padding) // scale, (padding - 1) // scale + 1, 0)
    return FSRCNN_FEATURE_KERNEL // 2 + own["m"] * (FSRCNN_MAP_KERNEL // 2) + deconv


def _fsrcnn_macs(spec: dict, scale: int) -> float:
    own = spec["fsrcnn"]
    d, s, m = own["d"], own["s"], own["m"]
    per_lr_pixel = FSRCNN_FEATURE_KERNEL**2 * d + d * s + m * FSRCNN_MAP_KERNEL**2 * s * s + s * d
    per_lr_pixel += own["deconv_kernel"] ** 2 * d  # each LR pixel spreads k^2 weights per channel
    return per_lr_pixel / scale**2


def _fsrcnn_describe(spec: dict, scale: int) -> tuple[str, str]:
    own = spec["fsrcnn"]
    k = own["deconv_kernel"]
    text = (
        f"FSRCNN d={own['d']} s={own['s']} m={own['m']}: 5x5:{own['d']}, 1x1:{own['s']}, "
        f"{own['m']}x 3x3:{own['s']}, 1x1:{own['d']}, {k}x{k} deconv /{scale}"
    )
    return text, own["activation"]


FSRCNN = Arch(
    name="fsrcnn",
    title="FSRCNN",
    grid="lr",
    model_keys=("fsrcnn",),
    build=_fsrcnn_build,
    halo=_fsrcnn_halo,
    macs=_fsrcnn_macs,
    describe=_fsrcnn_describe,
    options={
        "d": {"type": "integer", "minimum": 1, "default": 56, "description": "LR feature channels (paper: 56)"},
        "s": {"type": "integer", "minimum": 1, "default": 12, "description": "shrunk channels (paper: 12)"},
        "m": {"type": "integer", "minimum": 0, "default": 4, "description": "3x3 mapping layers (paper: 4)"},
        "activation": {"enum": list(ACTIVATION_NAMES), "default": "prelu", "description": "paper: prelu"},
        "deconv_kernel": {
            "type": "integer",
            "minimum": 1,
            "default": 9,
            "description": "kernel of the stride-scale deconvolution that makes the HR plane (paper: 9)",
        },
    },
)


# --- ESPCN (Shi et al. 2016): convs on LR, scale^2 channels, pixel shuffle ----------------


def _espcn_layers(spec: dict, scale: int) -> list[dict]:
    own = spec["espcn"]
    return [*own["layers"], {"kernel": own["last_kernel"], "channels": scale * scale}]


def _espcn_build(spec: dict, scale: int):
    nn, own = _nn(), spec["espcn"]
    modules, in_channels = [], 1
    layers = _espcn_layers(spec, scale)
    for index, layer in enumerate(layers):
        modules.append(nn.Conv2d(in_channels, layer["channels"], layer["kernel"], padding=layer["kernel"] // 2))
        if index < len(layers) - 1:
            modules.append(_activation(own["activation"], layer["channels"]))
        in_channels = layer["channels"]
    modules.append(nn.PixelShuffle(scale))
    return nn.Sequential(*modules)


def _espcn_check(spec: dict, where: str) -> list[str]:
    own = spec["espcn"]
    kernels = [layer["kernel"] for layer in own["layers"]] + [own["last_kernel"]]
    if any(k % 2 == 0 for k in kernels):
        return [f"{where}.espcn: kernel sizes must be odd, so the output stays aligned (got {kernels})"]
    return []


ESPCN = Arch(
    name="espcn",
    title="ESPCN",
    grid="lr",
    model_keys=("espcn",),
    build=_espcn_build,
    # The pixel shuffle is local: an LR pixel's block depends on the convs' field only.
    halo=lambda spec, scale: sum(layer["kernel"] // 2 for layer in _espcn_layers(spec, scale)),
    macs=lambda spec, scale: _conv_macs(_espcn_layers(spec, scale)) / scale**2,
    describe=lambda spec, scale: (
        f"ESPCN: {_layers_text(_espcn_layers(spec, scale))}, pixel shuffle /{scale}",
        spec["espcn"]["activation"],
    ),
    options={
        "layers": {
            "description": "hidden conv layers on the LR plane (paper: 5x5:64, 3x3:32)",
            "type": "array",
            "minItems": 1,
            "items": {"$ref": "#/definitions/layer"},
            "default": [{"kernel": 5, "channels": 64}, {"kernel": 3, "channels": 32}],
        },
        "last_kernel": {
            "type": "integer",
            "minimum": 1,
            "default": 3,
            "description": "kernel of the last conv, which makes scale^2 channels for the pixel shuffle (paper: 3)",
        },
        "activation": {"enum": list(ACTIVATION_NAMES), "default": "tanh", "description": "paper: tanh"},
    },
    check=_espcn_check,
)


ARCHS = {arch.name: arch for arch in (SRCNN, FSRCNN, ESPCN)}


def arch_of(spec: dict) -> Arch:
    """The architecture a variant spec names (``srcnn`` when it names none: specs and
    checkpoints from before the registry)."""
    name = spec.get(KEY, DEFAULT)
    if name not in ARCHS:
        raise ValueError(f"unknown arch '{name}'; choose one of {', '.join(ARCHS)}")
    return ARCHS[name]


def model_spec(spec: dict) -> dict:
    """The settings that define the network: its arch and the arch's own keys."""
    arch = arch_of(spec)
    return {KEY: arch.name, **{key: spec[key] for key in arch.model_keys}}


def own_settings(spec: dict) -> dict:
    """``spec`` without the blocks of other architectures (so a changed FSRCNN default
    never reruns an SRCNN variant's jobs)."""
    arch = arch_of(spec)
    return {k: v for k, v in spec.items() if k not in ARCHS or k == arch.name}


def gflops_per_frame(spec: dict, scale: int, width: int = 3840, height: int = 2160) -> float:
    """GFLOPs (2 per multiply-accumulate) of the network for one ``width`` x ``height``
    output Y plane."""
    return 2 * arch_of(spec).macs(spec, scale) * width * height / 1e9


def spec_problems(spec: dict, where: str) -> list[str]:
    """What the schema cannot check about a spec's network settings."""
    return arch_of(spec).check(spec, where)


def extend_schema(schema: dict) -> dict:
    """The config schema with the registry's keys added, in place: ``arch`` (one of
    :data:`ARCHS`, default srcnn) and each arch's own block, in every model setting and
    in ``defaults`` (with the paper's sizes as defaults); sweeps may vary them too."""
    model = schema["definitions"]["model_and_training"]["properties"]
    defaults = schema["properties"]["defaults"]["properties"]
    inputs = {"lr": "LR input", "hr": "bicubic-upscaled input"}
    model[KEY] = {
        "description": "the network: "
        + "; ".join(f"{a.name} = {a.title} ({inputs[a.grid]})" for a in ARCHS.values())
        + ". SRCNN's sizes are layers and activation, the others' their own block",
        "enum": list(ARCHS),
    }
    defaults[KEY] = {"default": DEFAULT}
    for arch in ARCHS.values():
        if not arch.options:
            continue
        plain = {k: {key: v for key, v in sub.items() if key != "default"} for k, sub in arch.options.items()}
        model[arch.name] = {
            "description": f"{arch.title}'s sizes (arch: {arch.name}); keys not given come from defaults.{arch.name}",
            "type": "object",
            "additionalProperties": False,
            "properties": plain,
        }
        defaults[arch.name] = {"default": {}, "properties": arch.options}
    factors = schema["properties"]["sweeps"]["additionalProperties"]["properties"]["factors"]["propertyNames"]["enum"]
    factors += [name for name in (KEY, *ARCHS) if name not in factors and (name == KEY or ARCHS[name].options)]
    return schema
