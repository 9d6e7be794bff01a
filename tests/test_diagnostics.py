"""Debiasing and learner dropout against hand computations and closed forms."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from collusion import diagnostics

finite = st.floats(-10, 10, allow_nan=False, width=64)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 12), st.just(1)), elements=finite),
       st.integers(0, 2**32 - 1))
def test_debiasing_mse_removes_exactly_the_bias_energy(outputs, seed):
    y = np.random.default_rng(seed).normal(size=outputs.shape[1])
    debiased = diagnostics.debias(outputs)
    np.testing.assert_allclose(debiased.mean(axis=0), outputs.mean(axis=0), atol=1e-9)  # f̄ unchanged
    np.testing.assert_allclose(debiased.mean(axis=1), np.broadcast_to(outputs.mean(axis=(0, 1)), debiased.mean(axis=1).shape), atol=1e-9)
    effect = diagnostics.debias_effect(outputs, y, "regression")
    assert effect["DIV"] - effect["DIV_debiased"] == pytest.approx(effect["bias_energy"], abs=1e-7)


def test_debiasing_hand_computed():
    # two learners, two samples: f1 = (3, 5), f2 = (1, 1); means 4 and 1, overall 2.5
    outputs = np.array([[[3.0], [5.0]], [[1.0], [1.0]]])
    np.testing.assert_allclose(diagnostics.member_biases(outputs), [[1.5], [-1.5]])
    y = np.zeros(2)
    effect = diagnostics.debias_effect(outputs, y, "regression")
    # DIV = mean_i Σ_j ½ (f_ij − f̄_i)² = mean(1, 4) = 2.5; debiased learners (1.5, 3.5), (2.5, 2.5): DIV' = mean(.25, .25)
    assert effect["DIV"] == pytest.approx(2.5)
    assert effect["DIV_debiased"] == pytest.approx(0.25)
    assert effect["DIV_decrease_pct"] == pytest.approx(90.0)
    assert effect["bias_energy"] == pytest.approx(2.25)


def test_debiasing_is_not_defined_for_probability_averaging():
    outputs = np.random.default_rng(0).normal(size=(3, 5, 4))
    assert np.isnan(diagnostics.debias_effect(outputs, np.zeros(5, int), "probability")["DIV"])
    assert not np.isnan(diagnostics.debias_effect(outputs, np.zeros(5, int), "score")["DIV"])


def test_learner_dropout_keeps_the_right_number_and_one_subset_for_all_examples():
    # learner j predicts the constant j: the sub-ensemble's prediction reveals its subset
    m, n = 5, 7
    outputs = np.repeat(np.arange(m, dtype=float)[:, None, None], n, axis=1)
    y = np.zeros(n)
    errors = diagnostics.learner_dropout(outputs, y, "regression", 0.4, 200, np.random.default_rng(0))
    # keep 3 of 5: the mean of 3 distinct values in 0..4; error = (mean)², the same for every example
    possible = {round(np.mean(s) ** 2, 9) for s in __import__("itertools").combinations(range(m), 3)}
    assert {round(e, 9) for e in errors} <= possible
    assert len(errors) == 200


def test_learner_dropout_drops_none_and_the_full_ensemble_agrees():
    outputs = np.random.default_rng(1).normal(size=(4, 9, 1))
    y = np.random.default_rng(2).normal(size=9)
    full = diagnostics.ensemble_error(outputs, y, "regression")
    assert full == pytest.approx(((outputs.mean(axis=0)[:, 0] - y) ** 2).mean())
    # fraction so small that nothing is dropped
    errors = diagnostics.learner_dropout(outputs, y, "regression", 0.01, 3, np.random.default_rng(0))
    np.testing.assert_allclose(errors, full)


def test_authors_broadcast_statistic_averages_over_all_pairs():
    outputs = np.array([[[1.0], [2.0], [4.0]]])  # one learner, predictions 1, 2, 4
    y = np.array([0.0, 1.0, 3.0])
    per_sample = diagnostics.ensemble_error(outputs, y, "regression")
    broadcast = diagnostics.ensemble_error(outputs, y, "regression", authors_broadcast=True)
    assert per_sample == pytest.approx(1.0)
    pairs = [(p - t) ** 2 for p in (1, 2, 4) for t in (0, 1, 3)]
    assert broadcast == pytest.approx(np.mean(pairs))


def test_classification_error_rate():
    logits = np.array([[[2.0, 0.0], [0.0, 2.0]], [[2.0, 0.0], [2.0, 0.0]]])  # (M=2, N=2, K=2)
    y = np.array([0, 1])
    # score averaging: sample 0 → class 0 (right), sample 1 → mean (1, 1): tie → argmax 0 (wrong)
    assert diagnostics.ensemble_error(logits, y, "score") == pytest.approx(0.5)
