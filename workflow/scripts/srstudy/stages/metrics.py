"""Stage 5: per-frame image quality of an upscaled test set, in two conventions.

* Thesis convention (``psnr_rgb``, ``ssim_rgb``): scikit-image on the 8-bit RGB frames,
  all three channels, no border crop, ``data_range=255``; SSIM is
  ``structural_similarity(..., channel_axis=-1)`` (7x7 uniform window), which is what the
  thesis's ``multichannel=True`` means today.
* Field convention (``psnr_y``, ``ssim_y``): the Y plane (BT.601, 16..235, not rounded,
  :func:`srstudy.base.colour.rgb_to_y`) with ``scale`` pixels cropped from every border;
  SSIM with an 11x11 Gaussian window (sigma 1.5), K1=0.01, K2=0.03, ``data_range`` 255,
  averaged over the "valid" part of the filtered maps, as the MATLAB reference of
  Wang et al. and BasicSR's ``calculate_ssim(..., crop_border, test_y_channel=True)``.

The ground truth is the full HR frame, modcropped to the scale (exactly the grid the
degradation produced); the upscaled frame must have that size.

With ``upscale.thesis_code`` the upscale job also writes each frame as the thesis's test
script built it (:func:`srstudy.stages.inference.thesis_code_frame`) into a ``thesis_code/``
subfolder; it is scored in the thesis convention as ``psnr_rgb_thesis_code`` and
``ssim_rgb_thesis_code``.
"""

import csv
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from srstudy.base.colour import mse_uint8, psnr_from_mse, rgb_to_y
from srstudy.base.files import atomic_file
from srstudy.base.frames import THESIS_CODE_DIR, frame_name, modcrop, read_rgb


@dataclass(frozen=True)
class Convention:
    """How frames are compared, as data: the channels scored and the border left out."""

    title: str  # the subtitle of the tables in this convention
    test_y_channel: bool  # the Y plane (BT.601) instead of the RGB channels
    crop_border: bool  # ``scale`` pixels cropped from every border (else none)


# The thesis's own convention first: the tables show them in this order.
CONVENTIONS = {
    "rgb": Convention("Thesis convention: RGB, all channels, no border crop (scikit-image)", False, False),
    "y": Convention("Field convention: Y (BT.601), `scale` px border crop, Gaussian SSIM", True, True),
}
# The thesis code's frames are scored in the thesis's convention (its own numbers).
THESIS_CODE_CONVENTION = "rgb"


@dataclass(frozen=True)
class Metric:
    """A per-frame score. The first metric of a convention is its primary one: the
    tables flag, rank and give confidence intervals and per-fold values by it."""

    name: str  # its column in the score files
    label: str  # its name in table headers
    convention: str  # a key of CONVENTIONS
    compute: Callable[[np.ndarray, np.ndarray, int], float]  # (HR modcropped, SR, scale) -> score
    unit: str = ""  # shown in headers, e.g. "dB"
    delta_digits: int = 3  # decimals of differences in the tables

    @property
    def header(self) -> str:
        return f"{self.label} ({self.unit})" if self.unit else self.label


METRIC_REGISTRY: dict[str, Metric] = {}


def register_metric(metric: Metric) -> Metric:
    """Add a metric: every score job computes it, every table shows it in its convention."""
    if metric.name in METRIC_REGISTRY:
        raise ValueError(f"metric '{metric.name}' is registered already")
    if metric.convention not in CONVENTIONS:
        raise ValueError(
            f"metric '{metric.name}': unknown convention '{metric.convention}'; one of {list(CONVENTIONS)}"
        )
    METRIC_REGISTRY[metric.name] = metric
    return metric


def metric_names() -> tuple[str, ...]:
    return tuple(METRIC_REGISTRY)


def metrics_in(convention: str) -> list[Metric]:
    """The metrics of a convention, its primary one first."""
    return [m for m in METRIC_REGISTRY.values() if m.convention == convention]


def thesis_code_names() -> tuple[str, ...]:
    """The columns of the thesis code's frames' scores (``upscale.thesis_code``)."""
    return tuple(f"{m.name}_thesis_code" for m in metrics_in(THESIS_CODE_CONVENTION))


def score_columns() -> tuple[str, ...]:
    """A score file carries what it scores (not its path): one row per seed and frame."""
    return ("scale", "method", "seed", "test_set", "frame", *metric_names(), "hr_path", "sr_path")


# The MATLAB reference / BasicSR constants.
SSIM_K1, SSIM_K2 = 0.01, 0.03
SSIM_WINDOW, SSIM_SIGMA = 11, 1.5
# scikit-image's default window (uniform 7x7) for the thesis convention.
SKIMAGE_WINDOW = 7
# Output rows per strip: the float64 maps of a strip stay in cache.
STRIP_ROWS = 32


class ScoreError(ValueError):
    """Frames that cannot be compared (missing, or of different sizes)."""


def crop_border(image: np.ndarray, border: int) -> np.ndarray:
    """``image`` without ``border`` pixels on each side (BasicSR's ``crop_border``)."""
    if border < 0:
        raise ValueError(f"crop_border must be >= 0, got {border}")
    if border == 0:
        return image
    if min(image.shape[:2]) <= 2 * border:
        raise ScoreError(f"an image of {image.shape[1]}x{image.shape[0]} has nothing left after a {border} px crop")
    return image[border:-border, border:-border, ...]


def psnr_rgb(hr: np.ndarray, sr: np.ndarray) -> float:
    """PSNR over all RGB channels, no crop, data range 255: equal to scikit-image's
    ``peak_signal_noise_ratio(hr, sr, data_range=255)``, computed in integers."""
    _check_pair(hr, sr)
    return psnr_from_mse(mse_uint8(hr, sr))


def ssim_rgb(hr: np.ndarray, sr: np.ndarray) -> float:
    """The thesis's SSIM: scikit-image's ``structural_similarity(hr, sr, data_range=255,
    channel_axis=-1)`` on 8-bit RGB: 7x7 uniform window, sample covariance, K1=0.01,
    K2=0.03, the map's 3-pixel rim left out, mean over the channels."""
    _check_pair(hr, sr)
    if hr.ndim != 3 or hr.dtype != np.uint8 or sr.dtype != np.uint8:
        raise ScoreError(f"ssim_rgb needs two HxWxC uint8 images, got {hr.dtype} {hr.shape} and {sr.dtype} {sr.shape}")
    return ssim_uniform_uint8(hr, sr, SKIMAGE_WINDOW)


def ssim_uniform_uint8(a: np.ndarray, b: np.ndarray, window: int = SKIMAGE_WINDOW, rows: int = STRIP_ROWS) -> float:
    """scikit-image's default SSIM (uniform ``window`` x ``window`` filter, sample
    covariance, K1=0.01, K2=0.03, data range 255, mean over the map without its rim of
    ``window // 2`` pixels, mean over channels) of two uint8 arrays (HxW or HxWxC).

    Same formula, computed differently: the window sums of x, y, x^2, y^2 and xy of
    8-bit data are integers, so they are taken exactly from integer running sums, and
    the 1/n and n/(n-1) factors cancel out of the SSIM ratio. Row strips keep the
    arrays in cache. Why not scikit-image's own: it is several times slower on 2160p
    frames (benchmarks/metrics.py measures how much); tests/test_metrics.py holds the
    two to the same values."""
    if a.shape != b.shape:
        raise ScoreError(f"sizes differ: {a.shape} vs {b.shape}")
    height, width = a.shape[:2]
    if min(height, width) < window:
        raise ScoreError(f"SSIM needs images of at least {window}x{window}, got {width}x{height}")
    n = window * window
    c1 = (SSIM_K1 * 255.0) ** 2 * n * n
    c2 = (SSIM_K2 * 255.0) ** 2 * n * (n - 1)
    valid_rows = height - window + 1
    total = 0.0
    for r0 in range(0, valid_rows, rows):
        r1 = min(r0 + rows, valid_rows)
        x = a[r0 : r1 + window - 1].astype(np.uint32)
        y = b[r0 : r1 + window - 1].astype(np.uint32)
        sx, sy = _window_sums(x, window), _window_sums(y, window)
        sxx, syy, sxy = _window_sums(x * x, window), _window_sums(y * y, window), _window_sums(x * y, window)
        # Every term below is an integer under 2^31 (sums of at most 49 * 255^2).
        pxy = sx * sy
        luminance = (2.0 * pxy + c1) / ((sx * sx + sy * sy) + c1)
        structure = (2.0 * (n * sxy - pxy) + c2) / (((n * sxx - sx * sx) + (n * syy - sy * sy)) + c2)
        total += float(np.sum(luminance * structure))
    channels = a.shape[2] if a.ndim == 3 else 1
    return total / (valid_rows * (width - window + 1) * channels)


def _window_sums(q: np.ndarray, window: int) -> np.ndarray:
    """Sums over every ``window`` x ``window`` window that fits inside ``q`` (uint32,
    first two axes), as int32. Running sums wrap modulo 2^32 on wide frames; the
    differences are exact because each window sum is far below 2^31."""
    c = np.cumsum(q, axis=0, dtype=np.uint32)
    r = np.empty((q.shape[0] - window + 1, *q.shape[1:]), np.uint32)
    r[0] = c[window - 1]
    np.subtract(c[window:], c[:-window], out=r[1:])
    c = np.cumsum(r, axis=1, dtype=np.uint32)
    out = np.empty((r.shape[0], r.shape[1] - window + 1, *r.shape[2:]), np.uint32)
    out[:, 0] = c[:, window - 1]
    np.subtract(c[:, window:], c[:, :-window], out=out[:, 1:])
    return out.view(np.int32)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """Normalised 1-D Gaussian (as ``cv2.getGaussianKernel``); the 2-D window of the
    MATLAB reference is its outer product with itself."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def ssim_gaussian(a: np.ndarray, b: np.ndarray, to_plane=None, rows: int = STRIP_ROWS) -> float:
    """SSIM of two planes, MATLAB-reference / BasicSR style: 11x11 Gaussian window
    (sigma 1.5), K1=0.01, K2=0.03, data range 255, population covariance, mean of the
    SSIM map over its "valid" part (where the window fits inside the plane).
    ``to_plane`` maps a row strip of ``a``/``b`` to the plane (e.g. ``rgb_to_y`` on RGB
    arrays); by default they are planes already. Float64 (the variances are
    differences of large numbers), separable filtering in row strips."""
    if a.shape != b.shape:
        raise ScoreError(f"sizes differ: {a.shape} vs {b.shape}")
    height, width = a.shape[:2]
    if min(height, width) < SSIM_WINDOW:
        raise ScoreError(f"SSIM needs planes of at least {SSIM_WINDOW}x{SSIM_WINDOW}, got {width}x{height}")
    g = gaussian_window()
    half = SSIM_WINDOW // 2

    def blur(x: np.ndarray) -> np.ndarray:  # "valid" filtering: the boundary never enters
        x = ndimage.correlate1d(x, g, axis=0)[half:-half]
        return ndimage.correlate1d(x, g, axis=1)[:, half:-half]

    c1 = (SSIM_K1 * 255.0) ** 2
    c2 = (SSIM_K2 * 255.0) ** 2
    valid_rows = height - 2 * half
    total = 0.0
    for r0 in range(0, valid_rows, rows):
        r1 = min(r0 + rows, valid_rows)
        x, y = a[r0 : r1 + 2 * half], b[r0 : r1 + 2 * half]
        x = np.asarray(to_plane(x) if to_plane else x, dtype=np.float64)
        y = np.asarray(to_plane(y) if to_plane else y, dtype=np.float64)
        mu1, mu2 = blur(x), blur(y)
        mu1_sq, mu2_sq, mu1_mu2 = mu1 * mu1, mu2 * mu2, mu1 * mu2
        sigma1_sq = blur(x * x) - mu1_sq
        sigma2_sq = blur(y * y) - mu2_sq
        sigma12 = blur(x * y) - mu1_mu2
        ssim_map = ((2 * mu1_mu2 + c1) * (2 * sigma12 + c2)) / ((mu1_sq + mu2_sq + c1) * (sigma1_sq + sigma2_sq + c2))
        total += float(ssim_map.sum())
    return total / (valid_rows * (width - 2 * half))


def mse_y(img: np.ndarray, img2: np.ndarray, rows: int = 256) -> float:
    """Mean squared error of the Y planes of two RGB images (float64, in row strips)."""
    _check_pair(img, img2)
    total = 0.0
    for r0 in range(0, img.shape[0], rows):
        diff = rgb_to_y(img[r0 : r0 + rows]) - rgb_to_y(img2[r0 : r0 + rows])
        total += float(np.vdot(diff, diff))
    return total / (img.shape[0] * img.shape[1])


def calculate_psnr(img: np.ndarray, img2: np.ndarray, crop_border: int, test_y_channel: bool = False) -> float:
    """BasicSR's ``calculate_psnr`` for HxWx3 RGB arrays in 0..255 (BasicSR reads BGR;
    the Y plane is the same)."""
    _check_pair(img, img2)
    img, img2 = _crop(img, crop_border), _crop(img2, crop_border)
    if test_y_channel:
        return psnr_from_mse(mse_y(img, img2))
    if img.dtype == np.uint8 and img2.dtype == np.uint8:
        return psnr_from_mse(mse_uint8(img, img2))
    return psnr_from_mse(float(np.mean((img.astype(np.float64) - img2.astype(np.float64)) ** 2)))


def calculate_ssim(img: np.ndarray, img2: np.ndarray, crop_border: int, test_y_channel: bool = False) -> float:
    """BasicSR's ``calculate_ssim``: Gaussian-window SSIM of the Y plane, or the mean
    over the three channels when ``test_y_channel`` is false."""
    _check_pair(img, img2)
    img, img2 = _crop(img, crop_border), _crop(img2, crop_border)
    if test_y_channel:
        return ssim_gaussian(img, img2, to_plane=rgb_to_y)
    return float(np.mean([ssim_gaussian(img[..., c], img2[..., c]) for c in range(img.shape[2])]))


def _border(convention: str, scale: int) -> int:
    return scale if CONVENTIONS[convention].crop_border else 0


def _y(convention: str) -> bool:
    return CONVENTIONS[convention].test_y_channel


register_metric(Metric("psnr_rgb", "PSNR", "rgb", lambda hr, sr, scale: psnr_rgb(hr, sr), unit="dB"))
register_metric(Metric("ssim_rgb", "SSIM", "rgb", lambda hr, sr, scale: ssim_rgb(hr, sr), delta_digits=4))
register_metric(
    Metric("psnr_y", "PSNR", "y", lambda hr, sr, s: calculate_psnr(hr, sr, _border("y", s), _y("y")), unit="dB")
)
register_metric(
    Metric("ssim_y", "SSIM", "y", lambda hr, sr, s: calculate_ssim(hr, sr, _border("y", s), _y("y")), delta_digits=4)
)


def score_pair(hr: np.ndarray, sr: np.ndarray, scale: int) -> dict[str, float]:
    """Every registered metric of one frame. ``hr`` is modcropped to ``scale`` here."""
    hr = modcrop(hr, scale)
    _check_pair(hr, sr)
    return {name: metric.compute(hr, sr, scale) for name, metric in METRIC_REGISTRY.items()}


def score_thesis_code(hr: np.ndarray, sr: np.ndarray, scale: int) -> dict[str, float]:
    """The thesis-convention metrics of a thesis-code frame (``hr`` modcropped here)."""
    hr = modcrop(hr, scale)
    _check_pair(hr, sr)
    metrics = metrics_in(THESIS_CODE_CONVENTION)
    return {name: m.compute(hr, sr, scale) for name, m in zip(thesis_code_names(), metrics, strict=True)}


def score_files(
    hr_path: str | os.PathLike, sr_paths: list[str | os.PathLike], scale: int, thesis_code: bool = False
) -> list[dict[str, float]]:
    """Score several upscaled versions (one per seed) of one HR frame; the HR frame is
    read once. ``thesis_code``: also score each one's thesis-code twin (``thesis_code/``
    beside it)."""
    hr = read_rgb(hr_path)
    out = []
    for sr_path in sr_paths:
        sr = read_rgb(sr_path)
        try:
            scores = score_pair(hr, sr, scale)
            if thesis_code:
                twin = Path(sr_path).parent / THESIS_CODE_DIR / Path(sr_path).name
                scores |= score_thesis_code(hr, read_rgb(twin), scale)
            out.append(scores)
        except ScoreError as error:
            raise ScoreError(f"{sr_path} vs {hr_path} (x{scale}): {error}") from None
    return out


def score_folder(
    hr_dir: str | os.PathLike,
    sr_dirs: dict[int | None, str | os.PathLike],
    *,
    out_csv: str | os.PathLike,
    **settings,
) -> list[dict]:
    """:func:`score_rows`, written to ``out_csv`` atomically (:func:`write_scores`)."""
    rows = score_rows(hr_dir, sr_dirs, **settings)
    write_scores(out_csv, rows)
    return rows


def score_rows(
    hr_dir: str | os.PathLike,
    sr_dirs: dict[int | None, str | os.PathLike],
    *,
    frames: list[int],
    scale: int,
    threads: int = 1,
    method: str,
    test_set: str,
    thesis_code: bool = False,
) -> list[dict]:
    """Score the test ``frames`` of each folder in ``sr_dirs`` (seed -> folder of
    ``NNNNNN.png``; seed ``None`` for a seedless method such as bicubic) against the HR
    frames in ``hr_dir``: one row per seed and frame, labelled with ``scale``, ``method``
    and ``test_set``. ``threads`` > 1 scores frames in that many processes.
    ``thesis_code``: each folder also holds a ``thesis_code/`` twin of every frame; its
    scores become two more columns."""
    hr_dir = Path(hr_dir)
    seeds = sorted(sr_dirs, key=lambda s: (s is not None, s))
    check_frames(hr_dir, [sr_dirs[seed] for seed in seeds], frames, thesis_code)
    jobs = [
        (str(hr_dir / frame_name(f)), [str(Path(sr_dirs[s]) / frame_name(f)) for s in seeds], scale, thesis_code)
        for f in frames
    ]
    if threads > 1 and len(jobs) > 1:
        # scipy.ndimage holds the GIL: processes, not threads.
        with ProcessPoolExecutor(min(threads, len(jobs))) as pool:
            results = list(pool.map(score_files, *zip(*jobs, strict=True)))
    else:
        results = [score_files(*job) for job in jobs]
    rows = []
    for seed_index, seed in enumerate(seeds):
        for frame, (hr_path, sr_paths, _, _), scores in zip(frames, jobs, results, strict=True):
            rows.append(
                {
                    "scale": scale,
                    "method": method,
                    "seed": seed,
                    "test_set": test_set,
                    "frame": frame,
                    **scores[seed_index],
                    "hr_path": hr_path,
                    "sr_path": sr_paths[seed_index],
                }
            )
    return rows


def check_frames(hr_dir: Path, sr_dirs: list, frames: list[int], thesis_code: bool) -> None:
    """Every frame to score, and its ground truth, exists: one error naming the missing
    ones up front, not a failure halfway through a long scoring job."""
    subfolders = ["", THESIS_CODE_DIR] if thesis_code else [""]
    missing = [
        str(Path(folder) / sub / frame_name(f))
        for folder in sr_dirs
        for sub in subfolders
        for f in frames
        if not (Path(folder) / sub / frame_name(f)).is_file()
    ]
    missing += [str(hr_dir / frame_name(f)) for f in frames if not (hr_dir / frame_name(f)).is_file()]
    if missing:
        raise ScoreError(f"{len(missing)} frame(s) to score are missing, e.g. {missing[:3]}")


def write_scores(path: str | os.PathLike, rows: list[dict], leading: tuple[str, ...] = ()) -> None:
    """Write score rows as CSV, atomically; floats at full precision, seed empty for None.
    ``leading``: columns of the rows' own before the study's (cross-validation's fold);
    the thesis-code columns come last, when the rows have them."""
    columns = [*leading, *score_columns(), *(m for m in thesis_code_names() if rows and m in rows[0])]
    with atomic_file(path, ".csv") as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "seed": "" if row["seed"] is None else row["seed"]})


def _crop(image: np.ndarray, border: int) -> np.ndarray:
    """:func:`crop_border` for the functions whose BasicSR-style argument shadows it."""
    return crop_border(image, border)


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ScoreError(f"sizes differ: {a.shape[1]}x{a.shape[0]} vs {b.shape[1]}x{b.shape[0]}")
