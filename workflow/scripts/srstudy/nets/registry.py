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

A fourth architecture is one more module beside :mod:`srstudy.nets.srcnn` and an entry in
:data:`ARCHS` (and variants naming it).
torch is imported only when a network is built: the config check imports this module
before any job runs, and torch takes seconds to import."""

from pathlib import Path

import yaml

from srstudy.nets import espcn, fsrcnn, srcnn
from srstudy.nets.arch import DEFAULT, KEY, Arch

ARCHS = {arch.name: arch for arch in (srcnn.ARCH, fsrcnn.ARCH, espcn.ARCH)}


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


def resolve_spec(spec: dict) -> dict:
    """A job's model settings: a search winner's name its best.yaml (``search_best``),
    whose settings go on top of the rest; any other spec is returned as it is."""
    if "search_best" not in spec:
        return spec
    rest = {k: v for k, v in spec.items() if k != "search_best"}
    best = yaml.safe_load(Path(spec["search_best"]).read_text())
    return {**rest, **best["settings"]}
