"""Networks built from a variant spec (the architectures: :mod:`srstudy.archs`), and
SRCNN itself: a list of conv layers (kernel, output channels) with one activation
between them and none after the last (the reference model)."""

import torch
from torch import nn

from srstudy import archs

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


def model_spec(spec: dict) -> dict:
    """Settings that define the network: the arch and its sizes (the rest of a variant
    spec only affects training)."""
    return archs.model_spec(spec)


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
                modules.append(_activation(activation, channels))
            in_channels = channels
        self.body = nn.Sequential(*modules)

    @property
    def last_conv(self) -> nn.Conv2d:
        return self.body[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _activation(name: str, channels: int) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation '{name}'; choose one of {sorted(ACTIVATIONS)}")
    if name == "prelu":
        return nn.PReLU(channels)
    return ACTIVATIONS[name](inplace=True) if name in IN_PLACE else ACTIVATIONS[name]()


def build_model(spec: dict, scale: int | None = None) -> nn.Module:
    """The network of a variant spec (its ``arch``); post-upsampling ones need the scale."""
    arch = archs.arch_of(spec)
    if arch.grid == "lr" and scale is None:
        raise ValueError(f"{arch.title} upscales by itself: build it with the scale")
    return arch.build(spec, scale)


def halo_of(spec: dict, scale: int | None = None) -> int:
    """Input pixels tiled inference needs around a tile (see :func:`receptive_radius`)."""
    return archs.arch_of(spec).halo(spec, scale)


def receptive_radius(layers: list[dict]) -> int:
    """How far (in pixels) an output pixel sees into its input: the halo tiled
    inference needs for an exact result."""
    return sum(layer["kernel"] // 2 for layer in layers)


def macs_per_pixel(layers: list[dict]) -> int:
    """Multiply-accumulates per output pixel (2 FLOP each): sum of k^2 x c_in x c_out."""
    macs, in_channels = 0, 1
    for layer in layers:
        macs += layer["kernel"] ** 2 * in_channels * layer["channels"]
        in_channels = layer["channels"]
    return macs


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def parameter_groups(model: nn.Module, lr: float, last_layer_lr_factor: float, spec: dict | None = None) -> list[dict]:
    """The reference's per-layer learning rates: ``lr`` everywhere but the output layer
    (SRCNN's last conv), which gets ``lr * last_layer_lr_factor``; as the arch of
    ``spec`` declares them (SRCNN without one)."""
    return archs.arch_of(spec or {}).parameter_groups(model, lr, last_layer_lr_factor)


def select_device(preference: str = "auto") -> torch.device:
    """``auto``: cuda, then mps, then cpu. On a GPU machine each job sees the GPU of the
    slot it holds (srstudy.slots sets CUDA_VISIBLE_DEVICES before CUDA starts), so
    ``cuda`` is that GPU. An explicit choice that is unavailable is an error."""
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(preference)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device '{preference}' was configured but CUDA is not available; set device: auto or cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError("device 'mps' was configured but MPS is not available; set device: auto or cpu")
    return device


def set_tf32(enabled: bool) -> None:
    """fp32 convolutions (and matmuls) on TF32 tensor cores, or in full fp32 (IEEE). cuDNN
    convolutions default to TF32 in PyTorch; the study's fp32 means fp32 unless
    ``train.tf32`` says otherwise. No effect on a CPU."""
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):  # torch >= 2.9
        conv.fp32_precision = "tf32" if enabled else "ieee"
        torch.backends.cuda.matmul.fp32_precision = "tf32" if enabled else "ieee"
    else:
        torch.backends.cudnn.allow_tf32 = enabled
        torch.backends.cuda.matmul.allow_tf32 = enabled
