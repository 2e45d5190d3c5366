"""How the report shows its figures: crop tiles wide enough to see, legends off the data."""

import numpy as np
import torch
from conftest import REPO
from PIL import Image
from srstudy.base.frames import frame_name, write_png
from srstudy.nets.build import build_model
from srstudy.report import figures
from srstudy.report.about import git_commit, write_about
from srstudy.stages.metrics import write_scores
from srstudy.train.resume import save_atomic

RNG = np.random.default_rng(11)


def test_crop_tiles_are_shown_at_least_300_px_wide(tmp_path):
    """Ground truth, bicubic and eight variants (the demo): three tiles a row, each
    >= 300 px in a figure that fits the report's column (~1100 px) unscaled."""
    hr = RNG.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    write_png(tmp_path / "hr" / frame_name(0), hr)
    upscaled = {}
    for name in ["bicubic", *(f"variant_{i}" for i in range(8))]:
        upscaled[name] = tmp_path / name / frame_name(0)
        write_png(upscaled[name], hr)
    out = tmp_path / "crop.png"
    figures.crop_panel(
        tmp_path / "hr" / frame_name(0), upscaled, box=[20, 30, 240, 160], scale=2, out=out, title="crop"
    )
    with Image.open(out) as image:
        width, height = image.size
    assert width <= 1150, "wider than the report's content column: the browser would shrink it"
    assert width / figures.CROP_COLUMNS >= 300
    assert height >= 4 * 300 * 160 / 240  # four rows of 3:2 tiles


def score_files(root):
    paths = []
    for scale in (2, 3, 4):
        for method, gain in [("bicubic", 0.0), ("default", 0.8), ("elu", 0.5), ("tanh", 0.2)]:
            rows = [
                {
                    "scale": scale,
                    "method": method,
                    "seed": None if method == "bicubic" else 1,
                    "test_set": "study",
                    "frame": f,
                    "psnr_rgb": 42 - 2 * scale + gain + 0.1 * f + RNG.normal(0, 0.1),
                    "ssim_rgb": 0.9,
                    "psnr_y": 43 - 2 * scale + gain + 0.1 * f,
                    "ssim_y": 0.9,
                    "hr_path": "",
                    "sr_path": "",
                }
                for f in range(5)
            ]
            path = root / f"scores/x{scale}/{method}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_scores(path, rows)
            paths.append(path)
    return paths


def test_psnr_vs_scale_legend_covers_no_panel(tmp_path, monkeypatch):
    drawn = {}
    save = figures.save

    def measure_then_save(fig, path):  # the real figure, measured as it is saved
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        drawn["legends"] = [legend.get_window_extent(renderer) for legend in fig.legends]
        drawn["inner"] = [ax.get_legend() for ax in fig.axes]
        drawn["axes"] = [ax.get_window_extent(renderer) for ax in fig.axes if ax.axison]
        save(fig, path)

    monkeypatch.setattr(figures, "save", measure_then_save)
    figures.psnr_vs_scale(score_files(tmp_path), ["default", "elu", "tanh"], out=tmp_path / "psnr_vs_scale.png")
    assert len(drawn["legends"]) == 1 and drawn["inner"] == [None] * len(drawn["inner"])
    legend = drawn["legends"][0]
    assert len(drawn["axes"]) == 4
    for box in drawn["axes"]:
        assert not legend.overlaps(box), (legend, box)


def test_about_page_names_software_devices_and_commit(tmp_path):
    spec = {"layers": [{"kernel": 3, "channels": 4}, {"kernel": 3, "channels": 1}], "activation": "relu"}
    checkpoint = tmp_path / "model.pt"
    save_atomic({"state_dict": build_model(spec).state_dict(), "device": "cuda:0", "torch": "2.13.0+cu126"}, checkpoint)
    commit = git_commit(REPO)
    assert commit.startswith("unknown") or len(commit.split()[0]) == 40
    out = tmp_path / "about/software.html"
    write_about(out, [checkpoint, checkpoint], commit)
    page = out.read_text()
    for text in (commit, "models trained on cuda:0, torch 2.13.0+cu126</th><td>2<", f"<td>{torch.__version__}<"):
        assert text in page, text
    for key in ("snakemake", "CUDA (torch build)", "cuDNN", "GPUs here", "ffmpeg"):
        assert f">{key}</th>" in page, key
    assert git_commit(tmp_path).startswith("unknown")


def test_e2e_report_has_the_about_page_and_front_page_points_to_it(e2e):
    workdir, _, _ = e2e
    page = (workdir / "results/about/software.html").read_text()
    assert "workflow commit" in page and ">ffmpeg</th>" in page
    assert "**About**" in (REPO / "workflow/report/workflow.rst").read_text()
