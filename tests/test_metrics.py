"""Per-frame metrics against hand-computed values, scikit-image and an independent,
straightforward implementation of the MATLAB SSIM formula. Real PNG files, no mocks."""

import csv
import math

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from srstudy.base.frames import frame_name, modcrop, read_rgb, write_png
from srstudy.stages import metrics

RNG = np.random.default_rng(4)


def random_rgb(height, width, rng=RNG):
    return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def noisy(image, sigma, rng=RNG):
    return np.clip(image.astype(np.float64) + rng.normal(0, sigma, image.shape), 0, 255).round().astype(np.uint8)


def smooth_rgb(height, width, rng=RNG):
    """A natural-ish image: smooth gradients plus texture (SSIM well away from 0 and 1)."""
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height) + 60], axis=-1)
    return noisy(base + 20 * np.sin(x / 3.0)[..., None], 6, rng)


def matlab_ssim(img1, img2):
    """Wang et al.'s ssim_index.m, written out plainly: 11x11 Gaussian window (sigma 1.5)
    as an explicit 2-D array, 'valid' filtering by an explicit double loop, K=[0.01
    0.03], L=255, mean of the SSIM map."""
    img1, img2 = np.asarray(img1, np.float64), np.asarray(img2, np.float64)
    ax = np.arange(-5, 6)
    window = np.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2 * 1.5**2))
    window /= window.sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    h, w = img1.shape
    out = np.empty((h - 10, w - 10))
    for i in range(h - 10):
        for j in range(w - 10):
            a, b = img1[i : i + 11, j : j + 11], img2[i : i + 11, j : j + 11]
            mu1, mu2 = (window * a).sum(), (window * b).sum()
            s1 = (window * a * a).sum() - mu1 * mu1
            s2 = (window * b * b).sum() - mu2 * mu2
            s12 = (window * a * b).sum() - mu1 * mu2
            out[i, j] = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1**2 + mu2**2 + c1) * (s1 + s2 + c2))
    return out.mean()


def reference_y(rgb):
    """Y of BT.601 studio swing, written from the formula: 16 + (65.738 R + 129.057 G + 25.064 B) / 256."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    return 16 + (65.738 * r + 129.057 * g + 25.064 * b) / 256


# --- PSNR ------------------------------------------------------------------------------


def test_psnr_of_a_known_mse():
    hr = np.full((8, 8, 3), 100, np.uint8)
    sr = hr.copy()
    sr[0, 0, 0] = 110  # one squared error of 100 over 192 values
    mse = 100 / 192
    assert metrics.psnr_rgb(hr, sr) == pytest.approx(10 * math.log10(255**2 / mse), abs=1e-12)
    # every value off by 5: MSE 25, PSNR = 20 log10(255 / 5)
    assert metrics.psnr_rgb(hr, hr + 5) == pytest.approx(20 * math.log10(51), abs=1e-12)


def test_psnr_of_a_large_maximal_error_does_not_overflow():
    # 2160p-sized error sums exceed int32: 3840 * 2160 * 3 * 255^2 > 2^31
    hr = np.zeros((2160, 3840, 3), np.uint8)
    assert metrics.psnr_rgb(hr, hr + 255) == pytest.approx(0.0, abs=1e-12)
    assert metrics.mse_uint8(hr, hr + 255) == 255**2


def test_psnr_identical_is_infinite():
    image = random_rgb(16, 16)
    assert metrics.psnr_rgb(image, image) == math.inf
    assert metrics.calculate_psnr(image, image, 2, test_y_channel=True) == math.inf


def test_psnr_rgb_equals_scikit_image():
    hr = random_rgb(37, 53)
    sr = noisy(hr, 12)
    assert metrics.psnr_rgb(hr, sr) == pytest.approx(peak_signal_noise_ratio(hr, sr, data_range=255), abs=1e-10)


def test_psnr_y_uses_the_bt601_formula_and_crop():
    hr, sr = random_rgb(30, 40), random_rgb(30, 40)
    border = 3
    diff = reference_y(hr)[border:-border, border:-border] - reference_y(sr)[border:-border, border:-border]
    expected = 10 * math.log10(255**2 / np.mean(diff**2))
    assert metrics.calculate_psnr(hr, sr, border, test_y_channel=True) == pytest.approx(expected, abs=1e-10)


def test_y_conversion_matches_the_reference_formula():
    rgb = random_rgb(20, 20)
    from srstudy.base.colour import rgb_to_y

    np.testing.assert_allclose(rgb_to_y(rgb), reference_y(rgb), atol=1e-12)
    assert rgb_to_y(np.zeros((1, 1, 3)))[0, 0] == pytest.approx(16)
    assert rgb_to_y(np.full((1, 1, 3), 255))[0, 0] == pytest.approx(16 + 255 * 219.859 / 256)


def test_border_crop_is_honoured():
    hr = random_rgb(40, 40)
    sr = hr.copy()
    sr[:4, :, :] = 0  # damage only the top 4 rows
    assert metrics.calculate_psnr(hr, sr, 4, test_y_channel=True) == math.inf
    assert metrics.calculate_ssim(hr, sr, 4, test_y_channel=True) == pytest.approx(1.0)
    assert metrics.calculate_psnr(hr, sr, 3, test_y_channel=True) < 40
    assert metrics.calculate_ssim(hr, sr, 3, test_y_channel=True) < 1.0
    # the thesis convention has no crop
    assert metrics.psnr_rgb(hr, sr) < 40


# --- SSIM ------------------------------------------------------------------------------


def test_ssim_of_identical_images_is_one():
    image = smooth_rgb(32, 48)
    assert metrics.ssim_rgb(image, image) == pytest.approx(1.0, abs=1e-12)
    assert metrics.calculate_ssim(image, image, 2, test_y_channel=True) == pytest.approx(1.0, abs=1e-12)


def test_ssim_rgb_equals_scikit_image():
    for shape, sigma in [((32, 45), 10), ((71, 29), 40), ((7, 7), 5)]:
        hr = smooth_rgb(*shape)
        sr = noisy(hr, sigma)
        ours = metrics.ssim_rgb(hr, sr)
        theirs = structural_similarity(hr, sr, data_range=255, channel_axis=-1)
        assert ours == pytest.approx(theirs, abs=1e-12), shape
        assert 0.0 < ours < 1.0


def test_ssim_rgb_equals_scikit_image_on_a_real_frame_in_strips(bbb_frames_dir):
    hr = read_rgb(bbb_frames_dir / frame_name(57))
    small = np.asarray(Image.fromarray(hr).resize((320, 180), Image.Resampling.BICUBIC))
    sr = np.asarray(Image.fromarray(small).resize((1280, 720), Image.Resampling.BICUBIC))
    theirs = structural_similarity(hr, sr, data_range=255, channel_axis=-1)
    for rows in (1, 7, 32, 1000):  # strip size must not matter
        assert metrics.ssim_uniform_uint8(hr, sr, rows=rows) == pytest.approx(theirs, abs=1e-12)


def test_ssim_y_matches_a_plain_matlab_implementation():
    hr = smooth_rgb(30, 34)
    sr = noisy(hr, 15)
    border = 2
    y_hr = reference_y(hr)[border:-border, border:-border]
    y_sr = reference_y(sr)[border:-border, border:-border]
    expected = matlab_ssim(y_hr, y_sr)
    assert 0.2 < expected < 0.99
    assert metrics.calculate_ssim(hr, sr, border, test_y_channel=True) == pytest.approx(expected, abs=1e-12)
    for rows in (1, 3, 100):
        assert metrics.ssim_gaussian(y_hr, y_sr, rows=rows) == pytest.approx(expected, abs=1e-12)


def test_gaussian_window_is_the_matlab_one():
    g = metrics.gaussian_window()
    assert g.shape == (11,) and g.sum() == pytest.approx(1.0)
    assert g[0] / g[5] == pytest.approx(math.exp(-25 / (2 * 1.5**2)))


def test_size_mismatch_is_an_error():
    with pytest.raises(metrics.ScoreError, match="sizes differ"):
        metrics.score_pair(random_rgb(20, 20), random_rgb(20, 18), 2)


def test_score_pair_modcrops_the_ground_truth():
    hr = smooth_rgb(41, 50)
    sr = noisy(modcrop(hr, 3), 8)
    scores = metrics.score_pair(hr, sr, 3)
    assert scores["psnr_rgb"] == pytest.approx(peak_signal_noise_ratio(modcrop(hr, 3), sr, data_range=255))
    assert set(scores) == set(metrics.metric_names())


# --- a folder --------------------------------------------------------------------------


@pytest.fixture
def folders(tmp_path):
    """HR frames (odd size, so modcrop matters) and two 'seeds' of upscaled frames."""
    frames = [3, 8, 11]
    hr_dir, seeds = tmp_path / "frames", {1: tmp_path / "seed1", 7: tmp_path / "seed7"}
    for f in frames:
        hr = smooth_rgb(37, 45)
        write_png(hr_dir / frame_name(f), hr)
        for seed, folder in seeds.items():
            write_png(folder / frame_name(f), noisy(modcrop(hr, 2), 3 + seed))
    return hr_dir, seeds, frames


@pytest.mark.parametrize("threads", [1, 2])
def test_score_folder_writes_one_row_per_frame_and_seed(folders, tmp_path, threads):
    hr_dir, seeds, frames = folders
    out = tmp_path / "scores/x2/variant.csv"
    metrics.score_folder(
        hr_dir, seeds, frames=frames, scale=2, out_csv=out, threads=threads, method="srcnn", test_set="study"
    )
    with open(out) as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(metrics.score_columns())
    assert [(int(r["frame"]), int(r["seed"])) for r in rows] == [(f, s) for s in (1, 7) for f in frames]
    assert {(r["scale"], r["method"], r["test_set"]) for r in rows} == {("2", "srcnn", "study")}
    for row in rows:
        hr = modcrop(read_rgb(row["hr_path"]), 2)
        sr = read_rgb(row["sr_path"])
        assert float(row["psnr_rgb"]) == pytest.approx(peak_signal_noise_ratio(hr, sr, data_range=255), abs=1e-9)
        assert float(row["ssim_rgb"]) == pytest.approx(
            structural_similarity(hr, sr, data_range=255, channel_axis=-1), abs=1e-12
        )
        assert float(row["psnr_y"]) == pytest.approx(metrics.calculate_psnr(hr, sr, 2, True), abs=1e-12)
    # the more noise (larger seed here), the lower the score
    by_seed = {s: np.mean([float(r["psnr_rgb"]) for r in rows if int(r["seed"]) == s]) for s in (1, 7)}
    assert by_seed[1] > by_seed[7]


def test_score_folder_bicubic_has_no_seed(folders, tmp_path):
    hr_dir, seeds, frames = folders
    out = tmp_path / "bicubic.csv"
    metrics.score_folder(
        hr_dir, {None: seeds[1]}, frames=frames, scale=2, out_csv=out, method="bicubic", test_set="study"
    )
    with open(out) as handle:
        rows = list(csv.DictReader(handle))
    assert [r["seed"] for r in rows] == ["", "", ""]


def test_score_folder_reports_missing_frames(folders, tmp_path):
    hr_dir, seeds, frames = folders
    with pytest.raises(metrics.ScoreError, match="missing"):
        metrics.score_folder(
            hr_dir, seeds, frames=[*frames, 99], scale=2, out_csv=tmp_path / "out.csv", method="srcnn", test_set="x"
        )
    assert not (tmp_path / "out.csv").exists()
