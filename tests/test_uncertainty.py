"""ECE, Brier score, NLL and pairwise disagreement on known inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from collusion import uncertainty


def test_perfectly_calibrated_predictions_have_zero_ece():
    # confidence 0.7 everywhere and 7 of 10 right; confidence 0.95 and 19 of 20 right
    probs = np.array([[0.7, 0.3]] * 10 + [[0.05, 0.95]] * 20)
    y = np.array([0] * 7 + [1] * 3 + [1] * 19 + [0])
    assert uncertainty.expected_calibration_error(probs, y) == pytest.approx(0.0, abs=1e-12)


def test_all_wrong_and_certain():
    probs = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    y = np.array([2, 0])
    assert uncertainty.expected_calibration_error(probs, y) == pytest.approx(1.0)
    assert uncertainty.brier_score(probs, y) == pytest.approx(2.0)  # the maximum: 1² + 1²
    assert uncertainty.negative_log_likelihood(probs, y) == math.inf


def test_all_right_and_certain():
    probs = np.eye(3)[[0, 2, 1]]
    y = np.array([0, 2, 1])
    assert uncertainty.expected_calibration_error(probs, y) == 0.0
    assert uncertainty.brier_score(probs, y) == 0.0
    assert uncertainty.negative_log_likelihood(probs, y) == 0.0


def test_hand_computed_small_case():
    # p = (0.7, 0.2, 0.1), y = 0: right, confidence 0.7 in bin (10/15, 11/15]
    # p = (0.3, 0.5, 0.2), y = 0: wrong, confidence 0.5 in bin (7/15, 8/15]
    # p = (0.1, 0.05, 0.85), y = 2: right, confidence 0.85 in bin (12/15, 13/15]
    probs = np.array([[0.7, 0.2, 0.1], [0.3, 0.5, 0.2], [0.1, 0.05, 0.85]])
    y = np.array([0, 0, 2])
    # one example per bin: ECE = (|1 − 0.7| + |0 − 0.5| + |1 − 0.85|)/3
    assert uncertainty.expected_calibration_error(probs, y) == pytest.approx(0.95 / 3)
    # one bin for everything: |2/3 − (0.7 + 0.5 + 0.85)/3|
    assert uncertainty.expected_calibration_error(probs, y, bins=1) == pytest.approx(0.05 / 3)
    # Brier: (0.09 + 0.04 + 0.01) + (0.49 + 0.25 + 0.04) + (0.01 + 0.0025 + 0.0225), over 3
    assert uncertainty.brier_score(probs, y) == pytest.approx((0.14 + 0.78 + 0.035) / 3)
    assert uncertainty.negative_log_likelihood(probs, y) == pytest.approx(
        -(math.log(0.7) + math.log(0.3) + math.log(0.85)) / 3
    )


def test_two_examples_in_one_bin_average_before_the_gap():
    # confidences 0.9 and 0.92 share the bin (13/15, 14/15]: one right, one wrong -> |0.5 − 0.91|
    probs = np.array([[0.9, 0.1], [0.92, 0.08]])
    y = np.array([0, 1])
    assert uncertainty.expected_calibration_error(probs, y) == pytest.approx(0.41)


def test_pairwise_disagreement_hand_computed():
    # argmax per learner over 4 examples: (0, 0, 1, 1), (0, 1, 1, 1), (1, 1, 1, 0)
    predicted = np.array([[0, 0, 1, 1], [0, 1, 1, 1], [1, 1, 1, 0]])
    outputs = np.eye(2)[predicted]  # (M=3, N=4, K=2) one-hot logits
    # pairs: (1,2) 1/4, (1,3) 3/4, (2,3) 2/4 -> mean 1/2
    assert uncertainty.pairwise_disagreement(outputs) == pytest.approx(0.5)
    assert uncertainty.pairwise_disagreement(outputs[[0, 0]]) == 0.0
    assert math.isnan(uncertainty.pairwise_disagreement(outputs[:1]))


def test_ensemble_probabilities_follow_the_aggregation():
    outputs = np.log(np.array([[[0.5, 0.5]], [[0.2, 0.8]]]))
    np.testing.assert_allclose(
        uncertainty.ensemble_probabilities(outputs, "score"), [[1 / 3, 2 / 3]]
    )
    np.testing.assert_allclose(
        uncertainty.ensemble_probabilities(outputs, "probability"), [[0.35, 0.65]]
    )
    np.testing.assert_allclose(
        uncertainty.ensemble_probabilities(outputs, "probability_double_softmax"), [[0.35, 0.65]]
    )
    # summed logits: the normalised product (0.5 · 0.2, 0.5 · 0.8) / 0.5
    np.testing.assert_allclose(uncertainty.ensemble_probabilities(outputs, "sum"), [[0.2, 0.8]])
    with pytest.raises(ValueError, match="calibration needs a classification aggregation"):
        uncertainty.ensemble_probabilities(outputs[..., :1], "regression")


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match=r"probabilities must be \(N, K\) with N = len\(y\) = 3"):
        uncertainty.brier_score(np.zeros((2, 4)), np.zeros(3, int))
    with pytest.raises(ValueError, match="at least one bin"):
        uncertainty.expected_calibration_error(np.full((2, 2), 0.5), np.zeros(2, int), bins=0)
