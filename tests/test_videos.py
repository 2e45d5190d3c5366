"""Videos: lossless encoding of frames, the labelled comparison the report plays, the
standalone streaming upscaler, and the workflow's video rules. Real ffmpeg throughout."""

import base64
import shutil
import subprocess

import numpy as np
import pytest
import torch
from conftest import BBB_SPEC, BIKES_SPEC, SYNTHETIC_FRAMES, SYNTHETIC_SIZE, explain, read_sequential, snakemake
from srstudy.base.frames import frame_name, modcrop, read_rgb
from srstudy.nets.arch import receptive_radius
from srstudy.nets.build import build_model
from srstudy.nets.checkpoint import load_checkpoint
from srstudy.nets.tiling import prepare_for_inference
from srstudy.stages.encode import comparison_frame, encode_frames, label, video_page, write_comparison
from srstudy.stages.inference import upscale_frame
from srstudy.stages.upscale_video import bicubic_upscale, main
from srstudy.stages.video import resolve_video
from srstudy.train.resume import save_atomic

TINY = {"layers": [{"kernel": 5, "channels": 8}, {"kernel": 3, "channels": 1}], "activation": "relu"}


def test_frames_encode_losslessly(tmp_path, synthetic_frames_dir):
    out = tmp_path / "frames.mkv"
    encode_frames(synthetic_frames_dir, list(range(SYNTHETIC_FRAMES)), out, fps=25)
    decoded = read_sequential(out)
    assert len(decoded) == SYNTHETIC_FRAMES
    for index, frame in enumerate(decoded):
        assert np.array_equal(frame, read_rgb(synthetic_frames_dir / frame_name(index))), index


def test_comparison_frame_shows_each_panel_at_its_own_pixels():
    rng = np.random.default_rng(1)
    panels = [(name, rng.integers(0, 256, (181, 301, 3), dtype=np.uint8)) for name in ("bicubic", "model", "truth")]
    frame = comparison_frame(panels)
    strip, left = 301 // 3, (301 - 301 // 3) // 2
    assert frame.shape == (180, 300, 3)
    for i, (name, image) in enumerate(panels):
        shown = frame[:, i * strip : (i + 1) * strip]
        labelled = label(image[:, left : left + strip], name)
        assert np.array_equal(shown, labelled[:180, : shown.shape[1]])
        # The label covers the top left corner only; below it the panel is the frame itself.
        assert not np.array_equal(labelled[:20, :40], image[:20, left : left + 40])
        assert np.array_equal(shown[100:], image[100:180, left : left + shown.shape[1]])


def test_comparison_video_and_its_page(tmp_path, synthetic_frames_dir):
    out, page = tmp_path / "comparison.mp4", tmp_path / "comparison.html"
    panels = [("a", synthetic_frames_dir), ("b", synthetic_frames_dir), ("c", synthetic_frames_dir)]
    write_comparison(panels, [0, 4, 8], 2, out, fps=2.5)
    frames = read_sequential(out)
    width, height = SYNTHETIC_SIZE
    assert len(frames) == 3 and frames[0].shape == (height, (width // 3) * 3, 3)
    video_page(out, page, "x2: a | b | c")
    text = page.read_text()
    assert "<video" in text and "x2: a | b | c" in text
    embedded = text.split("data:video/mp4;base64,")[1].split("'")[0]
    assert base64.b64decode(embedded) == out.read_bytes()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> tuple:
    path = tmp_path_factory.mktemp("model") / "model.pt"
    torch.manual_seed(3)
    model = build_model(TINY)
    save_atomic({"state_dict": model.state_dict(), "spec": TINY, "scale": 2, "variant": "tiny"}, path)
    return path


@pytest.fixture(scope="module")
def clip_with_audio(tmp_path_factory, ffmpeg_exe):
    """The embedded bikes clip (640x272) with the embedded Big Buck Bunny clip's 5.1 AAC
    audio, muxed by stream copy: the standalone command's input, small enough to be quick."""
    out = tmp_path_factory.mktemp("clip") / "bikes_with_audio.mp4"
    command = [ffmpeg_exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    command += ["-i", str(resolve_video(BIKES_SPEC)), "-i", str(resolve_video(BBB_SPEC))]
    command += ["-map", "0:v", "-map", "1:a", "-c", "copy", "-shortest", str(out)]
    subprocess.run(command, check=True)
    return out


def test_upscale_a_video_streamed_with_its_audio(tmp_path, clip_with_audio, tiny_model, ffmpeg_exe, capsys):
    """The standalone command on an embedded clip: every frame is the model's output on
    the bicubic-upscaled frame, bit for bit (lossless), and the audio is kept."""
    out = tmp_path / "up.mkv"
    options = ["--frames", "3", "--lossless", "--device", "cpu"]
    main([str(clip_with_audio), "--model", str(tiny_model), "-o", str(out), *options])
    assert "3 frames, 1280x544 (x2)" in capsys.readouterr().err
    listing = subprocess.run([ffmpeg_exe, "-hide_banner", "-i", str(out)], capture_output=True, text=True).stderr
    assert "Audio: aac" in listing and "1280x544" in listing, listing
    checkpoint = load_checkpoint(tiny_model)
    model = build_model(checkpoint["spec"])
    model.load_state_dict(checkpoint["state_dict"])
    model = prepare_for_inference(model, torch.device("cpu"))
    source, upscaled = read_sequential(clip_with_audio, 3), read_sequential(out)
    assert len(upscaled) == 3
    for original, frame in zip(source, upscaled, strict=True):
        expected = upscale_frame(model, bicubic_upscale(original, 2), receptive_radius(TINY["layers"]), 512)
        assert np.array_equal(frame, expected)


def test_upscale_refuses_a_broken_model(tmp_path, bbb_clip, capsys):
    broken = tmp_path / "model.pt"
    broken.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(SystemExit) as exit:
        main([str(bbb_clip), "--model", str(broken), "-o", str(tmp_path / "x.mp4")])
    assert exit.value.code == 1
    assert "model.pt' is damaged" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.mp4"))


def test_workflow_videos_of_a_chosen_variant(e2e, tmp_path):
    """The finished CI run, copied, asked for videos of one variant: only the video jobs
    run, and the comparison page plays the model's frames beside bicubic and the truth."""
    source, config, _ = e2e
    workdir = tmp_path / "run"
    shutil.copytree(source, workdir, symlinks=True)
    result = snakemake(workdir, "--cores", "2", "--config", "videos={variants: [elu], scales: [2]}")
    assert result.returncode == 0, explain(result)
    stats = result.stderr.split("Job stats:")[1].split("\n\n")[0].splitlines()[3:]
    ran = {line.split()[0] for line in stats if line.strip() and line.split()[0] != "total"}
    # and the cost table, which has a row per job
    assert ran == {"upscaled_video", "comparison_video", "cost_table", "all"}, explain(result)
    frames = list(range(config["frames"]["test"]["start"], config["frames"]["test"]["stop"], 10))
    video = read_sequential(workdir / "results/videos/x2/elu/seed123.mkv")
    assert len(video) == len(frames)
    for index, frame in zip(frames, video, strict=True):
        assert np.array_equal(frame, read_rgb(workdir / "results/upscaled/x2/elu/seed123" / frame_name(index)))
    comparison = read_sequential(workdir / "results/videos/x2/elu/seed123_comparison.mp4")
    truth = modcrop(read_rgb(workdir / "results/frames/test" / frame_name(frames[0])), 2)
    assert len(comparison) == len(frames) and comparison[0].shape[0] == truth.shape[0]
    assert "data:video/mp4;base64," in (workdir / "results/videos/x2/elu/seed123_comparison.html").read_text()
