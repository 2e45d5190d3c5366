"""config/README.md, generated from the config schema so it cannot drift from it:
every key, its type, default and description. Regenerate after changing the schema:

    PYTHONPATH=workflow/scripts .venv/bin/python -m srstudy.plan.configdoc > config/README.md
"""

import json
import sys
from pathlib import Path

import yaml

from srstudy.nets.registry import extend_schema

SCHEMA = Path(__file__).resolve().parents[3] / "schemas/config.schema.yaml"

INTRO = """\
# Configuration

The workflow reads `config/config.yaml` (the embedded demo); `config/thesis.yaml` is the
thesis's full study and `.test/config/config.yaml` the tiny one the tests run. Pick one with
`--configfile`; several files are merged in order, so a small overlay changes a few keys:

```bash
.venv/bin/snakemake --configfile config/config.yaml my_overrides.yaml
.venv/bin/snakemake --config 'scales=[2]' 'defaults={epochs: 5}'   # lists and nested keys
```

Every key is checked before any job runs (`workflow/schemas/config.schema.yaml`, from which
this file is generated: `PYTHONPATH=workflow/scripts .venv/bin/python -m srstudy.plan.configdoc >
config/README.md`). Unknown keys are refused; values given on the command line as text are
read as the numbers the schema asks for. `<name>` stands for a name you choose (letters,
digits, `_`, `-`), `[]` for each item of a list.

| key | type | default | description |
|---|---|---|---|
"""


def _resolve(schema: dict, root: dict) -> dict:
    """``schema`` with its ``$ref`` and ``allOf`` parts merged in (its own keys win)."""
    merged = {}
    if "$ref" in schema:
        node = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        merged.update(_resolve(node, root))
    for branch in schema.get("allOf", []):
        merged.update(_resolve(branch, root))
    for key, value in schema.items():
        if key == "properties" and "properties" in merged:
            props = {**merged["properties"]}
            for name, sub in value.items():
                props[name] = {**props.get(name, {}), **sub}
            merged["properties"] = props
        elif key not in ("$ref", "allOf"):
            merged[key] = value
    return merged


def _type(schema: dict) -> str:
    if "enum" in schema:
        return ", ".join(f"`{v}`" for v in schema["enum"])
    if "oneOf" in schema:
        return " or ".join(_type(branch) for branch in schema["oneOf"])
    if "const" in schema:
        return f"`{schema['const']}`"
    kinds = schema.get("type", "")
    text = " or ".join(kinds) if isinstance(kinds, list) else kinds
    bounds = [
        f"{word} {schema[key]}"
        for key, word in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"))
        if key in schema
    ]
    return f"{text} ({', '.join(bounds)})" if bounds else text


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _rows(schema: dict, root: dict, key: str, required: bool):
    schema = _resolve(schema, root)
    if key:
        default = f"`{json.dumps(schema['default'])}`" if "default" in schema else ("required" if required else "")
        yield f"| `{key}` | {_cell(_type(schema))} | {_cell(default)} | {_cell(schema.get('description', ''))} |"
    for name, sub in schema.get("properties", {}).items():
        yield from _rows(sub, root, f"{key}.{name}" if key else name, name in schema.get("required", []))
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        yield from _rows(extra, root, f"{key}.<name>", False)
    items = schema.get("items")
    if isinstance(items, dict) and _resolve(items, root).get("properties"):
        yield from _rows(items, root, f"{key}[]", False)


def undocumented(schema: dict, root: dict | None = None, key: str = "") -> list[str]:
    """Keys of ``schema`` that have no description (every key in config/README.md needs one)."""
    root = root or schema
    schema = _resolve(schema, root)
    missing = [key] if key and not schema.get("description") else []
    for name, sub in schema.get("properties", {}).items():
        missing += undocumented(sub, root, f"{key}.{name}" if key else name)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        missing += undocumented(extra, root, f"{key}.<name>")
    items = schema.get("items")
    if isinstance(items, dict) and _resolve(items, root).get("properties"):
        missing += undocumented(items, root, f"{key}[]")
    return missing


def render(schema_path: str | Path = SCHEMA) -> str:
    schema = extend_schema(yaml.safe_load(Path(schema_path).read_text()))  # with the registry's keys
    return INTRO + "\n".join(_rows(schema, schema, "", True)) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
