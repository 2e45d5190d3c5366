"""The thesis-convention metrics (8-bit RGB, no crop, data range 255): the workflow's
functions against scikit-image's on the same frame pair, time and value. Decides which
implementation the workflow uses: scikit-image wherever it is within 2x of the fast
version; the fast exact one only where it wins clearly (and it is tested against
scikit-image in tests/test_metrics.py).

    .venv/bin/python benchmarks/metrics.py              # a 3840x2160 pair, median of 3
    .venv/bin/python benchmarks/metrics.py --size 1280x720 --repeat 5
"""

import argparse

import numpy as np
from common import median_seconds
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from srstudy.stages import metrics

LIMIT = 2.0  # scikit-image is used where it takes at most this many times as long


def frame_pair(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """A textured 8-bit frame and its bicubic x3 round trip (what a baseline scores)."""
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
    hr = np.asarray(Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC))
    hr = np.clip(hr + rng.normal(0, 6, hr.shape), 0, 255).astype(np.uint8)
    lr = Image.fromarray(hr).resize((width // 3, height // 3), Image.Resampling.BICUBIC)
    return hr, np.asarray(lr.resize((width, height), Image.Resampling.BICUBIC))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="3840x2160")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    hr, sr = frame_pair(width, height)
    cases = {
        "psnr_rgb": (
            lambda: metrics.mse_uint8(hr, sr),  # the integer MSE the fast PSNR is built on
            lambda: peak_signal_noise_ratio(hr, sr, data_range=255),
        ),
        "ssim_rgb": (
            lambda: metrics.ssim_uniform_uint8(hr, sr),
            lambda: structural_similarity(hr, sr, data_range=255, channel_axis=-1),
        ),
    }
    print(f"{width}x{height} RGB, median of {args.repeat}")
    print("| metric | fast exact (s) | scikit-image (s) | scikit-image / fast | used |")
    print("|---|---|---|---|---|")
    for name, (fast, theirs) in cases.items():
        # No warm-up run: neither side compiles or caches anything, and a 2160p SSIM takes seconds.
        fast_s = median_seconds(fast, args.repeat, warmup=False)
        theirs_s = median_seconds(theirs, args.repeat, warmup=False)
        ratio = theirs_s / fast_s
        used = "scikit-image" if ratio <= LIMIT else "fast exact"
        print(f"| {name} | {fast_s:.3f} | {theirs_s:.3f} | {ratio:.2f} | {used} |")


if __name__ == "__main__":
    main()
