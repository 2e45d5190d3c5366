"""Train h5 bytes per 1080p frame vs the reference's float32 patch grid (<= 0.1).

The workflow stores 8-bit Y planes, gzip (measured per pixel on real 1280x720 frames);
the reference stores every 33x33 stride-14 patch as float32, LR and HR. Bytes on disk
are deterministic, so tests/test_benchmarks.py checks this one."""

import h5py
from common import row
from data import HD, REFERENCE_PATCH, REFERENCE_STRIDE, real_planes

OPTIONS = ()
FRAMES = [0, 40, 80, 120]
TARGET = 0.1


def run(context, options) -> list[dict]:
    planes_h5 = real_planes(context.work, FRAMES)
    with h5py.File(planes_h5) as h5:
        pixels = h5["hr"].shape[0] * h5["hr"].shape[1] * h5["hr"].shape[2]
    ours = planes_h5.stat().st_size / pixels * HD[0] * HD[1]
    rows, cols = ((side - REFERENCE_PATCH) // REFERENCE_STRIDE + 1 for side in HD)
    reference = rows * cols * REFERENCE_PATCH**2 * 4 * 2  # lr + hr, float32
    raw = 2 * HD[0] * HD[1]  # two uint8 planes, before gzip
    return [
        row(
            "train h5 bytes per 1920x1080 frame",
            f"{ours / 1e6:.2f} MB",
            f"{reference / 1e6:.1f} MB",
            ours / reference,
            f"<= {TARGET}",
            ours / reference <= TARGET,
            f"measured on {len(FRAMES)} real 1280x720 frames, per pixel; 8-bit planes before gzip: "
            f"{raw / 1e6:.2f} MB = {raw / reference:.3f}",
        )
    ]
