"""Frame sets: ranges of frame numbers, or stretches of time turned into frame
numbers with the video's frame rate."""

import math

from srstudy.plan.errors import ConfigError

FRAME_SETS = ("train", "eval", "test")


TIME_KEYS = ("start_s", "stop_s", "every_s")


RESOLVED = "decoded"  # the frame numbers of a set given by time, filled in by the config check


def frame_ids(frame_range: dict) -> list[int]:
    """0-based frame numbers of a frame set (by time: once the config check resolved them)."""
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


def resolve_times(frames: dict, key: str, fps: float | str) -> str | None:
    """Give a frame set that is given in seconds its frame numbers (``decoded``) at
    ``fps`` (or the problem, as text, that kept the frame rate from being read); returns
    what is wrong with the set, or None."""
    if "start_s" not in frames:
        return None
    if "start" in frames or "stop" in frames:
        return f"{key}: give frame numbers (start, stop, step) or times (start_s, stop_s, every_s), not both"
    if isinstance(fps, str):
        return fps
    frames[RESOLVED] = frames_at_times(frames["start_s"], frames["stop_s"], frames.get("every_s"), fps)
    return None
