"""A variant spec's network, its halo and the optimizer's parameter groups, as its
architecture (:mod:`srstudy.nets.registry`) declares them."""

from torch import nn

from srstudy.nets import registry


def build_model(spec: dict, scale: int | None = None) -> nn.Module:
    """The network of a variant spec (its ``arch``); post-upsampling ones need the scale."""
    arch = registry.arch_of(spec)
    if arch.grid == "lr" and scale is None:
        raise ValueError(f"{arch.title} upscales by itself: build it with the scale")
    return arch.build(spec, scale)


def halo_of(spec: dict, scale: int | None = None) -> int:
    """Input pixels tiled inference needs around a tile (its architecture's ``halo``)."""
    return registry.arch_of(spec).halo(spec, scale)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def parameter_groups(model: nn.Module, lr: float, last_layer_lr_factor: float, spec: dict | None = None) -> list[dict]:
    """The reference's per-layer learning rates: ``lr`` everywhere but the output layer
    (SRCNN's last conv), which gets ``lr * last_layer_lr_factor``; as the arch of
    ``spec`` declares them (SRCNN without one)."""
    return registry.arch_of(spec or {}).parameter_groups(model, lr, last_layer_lr_factor)
