"""The torch building blocks of the networks: activations by name, and SRCNN itself (a
list of conv layers with one activation between them and none after the last)."""

import torch
from torch import nn

ACTIVATIONS = {
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "prelu": nn.PReLU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
}


# Activations that can overwrite the conv output in place (autograd keeps what their
# backward needs): one memory pass less per layer, ~15% of CPU inference time.
IN_PLACE = {"relu", "elu", "leaky_relu", "silu"}


class SRCNN(nn.Module):
    """Conv(k1, c1) -> act -> ... -> Conv(kn, 1) on a pre-upsampled Y plane. Each conv is
    'same'-padded, so the output has the input's size (the reference's choice)."""

    def __init__(self, layers: list[dict], activation: str = "relu"):
        super().__init__()
        if layers[-1]["channels"] != 1:
            raise ValueError("the last layer must have 1 output channel (the Y plane)")
        modules, in_channels = [], 1
        for index, layer in enumerate(layers):
            kernel, channels = layer["kernel"], layer["channels"]
            if kernel % 2 == 0:
                raise ValueError(f"layer {index}: kernel {kernel} is even; use odd kernels so the output stays aligned")
            modules.append(nn.Conv2d(in_channels, channels, kernel, padding=kernel // 2))
            if index < len(layers) - 1:
                modules.append(activation_layer(activation, channels))
            in_channels = channels
        self.body = nn.Sequential(*modules)

    @property
    def last_conv(self) -> nn.Conv2d:
        return self.body[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def activation_layer(name: str, channels: int) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation '{name}'; choose one of {sorted(ACTIVATIONS)}")
    if name == "prelu":
        return nn.PReLU(channels)
    return ACTIVATIONS[name](inplace=True) if name in IN_PLACE else ACTIVATIONS[name]()
