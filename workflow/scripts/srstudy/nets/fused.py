"""Horizontal fusion: G networks of one layer structure computed as one. Each layer's
weights are stacked into one tensor ``[G, ...]`` and run as a grouped convolution over
the members' channel blocks (``[B, G*C, H, W]``, member g in block g), so one launch
does the work of G; nothing mixes between blocks, so each member computes exactly what
it computes alone. Members may differ in a parameter-free activation (applied per
block) and in everything the optimizer holds (learning rates, seeds, data).

A layer's convolution can run three ways (``conv``), all computing the same thing:
``grouped`` (one grouped convolution), ``bmm`` (unfold, then one batched matmul over the
members) or ``vmap`` (``torch.func.vmap`` of the plain convolution over the members).
Which is fastest depends on the layer's shape and the device:
benchmarks/fused_throughput.py measures them."""

import torch
import torch.nn.functional as F
from torch import nn

CONV_KINDS = ("grouped", "bmm", "vmap")


def layer_list(model: nn.Module) -> tuple[str, nn.Sequential]:
    """The module prefix and the sequence of layers of a network (SRCNN keeps its layers
    in ``body``; the other networks are a plain sequence)."""
    body = getattr(model, "body", model)
    if not isinstance(body, nn.Sequential):
        raise TypeError(f"{type(model).__name__} is not a sequence of layers; it cannot be fused")
    return ("body." if body is not model else ""), body


def _conv_key(module: nn.Module) -> tuple:
    return (
        type(module).__name__,
        tuple(module.weight.shape),
        module.bias is not None,
        module.stride,
        module.padding,
        module.dilation,
        module.groups,
        getattr(module, "output_padding", None),
        module.padding_mode,
    )


def fusion_key(model: nn.Module) -> tuple:
    """What members of one fused network must share: every layer's kind and shape.
    Parameter-free activations may differ (they are applied per member); activations
    with weights (PReLU) must match."""
    _, body = layer_list(model)
    key = []
    for module in body:
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            key.append(_conv_key(module))
        elif isinstance(module, nn.PixelShuffle):
            key.append(("PixelShuffle", module.upscale_factor))
        elif isinstance(module, nn.PReLU):
            key.append(("PReLU", module.num_parameters))
        elif any(True for _ in module.parameters()):
            raise TypeError(f"cannot fuse layer {type(module).__name__}: it has weights of a kind not stacked here")
        else:
            key.append(("activation",))
    return tuple(key)


class _Conv(nn.Module):
    """G convolutions (or transposed convolutions) of one shape, weights stacked."""

    def __init__(self, convs: list[nn.Module], kind: str):
        super().__init__()
        if kind not in CONV_KINDS:
            raise ValueError(f"unknown fused convolution '{kind}'; choose one of {', '.join(CONV_KINDS)}")
        first = convs[0]
        self.transposed = isinstance(first, nn.ConvTranspose2d)
        if self.transposed and kind != "grouped":
            kind = "grouped"  # the deconvolution runs grouped only
        self.kind, self.members = kind, len(convs)
        self.stride, self.padding, self.dilation = first.stride, first.padding, first.dilation
        self.output_padding = getattr(first, "output_padding", (0, 0))
        weight = torch.stack([c.weight.detach() for c in convs])
        if not self.transposed:
            # Laid out so that the grouped weight (a view) is channels-last, as the
            # members' own convolutions are: their gradients then need no copy.
            weight = weight.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)
        self.weight = nn.Parameter(weight.clone(memory_format=torch.preserve_format))
        self.bias = nn.Parameter(torch.stack([c.bias.detach() for c in convs]).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.members
        w, b = self.weight, self.bias
        if self.transposed:
            return F.conv_transpose2d(
                x,
                w.reshape(-1, *w.shape[2:]),
                b.reshape(-1),
                self.stride,
                self.padding,
                self.output_padding,
                g,
                self.dilation,
            )
        if self.kind == "grouped":
            return F.conv2d(x, w.reshape(-1, *w.shape[2:]), b.reshape(-1), self.stride, self.padding, self.dilation, g)
        if self.kind == "vmap":
            batch = x.shape[0]
            per_member = x.reshape(batch, g, -1, *x.shape[2:]).transpose(0, 1)

            def one(weight, bias, inputs):
                return F.conv2d(inputs, weight, bias, self.stride, self.padding, self.dilation)

            out = torch.func.vmap(one)(w, b, per_member)  # G x B x Cout x H x W
            return out.transpose(0, 1).reshape(batch, -1, *out.shape[3:]).contiguous(memory_format=torch.channels_last)
        return self._bmm(x)

    def _bmm(self, x: torch.Tensor) -> torch.Tensor:
        g, w = self.members, self.weight
        batch, _, height, width = x.shape
        cout, cin, kh, kw = w.shape[1:]
        columns = F.unfold(x, (kh, kw), self.dilation, self.padding, self.stride)  # B x G*Cin*k*k x L
        length = columns.shape[-1]
        columns = columns.reshape(batch, g, cin * kh * kw, length).permute(1, 2, 0, 3).reshape(g, cin * kh * kw, -1)
        out = torch.baddbmm(self.bias[:, :, None], w.reshape(g, cout, -1), columns)  # G x Cout x B*L
        out_h = (height + 2 * self.padding[0] - self.dilation[0] * (kh - 1) - 1) // self.stride[0] + 1
        out_w = (width + 2 * self.padding[1] - self.dilation[1] * (kw - 1) - 1) // self.stride[1] + 1
        out = out.reshape(g, cout, batch, out_h, out_w).permute(2, 0, 1, 3, 4).reshape(batch, g * cout, out_h, out_w)
        return out.contiguous(memory_format=torch.channels_last)


class _PReLU(nn.Module):
    """PReLUs with their slopes stacked. Each member's block runs as its own tensor: the
    slope's gradient is a sum over the batch and the plane, and one PReLU over all
    blocks would sum in another order (float64 results would differ in the last bit)."""

    def __init__(self, layers: list[nn.PReLU]):
        super().__init__()
        self.weight = nn.Parameter(torch.stack([layer.weight.detach() for layer in layers]).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        blocks = x.chunk(len(self.weight), dim=1)
        return torch.cat(
            [
                F.prelu(block.contiguous(memory_format=torch.channels_last), weight)
                for block, weight in zip(blocks, self.weight, strict=True)
            ],
            1,
        )


class _Activation(nn.Module):
    """Parameter-free activations, one per member: applied once to the whole tensor when
    they are all the same kind, else to each member's channel block."""

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        kinds = {(type(layer), repr(layer)) for layer in layers}
        self.shared = layers[0] if len(kinds) == 1 else None
        self.each = nn.ModuleList(layers) if self.shared is None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.shared is not None:
            return self.shared(x)
        # Each block as a tensor of its own, so an in-place activation runs in place as it
        # does alone (its backward then starts from its output, as alone).
        blocks = x.chunk(len(self.each), dim=1)
        return torch.cat(
            [act(block.clone(memory_format=torch.channels_last)) for act, block in zip(self.each, blocks, strict=True)],
            1,
        )


class FusedNet(nn.Module):
    """G member networks with one :func:`fusion_key` as one network on ``[B, G*C, H, W]``.
    The members' weights are copied in; :meth:`member_state` gives member g's back as
    its own ``state_dict``. ``conv``: how each convolution runs (one kind for all, or one
    per convolution, in order), see :data:`CONV_KINDS`."""

    def __init__(self, models: list[nn.Module], conv: str | list[str] = "grouped"):
        super().__init__()
        keys = {fusion_key(model) for model in models}
        if len(keys) != 1:
            raise ValueError("fused members must share their layer structure")
        self.members = len(models)
        self.prefix, _ = layer_list(models[0])
        bodies = [layer_list(model)[1] for model in models]
        convs = sum(isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) for m in bodies[0])
        kinds = [conv] * convs if isinstance(conv, str) else list(conv)
        if len(kinds) != convs:
            raise ValueError(f"{len(kinds)} convolution kinds given for {convs} convolutions")
        layers, self.names = [], []  # names: (layer index, parameter name) per stacked parameter
        for index, column in enumerate(zip(*bodies, strict=True)):
            first = column[0]
            if isinstance(first, (nn.Conv2d, nn.ConvTranspose2d)):
                layers.append(_Conv(list(column), kinds.pop(0)))
                self.names += [(index, "weight"), (index, "bias")]
            elif isinstance(first, nn.PReLU):
                layers.append(_PReLU(list(column)))
                self.names.append((index, "weight"))
            elif isinstance(first, nn.PixelShuffle):
                # Member g's r^2 channels are consecutive, so one shuffle makes its output
                # channel g.
                layers.append(nn.PixelShuffle(first.upscale_factor))
            else:
                layers.append(_Activation(list(column)))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    def stacked(self) -> list[nn.Parameter]:
        """The stacked parameters, in the order of :attr:`names`."""
        return [getattr(self.layers[index], name) for index, name in self.names]

    def member_names(self) -> list[str]:
        """Each stacked parameter's name in a member's ``state_dict``."""
        return [f"{self.prefix}{index}.{name}" for index, name in self.names]

    def member_state(self, g: int) -> dict[str, torch.Tensor]:
        """Member g's weights, as its own network names them (views into the stack)."""
        return {name: p[g].detach() for name, p in zip(self.member_names(), self.stacked(), strict=True)}
