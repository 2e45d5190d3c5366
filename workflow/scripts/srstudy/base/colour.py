"""Colour and pixel arithmetic shared by every stage: BT.601 Y (as MATLAB's rgb2ycbcr),
the thesis code's variant of it, 8-bit conversion and PSNR from an MSE."""

import math

import numpy as np

# BT.601 "studio swing" conversion used by the reference SRCNN (R, G, B in 0..255).
# The reference's Y row has a typo (64.738); this is the standard coefficient.
Y_FORMULA = "Y = 16 + (65.738 R + 129.057 G + 25.064 B) / 256  (BT.601, RGB in 0..255)"


def rgb_to_y(rgb: np.ndarray) -> np.ndarray:
    """Y plane (float64, 16..235) of an HxWx3 RGB array in 0..255."""
    rgb = np.asarray(rgb, dtype=np.float64)
    return 16.0 + (65.738 * rgb[..., 0] + 129.057 * rgb[..., 1] + 25.064 * rgb[..., 2]) / 256.0


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 YCbCr (float64) of an RGB array in 0..255, as the reference computes it."""
    rgb = np.asarray(rgb, dtype=np.float64)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = rgb_to_y(rgb)
    cb = 128.0 + (-37.945 * r - 74.494 * g + 112.439 * b) / 256.0
    cr = 128.0 + (112.439 * r - 94.154 * g - 18.285 * b) / 256.0
    return np.stack([y, cb, cr], axis=-1)


def ycbcr_to_rgb(ycbcr: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_ycbcr` (float64, not clipped)."""
    y, cb, cr = ycbcr[..., 0], ycbcr[..., 1], ycbcr[..., 2]
    r = 298.082 * y / 256.0 + 408.583 * cr / 256.0 - 222.921
    g = 298.082 * y / 256.0 - 100.291 * cb / 256.0 - 208.120 * cr / 256.0 + 135.576
    b = 298.082 * y / 256.0 + 516.412 * cb / 256.0 - 276.836
    return np.stack([r, g, b], axis=-1)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Clamp to 0..255 and round to 8 bit."""
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


# The thesis's test script (the reference SRCNN's test.py and utils.py) builds its output
# differently: float32 throughout, Y in with the typo'd 64.738 coefficient, the correct
# inverse back, then clip and ``astype(np.uint8)``, which truncates instead of rounding.
THESIS_CODE_Y_RED = 64.738


def rgb_to_ycbcr_thesis_code(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 YCbCr (float32) as the reference's test script computes it: Y with the
    64.738 typo, Cb and Cr as in :func:`rgb_to_ycbcr`."""
    rgb = np.asarray(rgb, dtype=np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 16.0 + (THESIS_CODE_Y_RED * r + 129.057 * g + 25.064 * b) / 256.0
    cb = 128.0 + (-37.945 * r - 74.494 * g + 112.439 * b) / 256.0
    cr = 128.0 + (112.439 * r - 94.154 * g - 18.285 * b) / 256.0
    return np.stack([y, cb, cr], axis=-1).astype(np.float32)


def to_uint8_truncated(image: np.ndarray) -> np.ndarray:
    """Clamp to 0..255 and cut to 8 bit (``astype(np.uint8)`` truncates), as the
    reference's test script does."""
    return np.clip(image, 0.0, 255.0).astype(np.uint8)


def mse_uint8(a: np.ndarray, b: np.ndarray, rows: int = 256) -> float:
    """Mean squared error of two uint8 arrays, exact: integer squares summed in int64
    (row strips bound the temporaries)."""
    total = 0
    for r0 in range(0, a.shape[0], rows):
        diff = np.subtract(a[r0 : r0 + rows], b[r0 : r0 + rows], dtype=np.int32)
        total += int(np.square(diff).sum(dtype=np.int64))
    return total / a.size


def psnr_from_mse(mse: float, data_range: float = 255.0) -> float:
    """``10 log10(data_range^2 / mse)``; ``inf`` for identical images."""
    return math.inf if mse == 0 else 10.0 * math.log10(data_range * data_range / mse)
