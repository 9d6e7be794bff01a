"""Paired inference against hand-computed cases and closed forms."""

import itertools

import numpy as np
import pytest
from scipy import stats as sp

from collusion import stats


def test_sign_flip_ten_positive_differences_is_two_in_1024():
    d = np.arange(1, 11) * 0.1
    assert stats.sign_flip_test(d) == 2 / 1024
    assert stats.sign_flip_test(-d) == 2 / 1024


def test_identical_differences_are_not_p_zero():
    # the old t-test limit gave p = 0 here, so two seeds could "support" a claim
    assert stats.sign_flip_test([0.3, 0.3]) == 0.5
    assert stats.sign_flip_test([0.3] * 10) == 2 / 1024
    assert np.isnan(stats.paired_t_test([0.3, 0.3]))
    assert stats.sign_flip_test([0.0, 0.0, 0.0]) == 1.0


def test_sign_flip_hand_computed():
    # |±1 ±2 ±3| over the 8 patterns: 6, 0, 2, 4, 4, 2, 0, 6
    assert stats.sign_flip_test([1, 2, 3]) == pytest.approx(2 / 8)  # observed 6
    assert stats.sign_flip_test([1, -2, 3]) == pytest.approx(6 / 8)  # observed 2


def brute_force_p(d):
    observed = abs(sum(d))
    sums = [
        abs(sum(s * x for s, x in zip(signs, d)))
        for signs in itertools.product((1, -1), repeat=len(d))
    ]
    return np.mean([s >= observed - 1e-12 for s in sums])


@pytest.mark.parametrize("seed", range(5))
def test_sign_flip_matches_brute_force(seed):
    d = np.random.default_rng(seed).normal(0.2, 1.0, size=7)
    assert stats.sign_flip_test(d) == pytest.approx(brute_force_p(d))


def test_monte_carlo_above_sixteen_seeds_is_close_to_the_normal_limit():
    d = np.random.default_rng(0).normal(0.0, 1.0, size=40) + 0.3
    # for many seeds the sign-flip statistic is approximately normal with variance Σ d²
    z = abs(d.sum()) / np.sqrt((d**2).sum())
    assert stats.sign_flip_test(d) == pytest.approx(2 * sp.norm.sf(z), abs=0.01)
    assert stats.min_attainable_p(40) == 1 / (stats.MONTE_CARLO_PATTERNS + 1)


def test_paired_t_matches_scipy():
    d = [0.1, 0.4, -0.2, 0.3, 0.5]
    assert stats.paired_t_test(d) == pytest.approx(sp.ttest_1samp(d, 0.0).pvalue)


def test_interval_inverts_the_test():
    d = np.random.default_rng(3).normal(1.0, 0.5, size=10)
    low, high = stats.sign_flip_interval(d)
    assert low < d.mean() < high
    # just inside the ends the test does not reject; just outside it does
    eps = 1e-6
    assert (
        stats.sign_flip_test(d - (low + eps)) > 0.05
        and stats.sign_flip_test(d - (high - eps)) > 0.05
    )
    assert (
        stats.sign_flip_test(d - (low - 1e-3)) <= 0.05
        and stats.sign_flip_test(d - (high + 1e-3)) <= 0.05
    )


def test_interval_of_nearly_equal_differences_ends():
    # differences one float apart: the bisection's tolerance (a fraction of their spread) lay below
    # the floats' spacing at the mean, and it ran forever
    d = np.array([0.06, np.nextafter(0.06, 1.0)] * 4)
    low, high = stats.sign_flip_interval(d)
    assert low == pytest.approx(0.06, abs=1e-9) and high == pytest.approx(0.06, abs=1e-9)


def test_interval_is_unbounded_when_the_test_cannot_reject():
    # with 5 seeds the smallest exact p is 2/32 > 0.05: no shift is ever rejected
    low, high = stats.sign_flip_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    assert low == -np.inf and high == np.inf
    low, high = stats.sign_flip_interval([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert np.isfinite(low) and np.isfinite(high)


@pytest.mark.slow
def test_interval_covers_the_true_mean_about_95_percent():
    rng = np.random.default_rng(0)
    hits = 0
    trials = 300
    for _ in range(trials):
        low, high = stats.sign_flip_interval(rng.normal(0.7, 1.0, size=10))
        hits += low <= 0.7 <= high
    assert 0.91 <= hits / trials <= 0.99


def test_holm_hand_computed():
    # sorted p: 0.01, 0.02, 0.03, 0.5 → ×4, ×3, ×2, ×1 = 0.04, 0.06, 0.06 (monotone), 0.5
    adjusted = stats.holm([0.03, 0.01, 0.5, 0.02])
    np.testing.assert_allclose(adjusted, [0.06, 0.04, 0.5, 0.06])
    np.testing.assert_allclose(stats.holm([0.2, np.nan, 0.01]), [0.2, np.nan, 0.02])
    np.testing.assert_allclose(stats.holm([0.6, 0.7]), [1.0, 1.0])


def test_benjamini_hochberg_hand_computed():
    # m = 4, sorted 0.01, 0.02, 0.03, 0.5 → 0.04, 0.04, 0.04, 0.5 (step-up minimum from the top)
    adjusted = stats.benjamini_hochberg([0.03, 0.01, 0.5, 0.02])
    np.testing.assert_allclose(adjusted, [0.04, 0.04, 0.5, 0.04])
    np.testing.assert_allclose(stats.benjamini_hochberg([0.01, 0.04, np.nan]), [0.02, 0.04, np.nan])


def test_paired_summary_fields():
    summary = stats.paired_summary([0.1, 0.2, 0.3])
    assert summary["n_seeds"] == 3 and summary["diff_mean"] == pytest.approx(0.2)
    assert summary["p_exact"] == pytest.approx(2 / 8)
    with pytest.raises(ValueError, match="finite"):
        stats.paired_summary([0.1, np.nan])


@pytest.mark.slow
def test_holm_over_sign_flip_tests_controls_the_family_wise_error():
    # 8 null settings × 10 seeds, 2000 families: P(any Holm-adjusted p < 0.05) must stay ≤ 0.05
    rng = np.random.default_rng(0)
    families = 2000
    rejected = 0
    for _ in range(families):
        p = [stats.sign_flip_test(rng.normal(size=10)) for _ in range(8)]
        rejected += (stats.holm(p) < 0.05).any()
    assert rejected / families <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / families)
    # and without the correction it is far above: the defect the issue describes
    rng = np.random.default_rng(0)
    uncorrected = np.mean(
        [
            (np.array([stats.sign_flip_test(rng.normal(size=10)) for _ in range(8)]) < 0.05).any()
            for _ in range(500)
        ]
    )
    assert uncorrected > 0.2
