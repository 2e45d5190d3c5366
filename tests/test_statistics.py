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
    # blocks of 10: resamples join three of the 21 overlapping blocks
    low, high = statistics.bootstrap_ci(values, 10, 5000, 0)
    assert low < values.mean() < high
    # fewer than three blocks: no interval
    assert all(math.isnan(v) for v in statistics.bootstrap_ci(values[:5], 2, 100, 0))
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
