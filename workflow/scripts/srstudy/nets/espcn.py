"""ESPCN (Shi et al. 2016): convolutions on the LR plane to scale^2 channels, then a pixel shuffle."""

from srstudy.nets.arch import ACTIVATION_NAMES, Arch, conv_macs, layers_text, receptive_radius


def _espcn_layers(spec: dict, scale: int) -> list[dict]:
    own = spec["espcn"]
    return [*own["layers"], {"kernel": own["last_kernel"], "channels": scale * scale}]


def _espcn_build(spec: dict, scale: int):
    from torch import nn

    from srstudy.nets.layers import activation_layer

    own = spec["espcn"]
    modules, in_channels = [], 1
    layers = _espcn_layers(spec, scale)
    for index, layer in enumerate(layers):
        modules.append(nn.Conv2d(in_channels, layer["channels"], layer["kernel"], padding=layer["kernel"] // 2))
        if index < len(layers) - 1:
            modules.append(activation_layer(own["activation"], layer["channels"]))
        in_channels = layer["channels"]
    modules.append(nn.PixelShuffle(scale))
    return nn.Sequential(*modules)


def _espcn_check(spec: dict, where: str) -> list[str]:
    own = spec["espcn"]
    kernels = [layer["kernel"] for layer in own["layers"]] + [own["last_kernel"]]
    if any(k % 2 == 0 for k in kernels):
        return [f"{where}.espcn: kernel sizes must be odd, so the output stays aligned (got {kernels})"]
    return []


ARCH = Arch(
    name="espcn",
    title="ESPCN",
    grid="lr",
    model_keys=("espcn",),
    build=_espcn_build,
    # The pixel shuffle is local: an LR pixel's block depends on the convs' field only.
    halo=lambda spec, scale: receptive_radius(_espcn_layers(spec, scale)),
    macs=lambda spec, scale: conv_macs(_espcn_layers(spec, scale)) / scale**2,
    describe=lambda spec, scale: (
        f"ESPCN: {layers_text(_espcn_layers(spec, scale))}, pixel shuffle /{scale}",
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
