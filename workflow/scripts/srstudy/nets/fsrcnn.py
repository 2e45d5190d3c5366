"""FSRCNN (Dong et al. 2016): LR features, shrink, map, expand, strided deconvolution."""

import math

from srstudy.nets.arch import ACTIVATION_NAMES, Arch

FSRCNN_FEATURE_KERNEL, FSRCNN_MAP_KERNEL = 5, 3


def deconv_padding(kernel: int, scale: int) -> tuple[int, int]:
    """``(padding, output_padding)`` of a stride-``scale`` transposed convolution that
    makes exactly ``scale`` x the input's size, its kernel centred on each LR pixel's
    block as nearly as an integer offset allows."""
    padding = max(0, math.ceil((kernel - scale) / 2))
    return padding, 2 * padding - (kernel - scale)


def _fsrcnn_build(spec: dict, scale: int):
    from torch import nn

    from srstudy.nets.layers import activation_layer

    own = spec["fsrcnn"]
    d, s, m, act = own["d"], own["s"], own["m"], own["activation"]
    layers = [nn.Conv2d(1, d, FSRCNN_FEATURE_KERNEL, padding=FSRCNN_FEATURE_KERNEL // 2), activation_layer(act, d)]
    layers += [nn.Conv2d(d, s, 1), activation_layer(act, s)]
    for _ in range(m):
        layers += [nn.Conv2d(s, s, FSRCNN_MAP_KERNEL, padding=FSRCNN_MAP_KERNEL // 2), activation_layer(act, s)]
    layers += [nn.Conv2d(s, d, 1), activation_layer(act, d)]
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


ARCH = Arch(
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
