"""Calibration and disagreement of an ensemble's test predictions (numpy, no labels beyond y).

    ECE            top-label expected calibration error over ``ECE_BINS`` = 15 equal-width bins of
                   the confidence c_i = max_k p̄_ik: bin b holds c ∈ (b/B, (b+1)/B];
                   ECE = Σ_b (n_b / N) |accuracy_b − mean confidence_b|            ∈ [0, 1]
    Brier          multi-class, summed over classes and averaged over examples (Brier 1950):
                   (1/N) Σ_i Σ_k (p̄_ik − [y_i = k])²                              ∈ [0, 2]
    NLL            (1/N) Σ_i −log p̄_i,y_i
    disagreement   mean over learner pairs j < l of the fraction of examples whose argmax
                   predictions differ                                              ∈ [0, 1]

``p̄`` is the ensemble's predicted distribution for the run's aggregation
(``ensemble_probabilities``).
"""

from __future__ import annotations

import itertools

import numpy as np

ECE_BINS = 15


def _check(probs: np.ndarray, y: np.ndarray) -> None:
    if probs.ndim != 2 or probs.shape[0] != len(y):
        raise ValueError(
            f"probabilities must be (N, K) with N = len(y) = {len(y)}, got {probs.shape}"
        )


def ensemble_probabilities(outputs: np.ndarray, aggregation: str) -> np.ndarray:
    """p̄ ``(N, K)`` from learner logits ``(M, N, K)``: softmax of the mean logits (score) or of
    the summed logits (sum), or the mean of the softmaxes (probability averaging; for the
    authors' double-softmax objective too, whose ensemble predicts p̄)."""
    import torch

    from . import objective

    if not objective.is_classification(aggregation):
        raise ValueError("calibration needs a classification aggregation, not 'regression'")
    aggregated = objective.aggregate(torch.as_tensor(outputs, dtype=torch.float64), aggregation)
    logits = aggregation in objective.LOGIT_ENSEMBLES
    return (aggregated.softmax(dim=-1) if logits else aggregated).numpy()


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> float:
    _check(probs, y)
    if bins < 1:
        raise ValueError(f"ECE needs at least one bin, got {bins}")
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y).astype(np.float64)
    index = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    gap = np.abs(
        np.bincount(index, weights=correct, minlength=bins)
        - np.bincount(index, weights=confidence, minlength=bins)
    )  # |Σ_b correct − Σ_b confidence| = n_b |accuracy_b − confidence_b|
    return float(gap.sum() / counts.sum())


def brier_score(probs: np.ndarray, y: np.ndarray) -> float:
    _check(probs, y)
    onehot = np.eye(probs.shape[1])[y]
    return float(((probs - onehot) ** 2).sum(axis=1).mean())


def negative_log_likelihood(probs: np.ndarray, y: np.ndarray) -> float:
    _check(probs, y)
    with np.errstate(divide="ignore"):
        return float(-np.log(probs[np.arange(len(y)), y]).mean())


def pairwise_disagreement(outputs: np.ndarray) -> float:
    """Mean over learner pairs of the fraction of examples with different argmax; NaN for M = 1."""
    if outputs.ndim != 3:
        raise ValueError(f"outputs must be (M, N, K), got shape {outputs.shape}")
    predicted = outputs.argmax(axis=-1)
    pairs = list(itertools.combinations(range(len(predicted)), 2))
    if not pairs:
        return float("nan")
    return float(np.mean([(predicted[j] != predicted[k]).mean() for j, k in pairs]))
