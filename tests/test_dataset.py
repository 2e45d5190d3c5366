"""Stage 3: h5 train/eval sets of whole Y planes, and the Y formula behind them."""

import h5py
import numpy as np
import pytest
from srstudy.base.colour import Y_FORMULA, rgb_to_y
from srstudy.base.frames import frame_name, modcrop, read_rgb
from srstudy.stages.dataset import CHUNK_SIDE, pack, read_frames, y_plane
from srstudy.stages.degrade import degrade_frames

# Y = 16 + (65.738 R + 129.057 G + 25.064 B) / 256, worked out by hand:
#   white: 16 + 219.859 * 255 / 256 = 16 + 56064.045 / 256 = 235.000176 (nominal 235)
#   black: 16
#   red:   16 + 65.738 * 255 / 256 = 16 + 16763.190 / 256 = 81.481211
#          (the reference's typo, 64.738, would give 80.485)
#   green: 16 + 129.057 * 255 / 256 = 16 + 32909.535 / 256 = 144.552871
#   blue:  16 + 25.064 * 255 / 256 = 16 + 6391.320 / 256 = 40.966094
#   (10, 200, 50): 16 + (657.38 + 25811.4 + 1253.2) / 256 = 16 + 27721.98 / 256 = 124.288984
HAND_COMPUTED = [
    ((255, 255, 255), 235.000176),
    ((0, 0, 0), 16.0),
    ((255, 0, 0), 81.481211),
    ((0, 255, 0), 144.552871),
    ((0, 0, 255), 40.966094),
    ((10, 200, 50), 124.288984),
]


@pytest.mark.parametrize(("rgb", "expected"), HAND_COMPUTED)
def test_y_formula_on_hand_computed_pixels(rgb, expected):
    pixel = np.array([[rgb]], np.uint8)
    assert rgb_to_y(pixel)[0, 0] == pytest.approx(expected, abs=1e-5)
    assert y_plane(pixel)[0, 0] == round(expected)  # stored 8-bit, rounded like MATLAB's rgb2ycbcr


def test_y_plane_studio_swing():
    assert (y_plane(np.full((2, 2, 3), 255, np.uint8)) == 235).all()
    assert (y_plane(np.zeros((2, 2, 3), np.uint8)) == 16).all()
    assert y_plane(np.zeros((2, 2, 3), np.uint8)).dtype == np.uint8
    assert "65.738" in Y_FORMULA and "64.738" not in Y_FORMULA


@pytest.fixture(scope="module")
def degraded_x3(tmp_path_factory, synthetic_frames_dir):
    out = tmp_path_factory.mktemp("pack") / "degraded" / "x3"
    degrade_frames(synthetic_frames_dir, list(range(8)), 3, out)
    return out


@pytest.mark.parametrize(("name", "indices"), [("train", [0, 2, 4]), ("eval", [7, 5])])
def test_pack_writes_the_h5_set(tmp_path, synthetic_frames_dir, degraded_x3, name, indices):
    out = tmp_path / "h5" / "x3" / f"{name}.h5"
    attrs = {"video": "clip.mp4", "video_sha256": "ab" * 32, "frame_set": name}
    pack(synthetic_frames_dir, degraded_x3, indices, 3, out, attrs=attrs)
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temporary file left

    with h5py.File(out, "r") as h5:
        assert set(h5) == {"hr", "lr", "frames"}
        assert h5["frames"][...].tolist() == indices
        for key in ("hr", "lr"):
            assert h5[key].shape == (len(indices), 180, 318)  # 320 wide, modcropped to 318 for x3
            assert h5[key].dtype == np.uint8
            assert h5[key].chunks == (1, 180, CHUNK_SIDE)
            assert h5[key].compression == "gzip"
        assert h5.attrs["scale"] == 3
        assert h5.attrs["frames"].tolist() == list(indices)
        assert h5.attrs["y_formula"] == Y_FORMULA
        assert h5.attrs["video_sha256"] == "ab" * 32
        assert h5.attrs["video"] == "clip.mp4"
        assert h5.attrs["frame_set"] == name
        for row, index in enumerate(indices):
            hr_rgb = modcrop(read_rgb(synthetic_frames_dir / frame_name(index)), 3)
            bicubic_rgb = read_rgb(degraded_x3 / "bicubic" / frame_name(index))
            np.testing.assert_array_equal(h5["hr"][row], y_plane(hr_rgb))
            np.testing.assert_array_equal(h5["lr"][row], y_plane(bicubic_rgb))
            # And the formula written out once more, independently of rgb_to_y.
            r, g, b = (hr_rgb[..., c].astype(np.float64) for c in range(3))
            expected = np.floor(16 + (65.738 * r + 129.057 * g + 25.064 * b) / 256 + 0.5)
            np.testing.assert_array_equal(h5["hr"][row], expected)
        assert not np.array_equal(h5["hr"][0], h5["lr"][0])

    hr, lr, read_attrs = read_frames(out)
    assert hr.shape == lr.shape == (len(indices), 180, 318)
    assert read_attrs["scale"] == 3 and read_attrs["video_sha256"] == "ab" * 32
    assert hr.dtype == np.uint8 and 16 <= hr.min() and hr.max() <= 235


def test_pack_failure_leaves_no_file(tmp_path, synthetic_frames_dir, degraded_x3):
    out = tmp_path / "train.h5"
    with pytest.raises(FileNotFoundError):
        pack(synthetic_frames_dir, degraded_x3, [0, 9], 3, out)  # frame 9 was not degraded
    assert list(tmp_path.iterdir()) == []
