"""The ensemble improvement rate and the disagreement-error ratio of Theisen, Kim, Yang, Hodgkinson
and Mahoney, "When are ensembles really effective?" (NeurIPS 2023; arXiv 2305.12313), on saved
predictions: a test-time signal of how much an ensemble gains over its members.

ρ is the uniform distribution over the M learners h_1 … h_M (their argmax predictions) and L the
0-1 loss, both on the test examples (x_i, y_i), i = 1 … N:

    E_ρ[L(h)]        = (1/M) Σ_j P(h_j(x) ≠ y)                  the learners' mean error
    W(x)             = (1/M) Σ_j 1[h_j(x) ≠ y]                  the ρ-weighted error at x
    E_ρ²[D(h, h')]   = (1/M²) Σ_{j,l} P(h_j(x) ≠ h_l(x))         h, h' independent draws from ρ
                     = mean_i (1 − Σ_k π_ik²),   π_ik = share of learners that predict k at x_i
                     = (M − 1)/M × the mean over pairs j < l (uncertainty.pairwise_disagreement)
    h_MV(x)          = argmax_k π_k(x)                           the majority vote
    EIR = (E_ρ[L(h)] − L(h_MV)) / E_ρ[L(h)]                      ensemble improvement rate
    DER = E_ρ²[D(h, h')] / E_ρ[L(h)]                             disagreement-error ratio

Their result: for a *competent* ensemble (for every t ∈ [0, 1/2], P(W ∈ [t, 1/2)) ≥
P(W ∈ [1/2, 1 − t])), the majority vote improves much on the members when DER is large and little
when DER is small. Ties of the vote (always possible for even M, and for M = 2 whenever the two
disagree) are not settled by the definition; here a tie is broken uniformly at random, counted by
its expectation: at x_i the vote errs with probability 1 − [y_i is among the tied classes] / (number
of tied classes). So for M = 2 the vote errs exactly as often as the learners on average (a
disagreement is a tie, right with probability ½) and EIR = 0 whatever the learners. EIR and DER
are NaN when every learner is always right (E_ρ[L(h)] = 0).

The runs' own ensembles average logits or probabilities rather than vote; ``improvement_rate``
gives the same rate for any ensemble error (analysis.improvement_table reports both).
"""

from __future__ import annotations

import numpy as np


def _check(predicted: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    predicted, y = np.asarray(predicted), np.asarray(y)
    if predicted.ndim != 2 or predicted.shape[1] != len(y) or predicted.shape[0] < 1:
        raise ValueError(
            f"predicted classes must be (M, N) with M ≥ 1 and N = len(y) = {len(y)}, got "
            f"shape {predicted.shape}"
        )
    return predicted.astype(np.int64), y.astype(np.int64)


def vote_shares(predicted: np.ndarray, classes: int) -> np.ndarray:
    """π ``(N, K)``: the share of the M learners that predict each class at each example."""
    counts = np.zeros((predicted.shape[1], classes))
    np.add.at(counts, (np.arange(predicted.shape[1])[None, :], predicted), 1.0)
    return counts / predicted.shape[0]


def majority_vote_error(predicted: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The majority vote's expected error (ties broken uniformly at random) and the share of
    examples whose vote is tied."""
    predicted, y = _check(predicted, y)
    shares = vote_shares(predicted, int(max(predicted.max(), y.max())) + 1)
    top = shares == shares.max(axis=1, keepdims=True)
    tied = top.sum(axis=1)
    right = top[np.arange(len(y)), y] / tied
    return float(1.0 - right.mean()), float((tied > 1).mean())


def disagreement(predicted: np.ndarray) -> float:
    """E_ρ²[D(h, h')]: the probability that two learners drawn independently from ρ (the same one
    possibly twice) disagree on a test example."""
    predicted = np.asarray(predicted, dtype=np.int64)
    shares = vote_shares(predicted, int(predicted.max()) + 1)
    return float((1.0 - (shares**2).sum(axis=1)).mean())


def improvement_rate(member_error: float, ensemble_error: float) -> float:
    """(E_ρ[L(h)] − L(ensemble)) / E_ρ[L(h)]; NaN where the learners make no error."""
    return (member_error - ensemble_error) / member_error if member_error > 0 else float("nan")


def competent(predicted: np.ndarray, y: np.ndarray) -> bool:
    """Theisen et al.'s competence on these examples: P(W ∈ [t, 1/2)) ≥ P(W ∈ [1/2, 1 − t]) for
    every t ∈ [0, 1/2]. Both sides are step functions of t that fall only just after a value of W
    (left side) or of 1 − W (right side), so checking t at those values, 0 and 1/2 decides it.
    In counts of wrong learners e = M·W and s = M·t, every value compared is a multiple of ½:
    exact in floating point (1 − 2/3 and 1/3 are not)."""
    predicted, y = _check(predicted, y)
    m = predicted.shape[0]
    e = (predicted != y[None, :]).sum(axis=0).astype(np.float64)
    half = m / 2
    for s in np.unique(np.concatenate([[0.0, half], e[e <= half], m - e[e >= half]])):
        if ((s <= e) & (e < half)).sum() < ((half <= e) & (e <= m - s)).sum():
            return False
    return True


def terms(predicted: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Every quantity above for predicted classes ``(M, N)`` and labels ``(N,)``."""
    predicted, y = _check(predicted, y)
    member_error = float((predicted != y[None, :]).mean())
    vote_error, ties = majority_vote_error(predicted, y)
    spread = disagreement(predicted)
    return {
        "member_error": member_error,
        "majority_vote_error": vote_error,
        "vote_ties": ties,
        "disagreement_rho2": spread,
        "EIR": improvement_rate(member_error, vote_error),
        "DER": spread / member_error if member_error > 0 else float("nan"),
        "competent": competent(predicted, y),
    }
