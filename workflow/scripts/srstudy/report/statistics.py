"""Statistics of the comparison tables: how sure a difference between two methods is.

Test frames of one video are a time series: neighbouring frames of a shot are nearly the
same picture, so they are not independent samples. Differences over frames are therefore
resampled and tested in blocks of consecutive frames:

* :func:`bootstrap_ci`: percentile confidence interval of the mean of a series from a
  moving-block bootstrap (overlapping blocks of ``block`` consecutive values drawn with
  replacement and joined, cut to the series' length), seeded, so a table is reproducible.
* :func:`sign_flip_test`: two-sided test that the mean of paired differences is zero,
  flipping the sign of whole non-overlapping blocks (exact over every sign pattern up to
  :data:`EXACT_BLOCKS` blocks, else Monte Carlo). With ``b`` blocks no p-value below
  ``2 / 2**b`` exists: :func:`sign_flip_p_min` says so before anyone reads a floor as
  evidence.
* :func:`welch`: with several training seeds per method, the seed is the unit of
  replication: Welch's t-test and interval on the per-seed means.
* :func:`holm`: Holm's step-down adjustment of the p-values of one table.
"""

import math

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
EXACT_BLOCKS = 16  # up to 2**16 sign patterns are enumerated
MIN_BLOCKS = 3  # fewer blocks give a bootstrap of a handful of distinct means: no interval


def block_length(n: int, configured: int | None = None) -> int:
    """The block length for ``n`` time-ordered values: ``configured`` (at most ``n``),
    or the usual ``n ** (1/3)`` rule, rounded (30 frames: 3; 6 frames: 2)."""
    if n < 1:
        return 1
    length = configured if configured else round(n ** (1 / 3))
    return int(min(max(1, length), n))


def moving_block_means(values, block: int, resamples: int, seed: int) -> np.ndarray:
    """Means of ``resamples`` moving-block bootstrap resamples of ``values``."""
    values = np.asarray(values, dtype=np.float64)
    n = values.size
    rng = np.random.default_rng(seed)
    count = math.ceil(n / block)
    starts = rng.integers(0, n - block + 1, size=(resamples, count))
    index = (starts[:, :, None] + np.arange(block)).reshape(resamples, -1)[:, :n]
    return values[index].mean(axis=1)


def bootstrap_ci(values, block: int, resamples: int, seed: int) -> tuple[float, float]:
    """Percentile 95% interval of the mean of ``values`` (time order) by the moving-block
    bootstrap; NaN when the series holds fewer than :data:`MIN_BLOCKS` blocks."""
    values = np.asarray(values, dtype=np.float64)
    if values.size < MIN_BLOCKS * block:
        return math.nan, math.nan
    means = moving_block_means(values, block, resamples, seed)
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def block_sums(values, block: int) -> np.ndarray:
    """Sums of consecutive non-overlapping blocks of ``block`` values (the last may be shorter)."""
    values = np.asarray(values, dtype=np.float64)
    return np.add.reduceat(values, np.arange(0, values.size, block))


def sign_flip_p_min(n: int, block: int, resamples: int) -> float:
    """The smallest p-value :func:`sign_flip_test` can return for ``n`` values."""
    blocks = math.ceil(n / block) if n else 0
    if blocks == 0:
        return math.nan
    if blocks <= EXACT_BLOCKS:
        return min(1.0, 2.0 ** (1 - blocks))
    return max(2.0 ** (1 - blocks), 1 / (resamples + 1))


def sign_flip_test(differences, block: int, resamples: int, seed: int) -> float:
    """Two-sided p-value of "the mean paired difference is zero": the share of block sign
    patterns whose absolute sum is at least the observed one (the observed pattern
    counts). Exact up to :data:`EXACT_BLOCKS` blocks, else ``resamples`` random patterns."""
    sums = block_sums(differences, block)
    if sums.size == 0:
        return math.nan
    observed = abs(sums.sum())
    tolerance = 1e-9 * max(1.0, float(np.abs(sums).sum()))  # rounding of reordered sums
    if observed <= tolerance:
        return 1.0
    if sums.size <= EXACT_BLOCKS:
        patterns = np.arange(2**sums.size)[:, None] >> np.arange(sums.size) & 1
        totals = np.abs((1 - 2 * patterns) @ sums)
        return float(np.mean(totals >= observed - tolerance))
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=(resamples, sums.size))
    extreme = int(np.sum(np.abs(signs @ sums) >= observed - tolerance))
    return (1 + extreme) / (1 + resamples)


def welch(x, y) -> dict:
    """Difference of means of two independent samples (per-seed means) with Welch's 95%
    interval and two-sided p-value; NaN where a sample has fewer than two values."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    delta = x.mean() - y.mean() if x.size and y.size else math.nan
    if x.size < 2 or y.size < 2:
        return {"delta": delta, "low": math.nan, "high": math.nan, "p": math.nan}
    if np.ptp(x) == 0 and np.ptp(y) == 0:  # no spread at all: nothing to test
        p = 1.0 if delta == 0 else 0.0
        return {"delta": delta, "low": delta, "high": delta, "p": p}
    result = stats.ttest_ind(x, y, equal_var=False)
    interval = result.confidence_interval(CONFIDENCE)
    return {"delta": delta, "low": float(interval.low), "high": float(interval.high), "p": float(result.pvalue)}


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN stays NaN and does not count as a test)."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, math.nan)
    tested = np.flatnonzero(~np.isnan(p))
    m = tested.size
    running = 0.0
    for rank, index in enumerate(tested[np.argsort(p[tested], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[index]))
        out[index] = running
    return out
