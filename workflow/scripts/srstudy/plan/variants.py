"""Variants: a name's settings over the defaults, sweeps expanded into variants, and
the variants a search adds."""

import itertools
import re
from pathlib import Path

import jsonschema

from srstudy.nets import arch, registry
from srstudy.plan.config import PATTERNS, describe_error, load_schema
from srstudy.plan.errors import ConfigError


def variant_spec(config: dict, name: str) -> dict:
    """The full settings of a variant: 'defaults' with the variant's overrides on top; an
    architecture's block (``fsrcnn: {m: 2}``) overrides the keys it gives only."""
    defaults, overrides = config["defaults"], config["variants"][name]
    spec = {**defaults, **overrides}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(defaults.get(key), dict):
            spec[key] = {**defaults[key], **value}
    return spec


NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def value_label(value) -> str:
    """A factor value as it appears in a variant name: 0.001 -> 0p001, 1e-05 -> 1e-05."""
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}".replace(".", "p").replace("+", "")
    return str(value)


def _factor_values(values) -> list[tuple[str, object]]:
    """(label, value) pairs of a factor, in the order written."""
    if isinstance(values, dict):
        return list(values.items())
    return [(value_label(value), value) for value in values]


def sweep_variants(name: str, sweep: dict, defaults: dict) -> dict[str, dict]:
    """The variants one sweep stands for: ``{variant name: overrides of 'defaults'}``.

    A name is the sweep's name followed by ``_<key>-<label>`` per varied factor, in the
    order the factors are written, so it depends on the grid only."""
    factors = {key: _factor_values(values) for key, values in sweep["factors"].items()}
    base = sweep.get("base", {})
    if sweep.get("design", "grid") == "grid":
        points = [dict(zip(factors, choice, strict=True)) for choice in itertools.product(*factors.values())]
    else:
        start = {**defaults, **base}
        points = [{key: pair} for key, pairs in factors.items() for pair in pairs if pair[1] != start.get(key)]
    variants = {}
    for point in points:
        label = "_".join(f"{key}-{pair[0]}" for key, pair in point.items())
        variants[f"{name}_{label}"] = {**base, **{key: pair[1] for key, pair in point.items()}}
    return variants


def expand_sweeps(config: dict, schema_path: str | Path) -> dict:
    """Add the variants of every sweep to ``config['variants']``, in place, after checking
    each against the schema's model settings (errors name the sweep's key). A generated
    name that is not a valid name or clashes with another variant is an error."""
    schema = load_schema(schema_path)
    model = {**schema["definitions"]["model_and_training"], "definitions": schema["definitions"]}
    validator = jsonschema.Draft7Validator(model)
    problems, generated = [], {}
    for name, sweep in config.get("sweeps", {}).items():
        for key, values in sweep["factors"].items():
            for label, value in _factor_values(values):
                for error in validator.iter_errors({key: value}):
                    problems.append(f"sweeps.{name}.factors.{key} (value '{label}'): {describe_error(error)}")
        if problems:
            continue
        for variant, overrides in sweep_variants(name, sweep, config["defaults"]).items():
            if not NAME.match(variant):
                problems.append(
                    f"sweeps.{name}: the generated name '{variant}' is not allowed ({PATTERNS[NAME.pattern]}): "
                    "give the values labels (write the factor as a mapping label -> value)"
                )
            elif variant in config["variants"] or variant in generated:
                problems.append(
                    f"sweeps.{name}: the generated variant '{variant}' exists already; rename the sweep or the variant"
                )
            else:
                generated[variant] = overrides
        if not sweep_variants(name, sweep, config["defaults"]):
            problems.append(f"sweeps.{name}: every value equals the base setting, so the sweep adds no variant")
    if problems:
        raise ConfigError("config is invalid:\n" + "\n".join(f"  - {p}" for p in problems))
    config["variants"].update(generated)
    return config


def add_search_variants(config: dict) -> dict:
    """Each search's winner is a variant named after the search (its settings come from
    the search's best trial per scale, so it has no overrides in the config). In place."""
    problems = []
    for name in config.get("search", {}):
        if name in config["variants"]:
            problems.append(
                f"search.{name}: a variant '{name}' exists already; the winner of a search is a variant named after it"
            )
        else:
            config["variants"][name] = {}
    if problems:
        raise ConfigError("config is invalid:\n" + "\n".join(f"  - {p}" for p in problems))
    return config


def search_problems(config: dict) -> list[str]:
    """A search's space and settings, beyond the schema."""
    problems = []
    for name, search in config.get("search", {}).items():
        where = f"search.{name}"
        for key, values in search["space"].items():
            if isinstance(values, dict) and values["low"] > values["high"]:
                problems.append(f"{where}.space.{key}: low {values['low']} is above high {values['high']}")
        for kernel in search["space"].get("kernel", []):
            if kernel % 2 == 0:
                problems.append(f"{where}.space.kernel: {kernel} is even; kernel sizes must be odd")
        depth = search["space"].get("depth")
        if depth is not None and min(depth if isinstance(depth, list) else [depth["low"]]) < 2:
            problems.append(f"{where}.space.depth: at least 2 conv layers")
        if search["sampler"] == "grid":
            ranges = [key for key, values in search["space"].items() if isinstance(values, dict)]
            if ranges:
                problems.append(f"{where}.space: the grid sampler needs lists, not ranges ({', '.join(ranges)})")
            if isinstance(depth, list) and len(depth) > 1:
                problems.append(f"{where}.space.depth: the grid sampler needs one depth (the grid is per layer)")
        if registry.arch_of(config["defaults"]).name != arch.DEFAULT or "arch" in search["budget"]:
            problems.append(f"{where}: a search tunes SRCNN's layers; set defaults.arch to srcnn (or remove it)")
        unknown = sorted(set(search["scales"] or []) - set(config["scales"]))
        if unknown:
            problems.append(f"{where}.scales: {unknown} are not among the study's scales {config['scales']}")
    return problems


def nearest_scale(scale: int, searched: list[int]) -> int:
    """The searched scale whose winner a scale uses (itself when it was searched; ties
    go to the smaller scale)."""
    return min(searched, key=lambda s: (abs(s - scale), s))
