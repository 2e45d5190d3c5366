"""Figures are written from real files (PNG frames, score CSVs, training logs), and
the report settings in the config are checked with clear errors."""

import math

import numpy as np
import pytest
from conftest import SCHEMA
from PIL import Image
from srstudy.base.frames import frame_name, modcrop, write_png
from srstudy.plan.config import validate_schema
from srstudy.plan.errors import ConfigError
from srstudy.plan.preflight import check_semantics, check_videos
from srstudy.report import figures
from srstudy.stages.metrics import mse_uint8, psnr_from_mse, write_scores

RNG = np.random.default_rng(7)


def noisy(image, sigma):
    return np.clip(image + RNG.normal(0, sigma, image.shape), 0, 255).round().astype(np.uint8)


def assert_png(path, min_side=100):
    assert path.is_file() and path.stat().st_size > 2000, path
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert min(image.size) >= min_side


@pytest.fixture
def frames(tmp_path):
    """A 121x161 HR frame (odd: modcrop matters), bicubic-like and two variants' frames."""
    y, x = np.mgrid[0:121, 0:161]
    hr = np.stack([x * 1.5, y * 2.0, 128 + 60 * np.sin(x / 5.0)], axis=-1)
    hr = noisy(hr, 4)
    scale = 2
    paths = {"hr": tmp_path / "frames" / frame_name(5)}
    write_png(paths["hr"], hr)
    for name, sigma in [("bicubic", 20), ("default", 8), ("elu", 12)]:
        paths[name] = tmp_path / name / frame_name(5)
        write_png(paths[name], noisy(modcrop(hr, scale).astype(np.float64), sigma))
    return paths, scale


def test_crop_panel(frames, tmp_path):
    paths, scale = frames
    out = tmp_path / "fig/crop_x2.png"
    box = [10, 20, 64, 48]
    upscaled = {k: paths[k] for k in ("bicubic", "default", "elu")}
    psnrs = figures.crop_panel(paths["hr"], upscaled, box=box, scale=scale, out=out, title="test crop")
    assert_png(out)
    assert list(psnrs) == ["bicubic", "default", "elu"]
    hr = modcrop(np.asarray(Image.open(paths["hr"])), scale)[20:68, 10:74]
    sr = np.asarray(Image.open(paths["default"]))[20:68, 10:74]
    assert psnrs["default"] == pytest.approx(psnr_from_mse(mse_uint8(hr, sr)))
    assert psnrs["default"] > psnrs["elu"] > psnrs["bicubic"]  # less noise, higher PSNR


def test_crop_box_outside_the_frame_is_an_error(frames, tmp_path):
    paths, scale = frames
    with pytest.raises(ValueError, match="does not fit"):
        figures.crop_panel(
            paths["hr"], {"b": paths["bicubic"]}, box=[150, 0, 20, 20], scale=scale, out=tmp_path / "x.png"
        )


def test_cell_psnr_by_hand():
    hr = np.zeros((20, 30, 3), np.uint8)
    sr = hr.copy()
    sr[:10, :10] = 10  # tile (0, 0): MSE 100
    sr[10:, 20:] = 1  # tile (1, 2): MSE 1
    grid = figures.cell_psnr(hr, sr, 10)
    assert grid.shape == (2, 3)
    assert grid[0, 0] == pytest.approx(10 * math.log10(255**2 / 100))
    assert grid[1, 2] == pytest.approx(10 * math.log10(255**2))
    assert np.isinf(grid[0, 1])
    # a partial edge tile is left out
    assert figures.cell_psnr(hr[:, :25], sr[:, :25], 10).shape == (2, 2)


def test_psnr_map(frames, tmp_path):
    paths, scale = frames
    out = tmp_path / "psnr_map_x2.png"
    grids = figures.psnr_map(
        hr_path=paths["hr"],
        model_path=paths["default"],
        bicubic_path=paths["bicubic"],
        scale=scale,
        cell=40,
        out=out,
        label="default",
    )
    assert_png(out)
    assert grids["psnr"].shape == (3, 4)  # 120x160 modcropped, 40 px tiles
    assert (grids["gain"] > 0).all()  # default (sigma 8) beats bicubic (sigma 20) everywhere


def test_training_curves(tmp_path):
    logs = {}
    for variant in ("default", "elu"):
        for seed in (1, 2):
            path = tmp_path / f"models/x2/{variant}/seed{seed}/log.csv"
            path.parent.mkdir(parents=True)
            epochs = np.arange(1, 6)
            psnr = 30 + np.log(epochs) + RNG.normal(0, 0.05, 5)
            lines = ["epoch,loss,eval_psnr_y,seconds,lr"]
            lines += [f"{e},{0.01 / e},{p},{e * 1.5},0.001" for e, p in zip(epochs, psnr, strict=True)]
            path.write_text("\n".join(lines) + "\n")
            logs[(variant, seed)] = path
    out = tmp_path / "training_x2.png"
    figures.training_curves(logs, scale=2, out=out, variants=["default", "elu"])
    assert_png(out)


def test_psnr_vs_scale(tmp_path):
    paths = []
    for scale in (2, 3, 4):
        for method, gain in [("bicubic", 0.0), ("default", 0.8), ("elu", 0.5)]:
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
            path = tmp_path / f"scores/x{scale}/{method}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_scores(path, rows)
            paths.append(path)
    out = tmp_path / "figures/psnr_vs_scale.png"
    data = figures.psnr_vs_scale(paths, ["default", "elu"], out=out, title="test")
    assert_png(out)
    assert len(data) == 9
    gain = data[(data["scale"] == 3) & (data["variant"] == "default")]["psnr_y_gain"].iloc[0]
    assert gain == pytest.approx(0.8)


# --- report settings in the config -----------------------------------------------------


def checked(config):
    validate_schema(config, SCHEMA)
    check_semantics(config)
    return config


def test_report_defaults(test_config):
    del test_config["report"]
    config = checked(test_config)
    assert config["report"] == {
        "comparisons": {"all_variants": {"title": None, "reference": None, "variants": None}},
        "crops": [],
        "psnr_map": {"frame": None, "cell": 128},
        "statistics": {"block_length": None, "resamples": 10000, "seed": 0},
        "convergence": {"last_quarter_gain_db": 0.1},
        "thesis_reported": {},
    }


def test_crop_on_a_non_test_frame_is_refused(test_config):
    test_config["report"]["crops"] = [{"name": "a", "frame": 5, "box": [0, 0, 10, 10]}]
    with pytest.raises(ConfigError, match=r"report\.crops\[0\]\.frame: frame 5 .* is not a test frame"):
        checked(test_config)


def test_psnr_map_frame_must_be_a_test_frame(test_config):
    test_config["report"]["psnr_map"] = {"frame": 101}
    with pytest.raises(ConfigError, match=r"report\.psnr_map\.frame"):
        checked(test_config)


def test_crop_box_must_fit_the_frame(test_config):
    # 1280x720 modcropped to x3 is 1278x720: a box reaching x = 1280 does not fit.
    test_config["report"]["crops"] = [{"name": "edge", "frame": 100, "box": [1200, 0, 80, 40]}]
    with pytest.raises(ConfigError, match=r"report\.crops\[0\]\.box: \[1200, 0, 80, 40\] .* 1278x720"):
        check_videos(checked(test_config))


def test_crop_box_schema(test_config):
    test_config["report"]["crops"] = [{"name": "zero", "frame": 100, "box": [0, 0, 0, 10]}]
    with pytest.raises(ConfigError, match=r"report\.crops\.0\.box|report\.crops\[0\]\.box"):
        checked(test_config)


def test_duplicate_crop_names_are_refused(test_config):
    crop = {"name": "twice", "frame": 100, "box": [0, 0, 10, 10]}
    test_config["report"]["crops"] = [crop, dict(crop)]
    with pytest.raises(ConfigError, match="used twice"):
        checked(test_config)


def test_comparison_must_name_configured_variants(test_config):
    test_config["report"]["comparisons"] = {"narrow": {"reference": "low_channels", "variants": ["elu"]}}
    with pytest.raises(ConfigError, match=r"report\.comparisons\.narrow\.reference: \['low_channels'\]"):
        checked(test_config)
