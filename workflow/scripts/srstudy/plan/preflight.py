"""Checks run before any job, beyond the schema: disjoint frame sets, valid networks,
usable videos, a report that fits the frames."""

from srstudy.base.methods import BICUBIC
from srstudy.nets import registry
from srstudy.plan.dag import group_problems
from srstudy.plan.errors import ConfigError
from srstudy.plan.frames import FRAME_SETS, frame_ids, resolve_times
from srstudy.plan.variants import search_problems, variant_spec
from srstudy.stages.degrade import FrameSizeError, check_frame_size
from srstudy.stages.video import VideoError, probe, resolve_video


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
        own = registry.arch_of(spec).model_keys
        where = f"variants.{name}" if any(key in config["variants"][name] for key in own) else "defaults"
        problems += registry.spec_problems(spec, where)
    problems += search_problems(config)
    problems += group_problems(config)
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
    cell = config["report"]["psnr_map"]["cell"]
    if cell > min(fit_w, fit_h):
        problems.append(f"report.psnr_map.cell: {cell} px is larger than the {fit_w}x{fit_h} frame")
    return problems


def resolve_frame_times(config: dict) -> None:
    """Give every frame set that is given in seconds its frame numbers (``decoded``),
    with the frame rate of its video: ``video.fps``, else probed from the file.
    Cross-validation's split range (``cv.frames``) takes the study video's."""
    sets = [(f"frames.{name}", config["frames"][name], "video", config["video"]) for name in FRAME_SETS]
    sets += [
        (f"ood_tests.{name}.frames", test["frames"], f"ood_tests.{name}.video", test["video"])
        for name, test in config["ood_tests"].items()
    ]
    if config.get("cv", {}).get("frames") is not None:
        sets.append(("cv.frames", config["cv"]["frames"], "video", config["video"]))
    problems, rates = [], {}
    for key, frames, video_key, video in sets:
        if "start_s" in frames and "start" not in frames and "stop" not in frames and video_key not in rates:
            rates[video_key] = frame_rate(config, video_key, video)
        problem = resolve_times(frames, key, rates.get(video_key, ""))
        if problem is not None:
            problems.append(problem)
    if problems:
        raise ConfigError("config is invalid:\n" + "\n".join(f"  - {p}" for p in dict.fromkeys(problems)))


def frame_rate(config: dict, key: str, video: dict) -> float | str:
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
