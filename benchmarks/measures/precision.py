"""Y-PSNR and time of bf16/fp16 inference vs fp32, the demo's trained model (report).

On a real test frame of the demo, with its trained default model at x2: what a lower
precision costs in quality, and whether it is faster on this device. The trained model
is an input, not made here (``bash run.sh study`` makes it): by default the one under
--results; without one the row says so."""

from pathlib import Path

from common import REPO, median_seconds, row
from data import DEMO, load_config
from srstudy.base.frames import frame_name, modcrop, read_rgb
from srstudy.nets.arch import receptive_radius
from srstudy.nets.build import build_model
from srstudy.nets.checkpoint import load_checkpoint
from srstudy.nets.tiling import prepare_for_inference, tile_for
from srstudy.plan.frames import frame_ids
from srstudy.stages.inference import upscale_frame
from srstudy.stages.metrics import calculate_psnr

from measures import option

OPTIONS = (
    option(
        "--results",
        type=Path,
        default=REPO / "results",
        help="for precision: a finished demo's results folder (default: this checkout's)",
    ),
    option(
        "--checkpoint",
        type=Path,
        help="for precision: a trained x2 model.pt (default: the first under --results/models/x2/default)",
    ),
)
CHECKPOINTS = "models/x2/default/seed*/model.pt"


def run(context, options) -> list[dict]:
    checkpoint_path = options.checkpoint or next(iter(sorted(options.results.glob(CHECKPOINTS))), None)
    if checkpoint_path is None or not Path(checkpoint_path).is_file():
        where = checkpoint_path or options.results / CHECKPOINTS
        note = f"skipped: no trained model at {where}; run `bash run.sh study` first, or pass --checkpoint"
        return [row("precision vs fp32", "", "", None, "report", None, note)]
    device = context.device
    checkpoint = load_checkpoint(checkpoint_path)
    scale = checkpoint["scale"]
    model = build_model(checkpoint["spec"])
    model.load_state_dict(checkpoint["state_dict"])
    model = prepare_for_inference(model, device)
    halo, tile = receptive_radius(checkpoint["spec"]["layers"]), tile_for("auto", device)
    frame = frame_ids(load_config(DEMO)["frames"]["test"])[0]
    hr = modcrop(read_rgb(options.results / "frames/test" / frame_name(frame)), scale)
    bicubic = read_rgb(options.results / f"degraded/test/x{scale}/bicubic" / frame_name(frame))
    scores = {}
    for name in ("fp32", "bf16", "fp16"):
        sr = upscale_frame(model, bicubic, halo, tile, name)
        seconds = median_seconds(lambda n=name: upscale_frame(model, bicubic, halo, tile, n), 1, device)
        scores[name] = (calculate_psnr(hr, sr, scale, test_y_channel=True), seconds)
    fp32, fp32_seconds = scores["fp32"]
    return [
        row(
            f"precision {name} vs fp32 (x{scale} default, frame {frame}, {device.type})",
            f"{psnr:.3f} dB",
            f"{fp32:.3f} dB",
            seconds / fp32_seconds,
            "report",
            None,
            f"Y-PSNR change {psnr - fp32:+.4f} dB; ratio = time vs fp32"
            + ("; no fast bf16/fp16 on this CPU" if device.type == "cpu" else ""),
        )
        for name, (psnr, seconds) in scores.items()
        if name != "fp32"
    ]
