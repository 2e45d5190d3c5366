"""Videos out of frames: the upscaled test frames as a lossless video, a labelled
comparison video (bicubic | model | ground truth) with an HTML page that plays it in
the report, and the streaming encoder the standalone upscaler writes through."""

import base64
import errno
import html
import os
import signal
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from srstudy.base.files import NO_SPACE, atomic_file
from srstudy.base.frames import frame_name, modcrop, read_rgb
from srstudy.stages.video import VideoError, ffmpeg_binary, ffmpeg_gist

# Visually lossless and playable in every browser and player (4:2:0); the models only
# change Y, and Cb/Cr come from bicubic anyway.
PLAYABLE_CRF = 12


def encoder_command(
    out: str | Path,
    width: int,
    height: int,
    fps: float,
    lossless: bool = True,
    ffmpeg_exe: str | None = None,
    audio_from: str | Path | None = None,
) -> list[str]:
    """ffmpeg reading raw RGB frames on stdin and writing ``out``: bit-exact RGB H.264
    (``libx264rgb -qp 0``) when ``lossless``, else H.264 at CRF 12 (4:2:0 where the size
    allows). ``audio_from``: a file whose audio streams are copied in, if it has any."""
    command = [ffmpeg_binary(ffmpeg_exe), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    command += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate", f"{fps:g}"]
    command += ["-i", "pipe:"]
    if audio_from is not None:
        command += ["-i", str(audio_from), "-map", "0:v", "-map", "1:a?", "-c:a", "copy", "-shortest"]
    if lossless:
        command += ["-c:v", "libx264rgb", "-qp", "0", "-preset", "fast", "-pix_fmt", "rgb24"]
    else:
        pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        command += ["-c:v", "libx264", "-crf", str(PLAYABLE_CRF), "-preset", "medium", "-pix_fmt", pix_fmt]
    if Path(out).suffix.lower() in (".mp4", ".mov"):
        command += ["-movflags", "+faststart"]
    return command + [str(out)]


class Encoder:
    """Frames in (HxWx3 uint8 RGB, one at a time), a video file out, through an ffmpeg
    pipe: memory holds one frame, whatever the video's length."""

    def __init__(self, out: str | Path, width: int, height: int, fps: float, **options):
        self.out, self.size, self.count = Path(out), (height, width, 3), 0
        self.process = subprocess.Popen(
            encoder_command(out, width, height, fps, **options), stdin=subprocess.PIPE, stderr=subprocess.PIPE
        )

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != self.size or frame.dtype != np.uint8:
            raise ValueError(f"frame {self.count} is {frame.shape} {frame.dtype}, the video is {self.size} uint8")
        try:
            self.process.stdin.write(np.ascontiguousarray(frame).data)
        except BrokenPipeError:
            self.close()  # ffmpeg stopped: its message says why
        self.count += 1

    def close(self) -> None:
        if self.process.stdin and not self.process.stdin.closed:
            try:
                self.process.stdin.close()
            except BrokenPipeError:
                pass
        stderr = self.process.stderr.read().decode(errors="replace")
        self.process.stderr.close()
        if (code := self.process.wait()) != 0:
            # A full disk, as an OSError: atomic_file names the output. A file size limit
            # kills ffmpeg with SIGXFSZ.
            for number in NO_SPACE:
                if os.strerror(number) in stderr or (number == errno.EFBIG and code == -signal.SIGXFSZ):
                    raise OSError(number, f"ffmpeg could not write '{self.out}': {os.strerror(number)}")
            raise VideoError(f"ffmpeg could not write '{self.out}' ({ffmpeg_gist(stderr)})")

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.process.kill()
            self.process.wait()
            for stream in (self.process.stdin, self.process.stderr):
                try:
                    stream.close()
                except OSError:
                    pass


def encode_frames(frames_dir: str | Path, indices: list[int], out: str | Path, fps: float, **options) -> None:
    """``frames_dir/NNNNNN.png`` in order as a video (lossless by default), written atomically."""
    first = read_rgb(Path(frames_dir) / frame_name(indices[0]))
    height, width = first.shape[:2]
    with atomic_file(out) as tmp, Encoder(tmp, width, height, fps, **options) as encoder:
        encoder.write(first)
        for index in indices[1:]:
            encoder.write(read_rgb(Path(frames_dir) / frame_name(index)))


def _font(height: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=max(12, height // 24))


def label(image: np.ndarray, text: str) -> np.ndarray:
    """``image`` with ``text`` in white on a dark box in its top left corner."""
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    font = _font(image.shape[0])
    margin = max(4, image.shape[0] // 80)
    left, top, right, bottom = draw.textbbox((2 * margin, 2 * margin), text, font=font)
    draw.rectangle((left - margin, top - margin, right + margin, bottom + margin), fill=(0, 0, 0))
    draw.text((2 * margin, 2 * margin), text, fill=(255, 255, 255), font=font)
    return np.asarray(canvas)


def comparison_frame(panels: list[tuple[str, np.ndarray]]) -> np.ndarray:
    """The same central strip of each frame side by side, each labelled: as wide as one
    frame, so every panel is shown at its own pixels (no resampling)."""
    height, width = panels[0][1].shape[:2]
    strip = width // len(panels)
    left = (width - strip) // 2
    row = np.concatenate([label(frame[:, left : left + strip], name) for name, frame in panels], axis=1)
    # Even sides for 4:2:0 video.
    return row[: height - height % 2, : row.shape[1] - row.shape[1] % 2]


def write_comparison(
    panels: list[tuple[str, str | Path]], indices: list[int], scale: int, out: str | Path, fps: float, **options
) -> None:
    """A playable comparison video: per test frame, each panel's folder (``(name, folder)``,
    e.g. bicubic, model, ground truth) side by side, labelled; frames modcropped to ``scale``."""

    def frame(index: int) -> np.ndarray:
        return comparison_frame(
            [(name, modcrop(read_rgb(Path(folder) / frame_name(index)), scale)) for name, folder in panels]
        )

    first = frame(indices[0])
    height, width = first.shape[:2]
    with atomic_file(out) as tmp, Encoder(tmp, width, height, fps, lossless=False, **options) as encoder:
        encoder.write(first)
        for index in indices[1:]:
            encoder.write(frame(index))


def video_page(video: str | Path, out: str | Path, title: str) -> None:
    """An HTML page that plays ``video`` (embedded, nothing fetched): how the report shows it."""
    data = base64.b64encode(Path(video).read_bytes()).decode()
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body style='margin:0;background:#111;color:#eee;font-family:sans-serif'>"
        f"<p style='margin:6px'>{html.escape(title)}</p>"
        f"<video controls loop autoplay muted playsinline style='width:100%' "
        f"src='data:video/mp4;base64,{data}'></video></body></html>"
    )
    with atomic_file(out) as tmp:
        tmp.write_text(page)
