"""Config checks run before any job: the JSON schema (with defaults filled in), then
what a schema cannot say (disjoint frame sets, a valid layer list, a usable video)."""

import copy
import difflib
import itertools
import math
import re
from pathlib import Path

import jsonschema
import yaml

from srstudy import archs
from srstudy.degrade import FrameSizeError, check_frame_size
from srstudy.methods import BICUBIC
from srstudy.video import VideoError, probe, resolve_video

FRAME_SETS = ("train", "eval", "test")


class ConfigError(ValueError):
    """A config that cannot run; the message names the key and the fix."""


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
    architecture's own sizes, :func:`srstudy.archs.extend_schema`)."""
    return archs.extend_schema(yaml.safe_load(Path(schema_path).read_text()))


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
        lines = [f"  - {_key(e.absolute_path)}: {_describe(e)}" for e in errors]
        raise ConfigError(f"config is invalid ({schema_path}):\n" + "\n".join(lines))
    return config


# The schema's patterns, in words.
PATTERNS = {
    "^[A-Za-z0-9_-]+$": "letters, digits, '_' and '-' only",
    "^(auto|cpu|mps|cuda(:[0-9]+)?)$": "auto, cpu, mps, cuda or cuda:<number>",
    "^[0-9a-f]{64}$": "64 lowercase hexadecimal digits",
}


def _describe(error: jsonschema.ValidationError) -> str:
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


TIME_KEYS = ("start_s", "stop_s", "every_s")
RESOLVED = "decoded"  # the frame numbers of a set given by time, filled in by resolve_frame_times


def frame_ids(frame_range: dict) -> list[int]:
    """0-based frame numbers of a frame set (by time: once :func:`resolve_frame_times` ran)."""
    if "start_s" in frame_range:
        if RESOLVED not in frame_range:
            raise ConfigError("a frame set given in seconds is used before its frames were resolved")
        return list(frame_range[RESOLVED])
    return list(range(frame_range["start"], frame_range["stop"], frame_range.get("step", 1)))


def frames_at_times(start_s: float, stop_s: float, every_s: float | None, fps: float) -> list[int]:
    """Frame numbers shown from ``start_s`` up to (not including) ``stop_s`` seconds, every
    ``every_s`` seconds (the nearest frame to each time; None: every frame), at ``fps``
    (constant frame rate: frame k is shown at k / fps)."""
    if every_s is None:
        first, last = math.ceil(start_s * fps - 1e-9), math.ceil(stop_s * fps - 1e-9)
        return list(range(first, last))
    count = math.ceil((stop_s - start_s) / every_s - 1e-9)
    return sorted({round((start_s + i * every_s) * fps) for i in range(max(0, count))})


def resolve_frame_times(config: dict) -> None:
    """Give every frame set that is given in seconds its frame numbers (``decoded``),
    with the frame rate of its video: ``video.fps``, else probed from the file."""
    sets = [(f"frames.{name}", config["frames"][name], "video", config["video"]) for name in FRAME_SETS]
    sets += [
        (f"ood_tests.{name}.frames", test["frames"], f"ood_tests.{name}.video", test["video"])
        for name, test in config["ood_tests"].items()
    ]
    problems, rates = [], {}
    for key, frames, video_key, video in sets:
        given = [k for k in ("start", "stop") if k in frames]
        if "start_s" not in frames:
            continue
        if given:
            problems.append(
                f"{key}: give frame numbers (start, stop, step) or times (start_s, stop_s, every_s), not both"
            )
            continue
        if video_key not in rates:
            rates[video_key] = _frame_rate(config, video_key, video)
        fps = rates[video_key]
        if isinstance(fps, str):
            problems.append(fps)
            continue
        frames[RESOLVED] = frames_at_times(frames["start_s"], frames["stop_s"], frames.get("every_s"), fps)
    if problems:
        raise ConfigError("config is invalid:\n" + "\n".join(f"  - {p}" for p in dict.fromkeys(problems)))


def _frame_rate(config: dict, key: str, video: dict) -> float | str:
    """The video's frame rate, or a problem (str)."""
    try:
        path = resolve_video(video["path"])
    except VideoError as error:
        return f"{key}.path: {error}"
    if not path.exists():
        if video.get("fps"):
            return float(video["fps"])
        return f"{key}.fps: frames are given in seconds and '{path}' is not there yet to read its frame rate: set fps"
    try:
        fps = probe(path, config["ffmpeg"]).fps
    except VideoError as error:
        return f"{key}.path: {error}"
    if video.get("fps") and abs(video["fps"] - fps) > 0.01:
        return f"{key}.fps: {video['fps']} is configured but '{path}' runs at {fps:g} fps; correct it or remove it"
    return fps


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
                    problems.append(f"sweeps.{name}.factors.{key} (value '{label}'): {_describe(error)}")
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
        if archs.arch_of(config["defaults"]).name != archs.DEFAULT or "arch" in search["budget"]:
            problems.append(f"{where}: a search tunes SRCNN's layers; set defaults.arch to srcnn (or remove it)")
        unknown = sorted(set(search["scales"] or []) - set(config["scales"]))
        if unknown:
            problems.append(f"{where}.scales: {unknown} are not among the study's scales {config['scales']}")
    return problems


def nearest_scale(scale: int, searched: list[int]) -> int:
    """The searched scale whose winner a scale uses (itself when it was searched; ties
    go to the smaller scale)."""
    return min(searched, key=lambda s: (abs(s - scale), s))


def job_spec(job) -> dict:
    """A train or upscale job's spec param, a search winner's best.yaml taken from the job's
    input (the path in the param lacks the prefix of a workflow imported as a module)."""
    spec = job.params.spec
    return {**spec, "search_best": job.input.search[0]} if "search_best" in spec else spec


def resolve_spec(spec: dict) -> dict:
    """A job's model settings: a search winner's name its best.yaml (``search_best``),
    whose settings go on top of the rest; any other spec is returned as it is."""
    if "search_best" not in spec:
        return spec
    rest = {k: v for k, v in spec.items() if k != "search_best"}
    best = yaml.safe_load(Path(spec["search_best"]).read_text())
    return {**rest, **best["settings"]}


def check_semantics(config: dict) -> None:
    """What the schema cannot check; raises :class:`ConfigError`. Frame sets given in
    seconds get their frame numbers first (:func:`resolve_frame_times`)."""
    resolve_frame_times(config)
    problems = []
    sets = {name: set(frame_ids(config["frames"][name])) for name in FRAME_SETS}
    for name, ids in sets.items():
        if not ids:
            problems.append(f"frames.{name}: the range holds no frame (start must be below stop)")
    for i, a in enumerate(FRAME_SETS):
        for b in FRAME_SETS[i + 1 :]:
            shared = sorted(sets[a] & sets[b])
            if shared:
                problems.append(
                    f"frames.{a} and frames.{b} overlap (frames {shared[:5]}{'...' if len(shared) > 5 else ''}): "
                    "train, eval and test frames must be disjoint"
                )
    for name, spec in config["ood_tests"].items():
        if not frame_ids(spec["frames"]):
            problems.append(f"ood_tests.{name}.frames: the range holds no frame")
    if config["baseline_variant"] not in config["variants"]:
        problems.append(
            f"baseline_variant: '{config['baseline_variant']}' is not one of the variants {sorted(config['variants'])}"
        )
    if BICUBIC in config["variants"]:
        problems.append(f"variants.{BICUBIC}: the name '{BICUBIC}' is reserved for the baseline; rename the variant")
    for name in config["variants"]:
        spec = variant_spec(config, name)
        own = archs.arch_of(spec).model_keys
        where = f"variants.{name}" if any(key in config["variants"][name] for key in own) else "defaults"
        problems += archs.spec_problems(spec, where)
    problems += search_problems(config)
    problems += report_problems(config, sets["test"])
    problems += video_problems(config)
    if problems:
        raise ConfigError("config is invalid:\n" + "\n".join(f"  - {p}" for p in problems))


def check_videos(config: dict) -> dict:
    """Probe every video that exists and check the configured frames and scales fit it.
    A missing video is an error unless it has a 'url' (a rule downloads it).
    Returns ``{key: path}`` of the resolved videos."""
    videos = {"video": (config["video"], sorted(set().union(*(frame_ids(config["frames"][s]) for s in FRAME_SETS))))}
    for name, spec in config["ood_tests"].items():
        videos[f"ood_tests.{name}.video"] = (spec["video"], frame_ids(spec["frames"]))
    resolved, problems = {}, []
    for key, (spec, ids) in videos.items():
        try:
            path = resolve_video(spec["path"])
        except VideoError as error:
            problems.append(f"{key}.path: {error}")
            continue
        resolved[key] = path
        if not path.exists() and spec.get("url"):
            continue
        try:
            info = probe(path, config["ffmpeg"])
            for scale in config["scales"]:
                check_frame_size(info.width, info.height, scale, what=f"{key} '{path}'")
        except (VideoError, FrameSizeError) as error:
            problems.append(f"{key}.path: {error}")
            continue
        if key == "video":
            problems += report_fit_problems(config, info.width, info.height)
        # The container's duration gives the count to within a frame or two; the
        # extraction job checks the exact count when it decodes.
        if ids and max(ids) >= info.approx_frames + 2:
            problems.append(
                f"{key}: frame {max(ids)} is configured but '{path}' holds about {info.approx_frames} frames "
                f"({info.duration:.2f} s at {info.fps:g} fps): use frame numbers below {info.approx_frames}"
            )
    if problems:
        raise ConfigError("config is invalid:\n" + "\n".join(f"  - {p}" for p in problems))
    return resolved


def report_problems(config: dict, test_frames: set[int]) -> list[str]:
    """The report's settings: crops and the PSNR map on test frames, crop names unique,
    comparison groups naming configured variants."""
    report, problems = config["report"], []
    test = f"the test frames are {sorted(test_frames)[:8]}{'...' if len(test_frames) > 8 else ''} (frames.test)"
    seen = set()
    for i, crop in enumerate(report["crops"]):
        if crop["name"] in seen:
            problems.append(f"report.crops[{i}].name: '{crop['name']}' is used twice; crop names must be unique")
        seen.add(crop["name"])
        if crop["frame"] not in test_frames:
            problems.append(
                f"report.crops[{i}].frame: frame {crop['frame']} (crop '{crop['name']}') is not a test frame; {test}"
            )
    frame = report["psnr_map"]["frame"]
    if frame is not None and frame not in test_frames:
        problems.append(f"report.psnr_map.frame: frame {frame} is not a test frame; {test}")
    for variant in report["thesis_reported"]:
        if variant not in config["variants"]:
            problems.append(
                f"report.thesis_reported: '{variant}' is not among the variants {sorted(config['variants'])}"
            )
    for name, group in report["comparisons"].items():
        for key, names in (("reference", [group["reference"]]), ("variants", group["variants"] or [])):
            unknown = [v for v in names if v is not None and v not in config["variants"]]
            if unknown:
                problems.append(
                    f"report.comparisons.{name}.{key}: {unknown} not among the variants {sorted(config['variants'])}"
                )
    return problems


def video_problems(config: dict) -> list[str]:
    """The videos' variants and scales must be configured ones."""
    videos, problems = config["videos"], []
    unknown = [v for v in videos["variants"] if v not in config["variants"]]
    if unknown:
        problems.append(f"videos.variants: {unknown} not among the variants {sorted(config['variants'])}")
    unknown = [s for s in videos["scales"] or [] if s not in config["scales"]]
    if unknown:
        problems.append(f"videos.scales: {unknown} not among the scales {config['scales']}")
    return problems


def report_fit_problems(config: dict, width: int, height: int) -> list[str]:
    """Crop boxes and the PSNR map's tile must fit the study video's frames, modcropped
    to every scale (crops are cut from the modcropped frame)."""
    fit_w = min(width - width % scale for scale in config["scales"])
    fit_h = min(height - height % scale for scale in config["scales"])
    problems = []
    for i, crop in enumerate(config["report"]["crops"]):
        x, y, w, h = crop["box"]
        if x + w > fit_w or y + h > fit_h:
            problems.append(
                f"report.crops[{i}].box: {crop['box']} (crop '{crop['name']}', [x, y, width, height]) reaches "
                f"({x + w}, {y + h}), outside the {fit_w}x{fit_h} frame ({width}x{height} modcropped to every scale)"
            )
    tile = config["report"]["psnr_map"]["tile"]
    if tile > min(fit_w, fit_h):
        problems.append(f"report.psnr_map.tile: {tile} px is larger than the {fit_w}x{fit_h} frame")
    return problems
