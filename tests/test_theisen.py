"""Theisen et al.'s ensemble improvement rate and disagreement-error ratio against hand
computations and identities."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collusion import theisen, uncertainty

# three learners, four examples: learner errors 1/4, 1/4, 3/4 (mean 5/12); votes 0, 1, 1, 0 against
# y = 0, 1, 1, 2 (one error); every example has shares (2/3, 1/3): 1 − Σ π² = 4/9 each
HAND = np.array([[0, 0, 1, 2], [0, 1, 1, 0], [1, 1, 2, 0]])
HAND_Y = np.array([0, 1, 1, 2])


def test_hand_computed_three_learners():
    terms = theisen.terms(HAND, HAND_Y)
    assert terms["member_error"] == pytest.approx(5 / 12)
    assert terms["majority_vote_error"] == pytest.approx(1 / 4)
    assert terms["vote_ties"] == 0.0
    assert terms["EIR"] == pytest.approx((5 / 12 - 1 / 4) / (5 / 12))  # 0.4
    assert terms["disagreement_rho2"] == pytest.approx(4 / 9)
    assert terms["DER"] == pytest.approx((4 / 9) / (5 / 12))  # 16/15
    # pairs (1,2) 2/4, (1,3) 4/4, (2,3) 2/4: mean 2/3, and (M − 1)/M · 2/3 = 4/9
    assert uncertainty.pairwise_disagreement(np.eye(3)[HAND]) == pytest.approx(2 / 3)
    # W = (1/3, 1/3, 1/3, 2/3): P(W ∈ [t, ½)) = 3/4 ≥ P(W ∈ [½, 1 − t]) ≤ 1/4 for every t
    assert terms["competent"] is True


def test_ties_are_broken_uniformly_at_random_in_expectation():
    # M = 2: example 1 is tied between 0 (= y) and 1, example 2 unanimous and right
    terms = theisen.terms(np.array([[0, 1], [1, 1]]), np.array([0, 1]))
    assert terms["majority_vote_error"] == pytest.approx(0.25)  # ½ · ½ + 0
    assert terms["vote_ties"] == 0.5
    assert terms["member_error"] == pytest.approx(0.25)
    assert terms["EIR"] == pytest.approx(0.0)
    assert terms["disagreement_rho2"] == pytest.approx(0.25)  # (½ + 0) / 2
    assert terms["DER"] == pytest.approx(1.0)
    # a three-way tie with y among the tied classes: the vote is right with probability 1/3
    error, ties = theisen.majority_vote_error(np.array([[0], [1], [2]]), np.array([2]))
    assert (error, ties) == (pytest.approx(2 / 3), 1.0)


def test_an_ensemble_whose_majority_is_mostly_wrong_is_not_competent():
    # W = (2/3, 2/3, 0): at t = 0, P(W < ½) = 1/3 < P(W ≥ ½) = 2/3
    predicted = np.array([[1, 1, 0], [1, 1, 0], [0, 0, 0]])
    assert theisen.competent(predicted, np.array([0, 0, 0])) is False
    # one learner: competent iff it is right at least as often as wrong
    assert theisen.competent(np.array([[0, 0, 1]]), np.array([0, 0, 0])) is True
    assert theisen.competent(np.array([[0, 1, 1]]), np.array([0, 0, 0])) is False


def test_no_error_gives_nan_rates_and_bad_shapes_are_named():
    terms = theisen.terms(np.zeros((3, 5), int), np.zeros(5, int))
    assert np.isnan(terms["EIR"]) and np.isnan(terms["DER"])
    with pytest.raises(ValueError, match=r"predicted classes must be \(M, N\) .* N = len\(y\) = 4"):
        theisen.terms(np.zeros((3, 5), int), np.zeros(4, int))


@st.composite
def votes(draw, classes=None):
    m, n = draw(st.integers(1, 9)), draw(st.integers(1, 30))
    k = classes or draw(st.integers(2, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return rng.integers(0, k, (m, n)), rng.integers(0, k, n), k


@settings(max_examples=60, deadline=None)
@given(votes())
def test_disagreement_is_the_pairwise_mean_scaled_and_one_learner_gains_nothing(case):
    predicted, y, k = case
    m = len(predicted)
    terms = theisen.terms(predicted, y)
    if m > 1:
        pairwise = uncertainty.pairwise_disagreement(np.eye(k)[predicted])
        assert terms["disagreement_rho2"] == pytest.approx((m - 1) / m * pairwise)
    else:
        assert terms["disagreement_rho2"] == 0.0
        assert terms["majority_vote_error"] == pytest.approx(terms["member_error"])
    assert 0.0 <= terms["majority_vote_error"] <= 1.0


@settings(max_examples=40, deadline=None)
@given(votes())
def test_two_learners_vote_exactly_as_well_as_they_do_on_average(case):
    predicted, y, _ = case
    terms = theisen.terms(np.concatenate([predicted[:1], predicted[-1:]]), y)
    assert terms["majority_vote_error"] == pytest.approx(terms["member_error"])
    assert terms["member_error"] == 0 or terms["EIR"] == pytest.approx(0.0, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(votes(classes=2))
def test_two_classes_closed_forms(case):
    """K = 2: E_ρ²D = mean 2W(1 − W); for odd M the vote errs exactly where W > ½."""
    predicted, y, _ = case
    w = (predicted != y).mean(axis=0)
    terms = theisen.terms(predicted, y)
    assert terms["disagreement_rho2"] == pytest.approx((2 * w * (1 - w)).mean())
    if len(predicted) % 2:
        assert terms["majority_vote_error"] == pytest.approx((w > 0.5).mean())
        assert terms["vote_ties"] == 0.0


@settings(max_examples=60, deadline=None)
@given(votes())
def test_competence_matches_a_brute_force_over_t_in_exact_fractions(case):
    """Every t = i / (4M) in [0, ½]: the breakpoints (multiples of 1/M, and ½) and a point between
    each two, compared in exact rational arithmetic."""
    from fractions import Fraction

    predicted, y, _ = case
    m = len(predicted)
    w = [Fraction(int(e), m) for e in (predicted != y).sum(axis=0)]
    half = Fraction(1, 2)
    expected = all(
        sum(t <= v < half for v in w) >= sum(half <= v <= 1 - t for v in w)
        for t in (Fraction(i, 4 * m) for i in range(2 * m + 1))
    )
    assert theisen.competent(predicted, y) is expected


def test_improvement_table_one_row_per_classification_run_and_selection(tmp_path):
    from collusion import analysis
    from test_calibration_table import write_run

    logits = 3.0 * np.eye(3)[HAND]  # (M=3, N=4, K=3): each learner's argmax is HAND's row
    dirs = [write_run(tmp_path, agg, 1, 0, logits, HAND_Y) for agg in ("score", "sum")]
    dirs.append(write_run(tmp_path, "regression", 1, 0, np.zeros((3, 4, 1)), np.zeros(4)))
    nan = np.full((3, 4, 3), np.nan)
    dirs.append(write_run(tmp_path, "probability", 1, 0, nan, HAND_Y))
    table = analysis.improvement_table(dirs, ["best_val", "last"])
    assert list(table.columns) == analysis.RUN_KEYS + ["selection"] + analysis.IMPROVEMENT_COLUMNS
    assert len(table) == 6 and "regression" not in set(table["aggregation"])
    expected = theisen.terms(HAND, HAND_Y)
    for aggregation in ("score", "sum"):
        row = table[table["aggregation"] == aggregation].iloc[0]
        for key, value in expected.items():
            assert row[key] == pytest.approx(value), key
        # the mean (or summed) one-hot logits pick the plurality class: the vote's error here
        assert row["ensemble_error"] == pytest.approx(0.25)
        assert row["ensemble_EIR"] == pytest.approx(0.4)
    assert table[table["aggregation"] == "probability"][["EIR", "DER"]].isna().all().all()
