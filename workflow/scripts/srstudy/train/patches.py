"""Training patches: random origins per epoch from a seeded generator (so an epoch
can resume mid-way), cut from whole planes on the device."""

import numpy as np
import torch


def grid_patch_count(shape: tuple[int, ...], patch: int, stride: int) -> int:
    """Patches in the reference's grid over N frames of HxW."""
    frames, height, width = shape
    if height < patch or width < patch:
        return 0
    return frames * ((height - patch) // stride + 1) * ((width - patch) // stride + 1)


def sample_patches(generator: torch.Generator, shape: tuple[int, ...], patch: int, count: int) -> torch.Tensor:
    """``count`` random (frame, top, left) patch origins, as a count x 3 tensor."""
    frames, height, width = shape
    return torch.stack(
        [
            torch.randint(frames, (count,), generator=generator),
            torch.randint(height - patch + 1, (count,), generator=generator),
            torch.randint(width - patch + 1, (count,), generator=generator),
        ],
        dim=1,
    )


def gather(planes: torch.Tensor, origins: torch.Tensor, patch: int, factor: int = 1) -> torch.Tensor:
    """Batch x 1 x patch x patch crops of ``planes`` (N x H x W) at ``origins``; with a
    ``factor``, origins are on a grid that much coarser (an LR patch's HR target)."""
    offsets = torch.arange(patch, device=planes.device)
    top, left = (
        (origins[:, 1, None], origins[:, 2, None])
        if factor == 1
        else (
            origins[:, 1, None] * factor,
            origins[:, 2, None] * factor,
        )
    )
    rows = (top + offsets)[:, :, None]
    cols = (left + offsets)[:, None, :]
    return planes[origins[:, 0, None, None], rows, cols][:, None]


def unit(planes: np.ndarray | torch.Tensor):
    """8-bit Y as the network sees it: float32 Y/255."""
    if isinstance(planes, torch.Tensor):
        return planes.float().div_(255.0) if planes.dtype == torch.uint8 else planes.float()
    return planes.astype(np.float32) / 255.0 if planes.dtype == np.uint8 else planes.astype(np.float32)


def patch_batches(
    lr: torch.Tensor, hr: torch.Tensor, origins: torch.Tensor, patch: int, batch: int, device, chunk: int = 4096
):
    """The training loader: ``(inputs, targets)`` batches of ``patch`` x ``patch`` crops at
    ``origins``, cut from the in-memory planes (8-bit, on ``device`` when it is a GPU),
    as float Y/255, channels-last on ``device``. Crops are cut ``chunk`` patches at a
    time (one indexing op instead of one per batch: ~4x the patches/s at batch 16)."""
    usable = len(origins) - len(origins) % batch
    chunk = max(batch, chunk - chunk % batch)
    for start in range(0, usable, chunk):
        where = origins[start : min(start + chunk, usable)]
        inputs, targets = (unit(gather(planes, where, patch)).to(device) for planes in (lr, hr))
        for first in range(0, len(where), batch):
            yield tuple(
                t[first : first + batch].contiguous(memory_format=torch.channels_last) for t in (inputs, targets)
            )


def epoch_origins(seed: int, epoch: int, shape: tuple[int, ...], patch: int, count: int) -> torch.Tensor:
    """The patch origins of one epoch. Each epoch draws from its own generator seeded from
    (seed, epoch), so the sampler's whole state is (epoch, step): a run resumed mid-epoch
    draws the same patches as an uninterrupted one."""
    return sample_patches(torch.Generator().manual_seed(seed * 100_003 + epoch), shape, patch, count)
