"""The comparison tables' statistics against scipy and hand computations."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats
from srstudy.report import statistics

DIFFERENCES = np.array([0.3, -0.1, 0.5, 0.2, 0.4, -0.05, 0.25])


@pytest.mark.parametrize(("n", "expected"), [(1, 1), (6, 2), (8, 2), (30, 3), (64, 4)])
def test_block_length_rule(n, expected):
    assert statistics.block_length(n) == expected


def test_configured_block_length_is_kept_within_the_series():
    assert statistics.block_length(30, 5) == 5
    assert statistics.block_length(4, 10) == 4


def test_sign_flip_with_blocks_of_one_is_scipys_paired_permutation_test():
    expected = stats.permutation_test(
        (DIFFERENCES,), np.mean, permutation_type="samples", n_resamples=np.inf, alternative="two-sided"
    )
    assert statistics.sign_flip_test(DIFFERENCES, 1, 1000, 0) == pytest.approx(expected.pvalue)


def test_sign_flip_with_blocks_flips_whole_blocks():
    # blocks of 2: (0.3, -0.1) (0.5, 0.2) (0.4, -0.05) (0.25)
    sums = statistics.block_sums(DIFFERENCES, 2)
    np.testing.assert_allclose(sums, [0.2, 0.7, 0.35, 0.25])
    by_hand = np.mean(
        [abs(np.dot(signs, sums)) >= abs(sums.sum()) - 1e-12 for signs in itertools.product([-1, 1], repeat=4)]
    )
    assert by_hand == 2 / 16  # only the observed pattern and its mirror image
    assert statistics.sign_flip_test(DIFFERENCES, 2, 1000, 0) == pytest.approx(by_hand)


@pytest.mark.parametrize(("n", "block", "floor"), [(6, 1, 2 / 64), (6, 2, 0.25), (3, 1, 0.25), (30, 3, 2 / 1024)])
def test_the_smallest_p_value_is_reached_when_every_block_agrees(n, block, floor):
    assert statistics.sign_flip_p_min(n, block, 10_000) == pytest.approx(floor)
    assert statistics.sign_flip_test(np.linspace(0.1, 0.2, n), block, 10_000, 0) == pytest.approx(floor)


def test_sign_flip_of_zero_differences_is_one():
    assert statistics.sign_flip_test(np.zeros(5), 1, 1000, 0) == 1.0


def test_sign_flip_beyond_the_exact_limit_is_monte_carlo_and_seeded():
    rng = np.random.default_rng(3)
    values = rng.normal(0.05, 1.0, 40)  # 40 blocks of 1: 2**40 patterns
    exact_normal = stats.ttest_1samp(values, 0).pvalue  # close to the permutation p for 40 values
    p = statistics.sign_flip_test(values, 1, 20_000, 7)
    assert p == statistics.sign_flip_test(values, 1, 20_000, 7)
    assert abs(p - exact_normal) < 0.05
    assert statistics.sign_flip_p_min(40, 1, 20_000) == pytest.approx(1 / 20_001)


def test_moving_block_bootstrap_draws_every_block_combination_equally():
    # 4 values, blocks of 2: starts 0, 1, 2 twice -> 9 equally likely resamples.
    values = np.array([1.0, 2.0, 4.0, 8.0])
    blocks = [values[s : s + 2] for s in range(3)]
    exact = sorted(np.concatenate([a, b]).mean() for a, b in itertools.product(blocks, repeat=2))
    means = statistics.moving_block_means(values, 2, 90_000, 0)
    found, counts = np.unique(np.round(means, 9), return_counts=True)
    np.testing.assert_allclose(found, np.unique(np.round(exact, 9)))
    share = {m: exact.count(m) / 9 for m in exact}
    for mean, count in zip(found, counts, strict=True):
        key = min(share, key=lambda m: abs(m - mean))
        assert count / 90_000 == pytest.approx(share[key], abs=0.01)


def test_bootstrap_ci_is_seeded_and_brackets_the_mean():
    rng = np.random.default_rng(1)
    values = rng.normal(0.2, 0.3, 30)
    low, high = statistics.bootstrap_ci(values, 3, 5000, 0)
    assert (low, high) == statistics.bootstrap_ci(values, 3, 5000, 0)
    assert low < values.mean() < high
    # blocks of 5: resamples join six of the 26 overlapping blocks
    low, high = statistics.bootstrap_ci(values, 5, 5000, 0)
    assert low < values.mean() < high
    # fewer than six blocks (6 frames in 3 blocks of 2, 30 in 3 of 10): no interval
    assert all(math.isnan(v) for v in statistics.bootstrap_ci(values[:6], 2, 100, 0))
    assert all(math.isnan(v) for v in statistics.bootstrap_ci(values, 10, 100, 0))
    assert all(math.isnan(v) for v in statistics.bootstrap_ci([1.0, 2.0], 1, 100, 0))


def test_welch_is_scipys():
    x, y = np.array([30.1, 30.3, 30.2]), np.array([29.9, 30.0, 30.05])
    expected = stats.ttest_ind(x, y, equal_var=False)
    interval = expected.confidence_interval(0.95)
    result = statistics.welch(x, y)
    assert result["delta"] == pytest.approx(x.mean() - y.mean())
    assert result["p"] == pytest.approx(expected.pvalue)
    assert (result["low"], result["high"]) == pytest.approx((interval.low, interval.high))
    assert math.isnan(statistics.welch(x, y[:1])["p"])


def test_holm_by_hand():
    # sorted: 0.01 x 3 = 0.03; 0.03 x 2 = 0.06; 0.04 x 1 = 0.04 -> kept monotone at 0.06
    adjusted = statistics.holm([0.01, 0.04, 0.03, math.nan])
    np.testing.assert_allclose(adjusted[:3], [0.03, 0.06, 0.06])
    assert math.isnan(adjusted[3])
    assert statistics.holm([0.5, 0.9]).tolist() == [1.0, 1.0]


def test_too_few_blocks_says_why():
    assert statistics.too_few_blocks(30, 3) == ""
    assert statistics.too_few_blocks(6, 2) == "6 frames make 3 blocks of 2; an interval needs at least 6"


def _synthetic(rng, draws, seeds, frames, *, delta, seed_sd, frame_sd, noise_sd, rho):
    """Scores of two methods on the same test frames: per method a seed effect, a frame
    effect of its own (AR(1) in time, so neighbouring frames are alike), a frame difficulty
    both share (cancels in the difference) and per-seed, per-frame noise."""

    def in_time(shape):
        shocks = rng.normal(size=shape)
        series = np.empty(shape)
        series[..., 0] = shocks[..., 0]
        for t in range(1, shape[-1]):
            series[..., t] = rho * series[..., t - 1] + math.sqrt(1 - rho**2) * shocks[..., t]
        return series

    difficulty = rng.normal(0, 1.0, (draws, 1, frames))

    def method(mean):
        own = seed_sd * rng.normal(size=(draws, seeds, 1)) + frame_sd * in_time((draws, 1, frames))
        return mean + difficulty + own + noise_sd * rng.normal(size=(draws, seeds, frames))

    return method(delta), method(0.0)


@pytest.mark.parametrize("seeds", [3, 5])
def test_seeds_and_blocks_interval_covers_the_true_difference(seeds):
    """1,000 synthetic studies with known seed and frame spread: the 95% interval holds
    the true difference in 93-97% of them."""
    rng = np.random.default_rng(22 + seeds)
    a, b = _synthetic(rng, 1000, seeds, 30, delta=0.1, seed_sd=0.05, frame_sd=0.03, noise_sd=0.02, rho=0.3)
    results = [statistics.seeds_and_blocks(a[i], b[i], 3) for i in range(len(a))]
    covered = np.mean([r["low"] <= 0.1 <= r["high"] for r in results])
    assert 0.93 <= covered <= 0.97
    # Leaving out the seed spread (a t interval over the frame blocks of the seed-averaged
    # differences, the unit a one-seed table uses) falls short on the same data.
    blocks = (a.mean(axis=1) - b.mean(axis=1)).reshape(len(a), 10, 3).mean(axis=2)
    half = stats.t.ppf(0.975, 9) * blocks.std(axis=1, ddof=1) / math.sqrt(10)
    assert np.mean(np.abs(blocks.mean(axis=1) - 0.1) <= half) < 0.85


def test_seeds_and_blocks_refuses_too_few_seeds_or_blocks():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(3, 30)), rng.normal(size=(3, 30))
    assert math.isnan(statistics.seeds_and_blocks(a[:1], b, 3)["low"])
    assert math.isnan(statistics.seeds_and_blocks(a[:, :6], b[:, :6], 2)["p"])
    result = statistics.seeds_and_blocks(a, b, 3)
    assert result["delta"] == pytest.approx(a.mean() - b.mean())
    assert result["low"] < result["delta"] < result["high"]
    assert 0 < result["p"] <= 1
    with pytest.raises(ValueError, match="different frames"):
        statistics.seeds_and_blocks(a, b[:, :20], 3)
