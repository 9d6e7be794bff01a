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


# -- intervals that exist at five seeds, and the claims' pooled test (issue 22) -----------------


def test_t_interval_matches_scipy():
    d = np.array([0.3, 0.1, 0.4, 0.2, 0.5])
    low, high = stats.t_interval(d)
    expected = sp.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=sp.sem(d))
    assert (low, high) == pytest.approx(expected)
    assert all(np.isnan(stats.t_interval([0.3])))


def test_fieller_interval_is_where_the_paired_t_test_does_not_reject():
    rng = np.random.default_rng(1)
    b = rng.normal(1.0, 0.1, size=8)
    a = 4 * b + rng.normal(0, 0.3, size=8)
    low, high = stats.fieller_interval(a, b)
    assert low < a.mean() / b.mean() < high
    for r, inside in (
        (low + 1e-6, True),
        (high - 1e-6, True),
        (low - 1e-3, False),
        (high + 1e-3, False),
    ):
        assert (sp.ttest_1samp(a - r * b, 0.0).pvalue > 0.05) == inside


def test_fieller_interval_is_unbounded_when_the_denominator_may_be_zero():
    # mean(b) = 0.1 with SD 1 over 5 seeds: b's mean is not distinguishable from 0
    b = np.array([1.1, -0.9, 1.2, -1.0, 0.1])
    assert stats.fieller_interval([1.0, 2.0, 1.5, 1.2, 1.8], b) == (-np.inf, np.inf)


def test_pooled_sign_flip_hand_computed():
    # setting s: 1, 2 (root mean square √2.5); setting t: 10 (RMS 10) → scaled 0.632, 1.265, 1;
    # only the all-positive and all-negative of the 8 patterns reach |T| = 2.897
    result = stats.pooled_sign_flip([1.0, 2.0, 10.0], ["s", "s", "t"], [0, 1, 2])
    assert result["p"] == pytest.approx(2 / 8)
    assert result["z"] == pytest.approx((1 / np.sqrt(2.5) + 2 / np.sqrt(2.5) + 1) / np.sqrt(3))
    assert (result["units"], result["settings"], result["pairs"]) == (3, 2, 3)
    # pairs of one unit flip together: 4 patterns of 2 units, the extreme 2 of them
    together = stats.pooled_sign_flip([1.0, 2.0, 10.0], ["s", "s", "t"], [0, 1, 0])
    assert together["p"] == pytest.approx(2 / 4) and together["units"] == 2
    # opposite settings cancel
    assert stats.pooled_sign_flip([1.0, -3.0], ["s", "t"], [0, 1])["p"] == 1.0


def test_pooled_sign_flip_ignores_each_settings_scale():
    rng = np.random.default_rng(2)
    values = rng.normal(0.3, 1.0, size=40)
    settings = np.repeat(np.arange(8), 5)
    units = np.arange(40)
    rescaled = values * np.repeat(10.0 ** np.arange(-4, 4), 5)
    first = stats.pooled_sign_flip(values, settings, units)
    second = stats.pooled_sign_flip(rescaled, settings, units)
    assert first["p"] == pytest.approx(second["p"]) and first["z"] == pytest.approx(second["z"])


def test_pooled_sign_flip_holds_its_level():
    # exact (12 units): P(p ≤ 0.05) ≤ 0.05 under the null, for heavy-tailed differences too
    rng = np.random.default_rng(3)
    settings, units = np.repeat(np.arange(4), 3), np.arange(12)
    p = [stats.pooled_sign_flip(rng.standard_t(2, 12), settings, units)["p"] for _ in range(2000)]
    assert np.mean(np.array(p) <= 0.05) <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / 2000)


def test_detectable_effect_is_detected_about_eighty_percent_of_the_time():
    pairs, alpha = 60, 0.05
    delta = stats.detectable_effect(pairs, alpha)
    rng = np.random.default_rng(4)
    settings, units = np.repeat(np.arange(12), 5), np.arange(pairs)
    hits = [
        stats.pooled_sign_flip(rng.normal(delta, 1.0, pairs), settings, units)["p"] < alpha
        for _ in range(300)
    ]
    assert 0.7 <= np.mean(hits) <= 0.9
    assert stats.detectable_effect(3, alpha) == np.inf


def test_detectable_effect_per_setting():
    # five seeds cannot reach 0.05 with the exact test (2/32): nothing is detectable
    assert stats.detectable_effect_per_setting(5, 0.05) == np.inf
    expected = (sp.t.ppf(0.975, 9) + sp.t.ppf(0.8, 9)) / np.sqrt(10)
    assert stats.detectable_effect_per_setting(10, 0.05) == pytest.approx(expected)
