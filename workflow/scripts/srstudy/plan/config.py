"""The config's JSON schema: loaded with the model registry's keys, values given as
text coerced to the schema's types, defaults filled in, errors that name the key."""

import copy
import difflib
import re
from pathlib import Path

import jsonschema
import yaml

from srstudy.nets import registry
from srstudy.plan.errors import ConfigError


def _with_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub and key not in instance:
                    instance[key] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _key(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


_INTEGER = re.compile(r"[+-]?\d+")


_WORDS = {"true": True, "false": False, "null": None, "~": None}


def _types(schema: dict, root: dict) -> list[dict]:
    """The subschemas that may apply to a value: ``schema`` itself, its ``$ref`` target
    and the branches of ``allOf``/``anyOf``/``oneOf``, recursively."""
    if "$ref" in schema:
        node = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        return _types(node, root) + [schema]
    found = [schema]
    for key in ("allOf", "anyOf", "oneOf"):
        for branch in schema.get(key, []):
            found += _types(branch, root)
    return found


def _scalar(text: str, allowed: set[str]):
    """``text`` as the first of the allowed non-string types it spells, else unchanged."""
    if "integer" in allowed and _INTEGER.fullmatch(text.strip()):
        return int(text)
    if "number" in allowed:
        try:
            return int(text) if _INTEGER.fullmatch(text.strip()) else float(text)
        except ValueError:
            pass
    word = text.strip().lower()
    if "boolean" in allowed and word in ("true", "false"):
        return _WORDS[word]
    if "null" in allowed and word in ("null", "~"):
        return None
    return text


def coerce_strings(value, schema: dict, root: dict):
    """``value`` with every string turned into the number, boolean or null the schema
    asks for at its place. ``snakemake --config scales=[2,3]`` delivers the list items
    (and every value inside ``{...}``) as strings; a string that does not spell the
    wanted type stays as it is and the schema check names it."""
    subschemas = _types(schema, root)
    if isinstance(value, dict):
        for key in list(value):
            for sub in subschemas:
                child = sub.get("properties", {}).get(key, sub.get("additionalProperties"))
                if isinstance(child, dict):
                    value[key] = coerce_strings(value[key], child, root)
        return value
    if isinstance(value, list):
        for sub in subschemas:
            items = sub.get("items")
            for i, item in enumerate(value):
                child = items[i] if isinstance(items, list) and i < len(items) else items
                if isinstance(child, dict):
                    value[i] = coerce_strings(item, child, root)
        return value
    if not isinstance(value, str):
        return value
    allowed = set()
    for sub in subschemas:
        kinds = sub.get("type", [])
        allowed.update([kinds] if isinstance(kinds, str) else kinds)
    return value if "string" in allowed else _scalar(value, allowed)


def load_schema(schema_path: str | Path) -> dict:
    """The config schema: the file, with the model registry's keys (``arch`` and each
    architecture's own sizes, :func:`srstudy.nets.registry.extend_schema`)."""
    return registry.extend_schema(yaml.safe_load(Path(schema_path).read_text()))


def validate_schema(config: dict, schema_path: str | Path) -> dict:
    """Fill in defaults and check ``config`` against the schema, in place; raise one
    :class:`ConfigError` listing every problem with the key it concerns. Strings where
    the schema wants numbers, booleans or null (as ``--config`` gives them) are
    converted first."""
    schema = load_schema(schema_path)
    coerce_strings(config, schema, schema)
    validator = _with_defaults(jsonschema.Draft7Validator)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = [f"  - {_key(e.absolute_path)}: {describe_error(e)}" for e in errors]
        raise ConfigError(f"config is invalid ({schema_path}):\n" + "\n".join(lines))
    return config


# The schema's patterns, in words.
PATTERNS = {
    "^[A-Za-z0-9_-]+$": "letters, digits, '_' and '-' only",
    "^(auto|cpu|mps|cuda(:[0-9]+)?)$": "auto, cpu, mps, cuda or cuda:<number>",
    "^[0-9a-f]{64}$": "64 lowercase hexadecimal digits",
}


def describe_error(error: jsonschema.ValidationError) -> str:
    """One schema error as a sentence that also says what is allowed."""
    schema, value = error.schema, error.validator_value
    if error.validator == "additionalProperties" and "properties" in schema:
        allowed = sorted(schema["properties"])
        unknown = [key for key in error.instance if key not in schema["properties"]]
        guesses = [
            f"'{key}' (did you mean '{close[0]}'?)" if close else f"'{key}'"
            for key in unknown
            for close in [difflib.get_close_matches(key, allowed, 1)]
        ]
        return f"unknown key {', '.join(guesses)}; allowed keys here: {', '.join(allowed)}"
    if error.validator == "pattern":
        words = PATTERNS.get(value, f"the pattern {value}")
        if "propertyNames" in error.schema_path:
            return (
                f"the name '{error.instance}' is not allowed: use {words} "
                "(names become folder names and Snakemake wildcards)"
            )
        return f"'{error.instance}' is not allowed; allowed: {words}"
    if error.validator in ("minimum", "maximum", "exclusiveMinimum"):
        low, high, above = (schema.get(key) for key in ("minimum", "maximum", "exclusiveMinimum"))
        if low is not None and high is not None:
            allowed = f"{low} to {high}"
        elif above is not None:
            allowed = f"above {above}"
        else:
            allowed = f"at most {high}" if low is None else f"{low} or more"
        return f"{error.message} (allowed: {allowed})"
    if error.validator == "anyOf" and "start_s" in str(value):
        return "give start and stop (frame numbers, step optional) or start_s and stop_s (seconds, every_s optional)"
    if error.validator in ("minProperties", "minItems") and value == 1:
        return f"{error.instance!r} is empty; give at least one entry"
    return error.message
