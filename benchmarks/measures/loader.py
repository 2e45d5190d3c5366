"""Training patches/s, the workflow's loader vs the reference's (>= 10x).

On a CPU, 33x33 patches in batches of 16: the workflow's random crops of the train
set's in-memory 8-bit planes (the h5 load included) against yjn870/SRCNN-pytorch's
loader (every stride-14 patch stored as float32 in h5, the file reopened for every item,
a DataLoader without workers)."""

import time

import h5py
import numpy as np
import torch
from common import row
from data import REFERENCE_BATCH, REFERENCE_PATCH, REFERENCE_STRIDE, real_planes
from srstudy.stages.dataset import read_frames
from srstudy.train.patches import patch_batches, sample_patches

OPTIONS = ()
REFERENCE_PATCHES = 4_000  # enough batches for a steady rate at the reference's speed
WORKFLOW_PATCHES = 200_000  # enough that the one-time h5 load takes its fair share
TARGET = 10


def write_reference_h5(planes_h5, out) -> int:
    """The reference's prepare.py layout: every 33x33 patch at stride 14, float32 Y in
    0..255, datasets 'lr' and 'hr' of N x 33 x 33. Returns the patch count."""
    hr, lr, _ = read_frames(planes_h5)
    p, s = REFERENCE_PATCH, REFERENCE_STRIDE
    rows, cols = range(0, hr.shape[1] - p + 1, s), range(0, hr.shape[2] - p + 1, s)

    def grid(planes):
        return np.stack([f[i : i + p, j : j + p] for f in planes for i in rows for j in cols]).astype(np.float32)

    with h5py.File(out, "w") as h5:
        h5.create_dataset("lr", data=grid(lr))
        h5.create_dataset("hr", data=grid(hr))
        return len(h5["lr"])


class ReferenceDataset(torch.utils.data.Dataset):
    """yjn870/SRCNN-pytorch's TrainDataset: the h5 file is opened for every item."""

    def __init__(self, h5_file):
        self.h5_file = h5_file

    def __getitem__(self, idx):
        with h5py.File(self.h5_file, "r") as f:
            return np.expand_dims(f["lr"][idx] / 255.0, 0), np.expand_dims(f["hr"][idx] / 255.0, 0)

    def __len__(self):
        with h5py.File(self.h5_file, "r") as f:
            return len(f["lr"])


def reference_rate(reference_h5) -> float:
    batches = torch.utils.data.DataLoader(
        ReferenceDataset(reference_h5), batch_size=REFERENCE_BATCH, shuffle=True, num_workers=0, drop_last=True
    )
    count, start = 0, time.perf_counter()
    for inputs, _ in batches:
        count += len(inputs)
        if count >= REFERENCE_PATCHES:
            break
    return count / (time.perf_counter() - start)


def workflow_rate(planes_h5) -> float:
    start = time.perf_counter()  # the one-time h5 load is part of the workflow's cost
    hr, lr, _ = read_frames(planes_h5)
    origins = sample_patches(torch.Generator().manual_seed(0), hr.shape, REFERENCE_PATCH, WORKFLOW_PATCHES)
    planes = [torch.from_numpy(p) for p in (lr, hr)]
    for _ in patch_batches(*planes, origins, REFERENCE_PATCH, REFERENCE_BATCH, torch.device("cpu")):
        pass
    return WORKFLOW_PATCHES / (time.perf_counter() - start)


def run(context, options) -> list[dict]:
    planes_h5 = real_planes(context.work, [0, 40])
    reference_h5 = context.work / "reference.h5"
    write_reference_h5(planes_h5, reference_h5)
    reference, ours = reference_rate(reference_h5), workflow_rate(planes_h5)
    return [
        row(
            "training loader, patches/s (33x33, batch 16, CPU)",
            f"{ours:,.0f}",
            f"{reference:,.0f}",
            ours / reference,
            f">= {TARGET}x",
            ours / reference >= TARGET,
            "reference: h5 patch grid, reopened per item, DataLoader num_workers=0; "
            "workflow: random crops of in-memory 8-bit planes, h5 load included",
        )
    ]
