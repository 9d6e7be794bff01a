"""The capacity axis: verdicts per cell and the flip width with its bootstrap interval."""

from __future__ import annotations

import math

import numpy as np
import pytest

from collusion import capacity


def test_verdict_needs_holm_significance_and_takes_the_sign():
    assert capacity.verdict(0.02, 0.01, 0.05) == "hurts"
    assert capacity.verdict(-0.02, 0.01, 0.05) == "helps"
    assert capacity.verdict(-0.02, 0.05, 0.05) == "neither"
    assert capacity.verdict(float("nan"), 0.01, 0.05) == "neither"


def test_flip_is_the_interpolated_rise_through_zero_in_log2_width():
    x = np.log2([4, 8, 16, 32])
    # d̄ = (−2, −1, +1, +3): between 8 and 16, a third... halfway in log2: 2^3.5
    assert capacity.flip_log2_width(x, [-2, -1, 1, 3]) == pytest.approx(3.5)
    # d̄ reaches 0 exactly at 8
    assert capacity.flip_log2_width(x, [-1, 0, 2, 2]) == pytest.approx(3.0)
    # the first rise counts: down again and up again later is ignored
    assert capacity.flip_log2_width(x, [-3, 1, -1, 1]) == pytest.approx(2 + 0.75)
    # censored: hurts (or no better) already at 4; helps at every width
    assert capacity.flip_log2_width(x, [0, 1, 2, 3]) == -math.inf
    assert capacity.flip_log2_width(x, [-3, -2, -1, -0.5]) == math.inf


def test_flip_width_of_identical_seeds_has_a_point_interval():
    per_seed = np.tile([-2.0, -1.0, 1.0, 3.0], (6, 1))
    result = capacity.flip_width([4, 8, 16, 32], per_seed)
    assert result["flip_width"] == pytest.approx(2**3.5)
    assert result["flip_low"] == result["flip_high"] == pytest.approx(2**3.5)
    assert result["censored_below"] == result["censored_above"] == 0.0
    assert result["n_seeds"] == 6


def test_censored_flips_read_below_the_narrowest_or_above_the_widest_width():
    hurts = capacity.flip_width([4, 8], np.array([[1.0, 2.0], [0.5, 1.0], [2.0, 0.1]]))
    assert hurts["flip_width"] == hurts["flip_low"] == hurts["flip_high"] == 0.0
    assert hurts["censored_below"] == 1.0
    assert capacity.describe(hurts["flip_width"], [4, 8]) == "< 4"
    helps = capacity.flip_width([4, 8], -np.ones((3, 2)))
    assert helps["flip_width"] == math.inf and helps["censored_above"] == 1.0
    assert capacity.describe(helps["flip_high"], [4, 8]) == "> 8"
    assert capacity.describe(11.3137, [4, 8]) == "11.3"


def test_bootstrap_interval_covers_the_estimate_and_widens_with_noise():
    rng = np.random.default_rng(1)
    curve = np.array([-3.0, -1.5, 0.5, 2.0, 3.0])
    widths = [4, 8, 16, 32, 64]
    quiet = capacity.flip_width(widths, curve + 0.2 * rng.normal(size=(10, 5)))
    noisy = capacity.flip_width(widths, curve + 2.0 * rng.normal(size=(10, 5)))
    for result in (quiet, noisy):
        assert result["flip_low"] <= result["flip_width"] <= result["flip_high"]
    assert 8 < quiet["flip_low"] and quiet["flip_high"] < 16
    assert noisy["flip_high"] / noisy["flip_low"] > quiet["flip_high"] / quiet["flip_low"]
    # the same seed gives the same interval
    again = capacity.flip_width(widths, curve + 0.2 * np.random.default_rng(1).normal(size=(10, 5)))
    assert again == quiet


def test_bad_input_names_the_problem():
    with pytest.raises(ValueError, match=r"must be \(seeds, widths\) with ≥ 2 widths"):
        capacity.flip_width([4, 8, 16], np.zeros((3, 2)))
    with pytest.raises(ValueError, match="strictly ascending"):
        capacity.flip_width([8, 4], np.zeros((3, 2)))
