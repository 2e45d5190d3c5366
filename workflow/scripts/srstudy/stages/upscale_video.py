"""Upscale any video with a trained model, streaming: frames flow from the decoder
through the model (tiled, on the GPU when there is one) to the encoder one at a time,
so memory stays bounded whatever the video's length; the audio is copied over.

    bash run.sh upscale IN.mp4 --model results/models/x2/default/seed123/model.pt -o OUT.mp4
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from srstudy.base.files import atomic_file
from srstudy.base.joblog import progress_bar, short_errors
from srstudy.nets.checkpoint import inference_model, load_checkpoint
from srstudy.nets.registry import arch_of
from srstudy.stages.encode import Encoder
from srstudy.stages.inference import upscale_frame
from srstudy.stages.video import VideoError, ffmpeg_binary, ffmpeg_gist, probe, read_ppm


def bicubic_upscale(frame: np.ndarray, scale: int) -> np.ndarray:
    """The frame bicubic-upscaled by ``scale`` (Pillow, as the study's baseline): the
    model's input, and the source of the output's colour."""
    height, width = frame.shape[:2]
    return np.asarray(Image.fromarray(frame).resize((width * scale, height * scale), Image.Resampling.BICUBIC))


def decoded_frames(path: str | Path, info, ffmpeg_exe: str | None = None, limit: int | None = None):
    """Every frame of a video in order, upright, one at a time (HxWx3 uint8 RGB)."""
    command = [ffmpeg_binary(ffmpeg_exe), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path)]
    command += ["-map", "0:v:0", "-fps_mode", "passthrough"] + (["-frames:v", str(limit)] if limit else [])
    command += ["-f", "image2pipe", "-c:v", "ppm", "-pix_fmt", "rgb24", "pipe:"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    index = 0
    try:
        while (frame := read_ppm(process.stdout, path, info, index)) is not None:
            yield frame
            index += 1
    finally:
        process.stdout.close()
        stderr = process.stderr.read().decode(errors="replace")
        process.stderr.close()
        if process.poll() is None:
            process.kill()
        process.wait()
    if index == 0:
        raise VideoError(f"no frame could be decoded from '{path}' (ffmpeg: {ffmpeg_gist(stderr)})")


def upscale_video(
    source: str | Path,
    model_path: str | Path,
    out: str | Path,
    device: str = "auto",
    tile: int | str = "auto",
    precision: str = "fp32",
    lossless: bool = False,
    limit: int | None = None,
    ffmpeg_exe: str | None = None,
    progress: bool = True,
) -> dict:
    """Write ``out``: ``source`` upscaled by the model's scale, its audio copied. Returns
    what was done: frames, size, seconds, frames per second."""
    info = probe(source, ffmpeg_exe)
    checkpoint = load_checkpoint(model_path)
    scale = int(checkpoint["scale"])
    model, device, halo, tile = inference_model(checkpoint, device, tile)
    lr_grid = arch_of(checkpoint["spec"]).grid == "lr"  # the decoded frame is its input
    width, height = info.width * scale, info.height * scale
    total = min(limit or info.approx_frames, info.approx_frames) or None
    started = time.perf_counter()
    with (
        atomic_file(out) as tmp,
        Encoder(tmp, width, height, info.fps, lossless=lossless, ffmpeg_exe=ffmpeg_exe, audio_from=source) as encoder,
    ):
        frames = decoded_frames(source, info, ffmpeg_exe, limit)
        for frame in progress_bar(frames, total=total, unit="frame", desc=Path(out).name, disable=not progress):
            lr = frame if lr_grid else None
            encoder.write(upscale_frame(model, bicubic_upscale(frame, scale), halo, tile, precision, lr_rgb=lr))
    seconds = time.perf_counter() - started
    return {
        "frames": encoder.count,
        "size": f"{width}x{height}",
        "scale": scale,
        "device": str(device),
        "seconds": seconds,
        "fps": encoder.count / seconds,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="bash run.sh upscale",
        description="Upscale a video with a trained model of this study (streamed frame by frame; audio copied).",
    )
    parser.add_argument("input", help="video to upscale (anything ffmpeg decodes)")
    parser.add_argument("--model", required=True, help="a model.pt the workflow trained (results/models/...)")
    parser.add_argument("-o", "--output", required=True, help="video to write (.mp4, .mkv, ...)")
    parser.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:1 ...")
    parser.add_argument("--tile", default="auto", help="tile side in pixels; auto = 512 on a CPU, 1024 on a GPU")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument(
        "--lossless",
        action="store_true",
        help="bit-exact RGB H.264 (libx264rgb -qp 0; large, not every player shows it); "
        "default: H.264 at CRF 12, visually lossless and playable everywhere",
    )
    parser.add_argument("--frames", type=int, default=None, help="only the first N frames")
    parser.add_argument("--ffmpeg", default=None, help="ffmpeg binary (default: the one imageio-ffmpeg ships)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    args = parser.parse_args(argv)
    tile = args.tile if args.tile == "auto" else int(args.tile)
    with short_errors():
        if args.threads:
            torch.set_num_threads(args.threads)
        done = upscale_video(
            args.input,
            args.model,
            args.output,
            device=args.device,
            tile=tile,
            precision=args.precision,
            lossless=args.lossless,
            limit=args.frames,
            ffmpeg_exe=args.ffmpeg,
        )
    print(
        f"wrote {args.output}: {done['frames']} frames, {done['size']} (x{done['scale']}), on {done['device']}, "
        f"{done['fps']:.2f} frames/s",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
