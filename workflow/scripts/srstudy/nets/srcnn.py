"""SRCNN (Dong et al. 2014): convolutions on the bicubic-upscaled Y plane."""

from srstudy.nets.arch import Arch, conv_macs, layers_text, receptive_radius


def _srcnn_build(spec: dict, scale: int | None):
    from srstudy.nets.layers import SRCNN

    return SRCNN(spec["layers"], spec["activation"])


def _srcnn_halo(spec: dict, scale: int | None) -> int:
    return receptive_radius(spec["layers"])


def _srcnn_check(spec: dict, where: str) -> list[str]:
    problems = []
    if spec["layers"][-1]["channels"] != 1:
        problems.append(f"{where}.layers: the last layer must have 1 output channel (the Y plane)")
    if any(layer["kernel"] % 2 == 0 for layer in spec["layers"]):
        problems.append(f"{where}.layers: kernel sizes must be odd, so the output stays aligned")
    return problems


ARCH = Arch(
    name="srcnn",
    title="SRCNN",
    grid="hr",
    model_keys=("layers", "activation"),
    build=_srcnn_build,
    halo=_srcnn_halo,
    macs=lambda spec, scale: conv_macs(spec["layers"]),
    describe=lambda spec, scale: (layers_text(spec["layers"]), spec["activation"]),
    check=_srcnn_check,
)
