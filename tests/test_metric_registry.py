"""The metric registry: a metric is one registered entry, and the score files, the
comparisons and the thesis-layout tables follow the registry. A mean-absolute-error
metric, registered here only, goes from real frames to the tables without any other edit."""

import numpy as np
import pandas as pd
import pytest
from srstudy.base.colour import rgb_to_y
from srstudy.base.frames import frame_name, write_png
from srstudy.report import tables
from srstudy.stages import metrics

FRAMES = [0, 1, 2, 3, 4, 5]
SCALE = 2


def mae_y(hr: np.ndarray, sr: np.ndarray, scale: int) -> float:
    border = scale if metrics.CONVENTIONS["y"].crop_border else 0
    diff = rgb_to_y(hr) - rgb_to_y(sr)
    return float(np.abs(diff[border:-border, border:-border]).mean())


@pytest.fixture
def with_mae():
    metric = metrics.register_metric(metrics.Metric("mae_y", "MAE", "y", mae_y, delta_digits=4))
    yield metric
    del metrics.METRIC_REGISTRY["mae_y"]


def noisy_folders(tmp_path, rng, noise: dict[str, float]) -> tuple:
    hr_dir = tmp_path / "hr"
    hr_dir.mkdir()
    folders = {name: tmp_path / name for name in noise}
    for folder in folders.values():
        folder.mkdir()
    for frame in FRAMES:
        hr = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
        write_png(hr_dir / frame_name(frame), hr)
        for name, sigma in noise.items():
            sr = np.clip(hr + rng.normal(0, sigma, hr.shape), 0, 255).round().astype(np.uint8)
            write_png(folders[name] / frame_name(frame), sr)
    return hr_dir, folders


def test_the_registry_holds_the_four_study_metrics_in_their_conventions():
    assert metrics.metric_names() == ("psnr_rgb", "ssim_rgb", "psnr_y", "ssim_y")
    assert [m.name for m in metrics.metrics_in("y")] == ["psnr_y", "ssim_y"]
    assert metrics.thesis_code_names() == ("psnr_rgb_thesis_code", "ssim_rgb_thesis_code")
    assert metrics.METRIC_REGISTRY["psnr_y"].header == "PSNR (dB)"


def test_a_metric_is_registered_once_in_a_known_convention(with_mae):
    with pytest.raises(ValueError, match="registered already"):
        metrics.register_metric(with_mae)
    with pytest.raises(ValueError, match="unknown convention 'lab'"):
        metrics.register_metric(metrics.Metric("delta_e", "ΔE", "lab", mae_y))


def test_a_registered_metric_reaches_scores_comparisons_and_tables(with_mae, tmp_path):
    rng = np.random.default_rng(3)
    hr_dir, folders = noisy_folders(tmp_path, rng, {"bicubic": 12.0, "default": 4.0, "wide": 6.0})
    paths = []
    for method, folder in folders.items():
        rows = metrics.score_rows(
            hr_dir,
            {None if method == "bicubic" else 1: folder},
            frames=FRAMES,
            scale=SCALE,
            method=method,
            test_set="study",
        )
        assert {"mae_y", *metrics.metric_names()} <= set(rows[0])
        paths.append(tmp_path / f"scores/{method}.csv")
        metrics.write_scores(paths[-1], rows)
    assert "mae_y" in pd.read_csv(paths[0]).columns

    out = tmp_path / "tables"
    out.mkdir()
    comparisons = {"all": {}}
    tables.write_summaries(
        paths, variants=["default", "wide"], baseline="default", comparisons=comparisons, out_dir=out
    )
    compared = pd.read_csv(out / "comparisons.csv")
    mae = compared[(compared["metric"] == "mae_y") & (compared["variant"] == "wide")].iloc[0]
    assert mae["convention"] == "y" and mae["delta_reference"] > 0  # more noise, more error
    # the Holm family of the Y tables grows by the new metric's test
    y_tests = compared[(compared["convention"] == "y") & compared["p_value"].notna()]
    assert set(y_tests["metric"]) == {"psnr_y", "ssim_y", "mae_y"} and (y_tests["n_tests"] == 3).all()

    markdown = tmp_path / "x2.md"
    tables.write_scale_tables(
        comparisons_csv=out / "comparisons.csv",
        seeds_csv=out / "summary_seeds.csv",
        variants=["default", "wide"],
        baseline="default",
        comparisons=comparisons,
        scale=SCALE,
        test_set="study",
        markdown=markdown,
        html_path=tmp_path / "x2.html",
    )
    text = markdown.read_text()
    field, thesis = text.split("Field convention")[1], text.split("Field convention")[0]
    assert "| MAE |" in field and "ΔMAE vs default [95% CI]" in field and "p MAE (Holm)" in field
    assert "MAE" not in thesis  # a Y-convention metric stays out of the thesis convention's table
