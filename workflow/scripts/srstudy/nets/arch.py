"""What an architecture declares (:class:`Arch`), and the layer arithmetic the
architectures share. One module per network beside this one; :mod:`srstudy.nets.registry`
lists them."""

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


def conv_macs(layers: list[dict], in_channels: int = 1) -> int:
    """Multiply-accumulates per output pixel (2 FLOP each) of same-padded convolutions:
    the sum of k^2 x c_in x c_out."""
    macs = 0
    for layer in layers:
        macs += layer["kernel"] ** 2 * in_channels * layer["channels"]
        in_channels = layer["channels"]
    return macs


def layers_text(layers: list[dict]) -> str:
    return ", ".join(f"{layer['kernel']}x{layer['kernel']}:{layer['channels']}" for layer in layers)


def receptive_radius(layers: list[dict]) -> int:
    """How far, in pixels, an output pixel of same-padded convolutions sees into their
    input: the halo tiled inference needs for an exact result."""
    return sum(layer["kernel"] // 2 for layer in layers)
