"""Stage 2: modcrop and the bicubic degradation model, per scale."""

import os
import stat

import numpy as np
import pytest
from conftest import BBB_FRAMES, SYNTHETIC_FRAMES
from PIL import Image
from srstudy.base.frames import frame_name, modcrop, read_rgb
from srstudy.stages.degrade import MIN_LR_SIDE, FrameSizeError, check_frame_size, degrade, degrade_frames

SCALES = [2, 3, 4, 6, 8]


def ramp(height: int, width: int) -> np.ndarray:
    """An RGB image whose every pixel is distinguishable by position."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x % 256, y % 256, (x * 7 + y * 13) % 256], axis=-1).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / mse)


# --- modcrop -------------------------------------------------------------------------


@pytest.mark.parametrize("scale", SCALES)
def test_modcrop_crops_only(scale):
    image = ramp(181, 322)
    cropped = modcrop(image, scale)
    height, width = cropped.shape[:2]
    assert height % scale == 0 and width % scale == 0
    assert (height, width) == (181 - 181 % scale, 322 - 322 % scale)
    assert 0 <= 181 - height < scale and 0 <= 322 - width < scale
    # The top-left pixels, unchanged: a crop, never a resize.
    np.testing.assert_array_equal(cropped, image[:height, :width])


def test_modcrop_keeps_a_fitting_frame_and_grey_planes():
    image = ramp(180, 320)
    np.testing.assert_array_equal(modcrop(image, 4), image)
    grey = image[..., 0]
    assert modcrop(grey, 3).shape == (180, 318)


# --- degrade -------------------------------------------------------------------------


@pytest.mark.parametrize("scale", SCALES)
def test_degrade_shapes_and_pillow_bicubic(scale):
    noise = np.random.default_rng(scale).integers(0, 40, (181, 322, 3))
    hr = np.clip(ramp(181, 322) + noise, 0, 255).astype(np.uint8)
    cropped, lr, bicubic = degrade(hr, scale)
    height, width = 181 - 181 % scale, 322 - 322 % scale
    np.testing.assert_array_equal(cropped, hr[:height, :width])
    assert lr.shape == (height // scale, width // scale, 3)
    assert bicubic.shape == (height, width, 3)
    assert lr.dtype == bicubic.dtype == np.uint8
    expected_lr = Image.fromarray(hr[:height, :width]).resize(
        (width // scale, height // scale), Image.Resampling.BICUBIC
    )
    np.testing.assert_array_equal(lr, np.asarray(expected_lr))
    expected_bicubic = expected_lr.resize((width, height), Image.Resampling.BICUBIC)
    np.testing.assert_array_equal(bicubic, np.asarray(expected_bicubic))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_degrade_real_frame(bbb_frames_dir, scale):
    hr = read_rgb(bbb_frames_dir / frame_name(BBB_FRAMES[-1]))
    assert hr.shape == (720, 1280, 3)
    cropped, lr, bicubic = degrade(hr, scale)
    height, width = 720 - 720 % scale, 1280 - 1280 % scale
    assert cropped.shape == bicubic.shape == (height, width, 3)
    assert lr.shape == (720 // scale, 1280 // scale, 3)
    expected_lr = Image.fromarray(cropped).resize((width // scale, height // scale), Image.Resampling.BICUBIC)
    np.testing.assert_array_equal(lr, np.asarray(expected_lr))
    # A real degradation: close to the ground truth, not equal, worse at larger scales.
    quality = psnr(cropped, bicubic)
    assert 20 < quality < 60
    assert not np.array_equal(cropped, bicubic)


def test_degrade_loses_more_at_larger_scales(bbb_frames_dir):
    hr = read_rgb(bbb_frames_dir / frame_name(BBB_FRAMES[-1]))
    scores = []
    for scale in (2, 4):
        cropped, _, bicubic = degrade(hr, scale)
        scores.append(psnr(cropped, bicubic))
    assert scores[0] > scores[1]


@pytest.mark.parametrize(("width", "height", "scale"), [(40, 20, 4), (15, 100, 2), (320, 180, 23), (64, 64, 9)])
def test_too_small_frame_is_refused(width, height, scale):
    with pytest.raises(FrameSizeError) as error:
        degrade(ramp(height, width), scale)
    message = str(error.value)
    assert f"{width}x{height}" in message
    assert f"too small for scale {scale}" in message
    assert f"Remove scale {scale} from 'scales'" in message
    assert "larger video" in message


def test_smallest_accepted_frame():
    scale = 4
    side = MIN_LR_SIDE * scale
    check_frame_size(side, side, scale)
    _, lr, _ = degrade(ramp(side, side + 3), scale)
    assert lr.shape == (MIN_LR_SIDE, (side + 3) // scale, 3)
    with pytest.raises(FrameSizeError):
        check_frame_size(side - 1, side, scale)


# --- degrade_frames ----------------------------------------------------------------


def test_degrade_frames_writes_exactly_the_given_frames(tmp_path, synthetic_frames_dir):
    wanted = [0, 5, 11]
    out = tmp_path / "degraded" / "x3"
    degrade_frames(synthetic_frames_dir, wanted, 3, out, threads=2)
    names = sorted(frame_name(i) for i in wanted)
    assert sorted(p.name for p in out.iterdir()) == ["bicubic", "lr"]
    assert sorted(p.name for p in (out / "lr").iterdir()) == names
    assert sorted(p.name for p in (out / "bicubic").iterdir()) == names
    for index in wanted:
        _, lr, bicubic = degrade(read_rgb(synthetic_frames_dir / frame_name(index)), 3)
        np.testing.assert_array_equal(read_rgb(out / "lr" / frame_name(index)), lr)
        np.testing.assert_array_equal(read_rgb(out / "bicubic" / frame_name(index)), bicubic)
        assert bicubic.shape == (180, 318, 3)
    # Atomic: no temporary folder left, and the folder gets the usual mode (not mkdtemp's 0700).
    assert [p.name for p in out.parent.iterdir()] == ["x3"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask


def test_degrade_frames_replaces_a_stale_output(tmp_path, synthetic_frames_dir):
    out = tmp_path / "x2"
    (out / "lr").mkdir(parents=True)
    (out / "lr" / frame_name(999)).write_bytes(b"stale")
    degrade_frames(synthetic_frames_dir, [1, 2], 2, out)
    assert sorted(p.name for p in (out / "lr").iterdir()) == [frame_name(1), frame_name(2)]
    assert [p.name for p in tmp_path.iterdir()] == ["x2"]


def test_degrade_frames_failure_leaves_no_output(tmp_path, synthetic_frames_dir):
    out = tmp_path / "degraded" / "x2"
    with pytest.raises(FileNotFoundError):
        degrade_frames(synthetic_frames_dir, [0, SYNTHETIC_FRAMES + 3, 1], 2, out, threads=2)
    assert not out.exists()
    assert list(out.parent.iterdir()) == []
