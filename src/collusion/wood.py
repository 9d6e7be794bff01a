"""The bias–variance–diversity decomposition of Wood, Mu, Webb, Reeve, Luján and Brown, "A Unified
Theory of Diversity in Ensemble Learning" (JMLR 24, 2023; arXiv 2301.03962), on saved outputs.

A second diversity decomposition next to the paper's Jensen gap DIV = L_ind − L_ens (objective.py).
For a Bregman loss B, Wood et al. combine the members by their *centroid* (the mean in the loss's
dual coordinates) and decompose the ensemble's expected risk over training randomness D:

    E_D[B(y, q̄)] = (1/M) Σ_i B(y, q_i*)  +  (1/M) Σ_i E_D[B(q_i*, q_i)]  −  E_D[(1/M) Σ_i B(q̄, q_i)]
                   └─ bias (+ noise) ─┘     └──── variance ───────────┘     └──── diversity ───────┘

with q̄ the centroid of the M members of one trial and q_i* the centroid of member i over trials.
Here a trial is a training seed (the runs of one setting and β; D is the seed's initialisation and
batch order), and the expectations are means over the seeds' runs. Noise is not separable from one
label per example: "bias" is the loss of the centroid models on the observed labels, i.e. bias plus
noise, as in Wood et al.'s estimates. Two losses:

    cross_entropy  B(y, q) = −log q_y; between distributions KL(p ‖ q) = Σ_k p_k log(p_k / q_k).
                   Dual coordinates log q; centroid = the normalised geometric mean,
                   q̄_k = exp(Σ_i w_i log q_ik) / Σ_c exp(Σ_i w_i log q_ic).
    squared        B(y, f) = (f − y)²; centroid = the arithmetic mean.

Without the expectation over D the same algebra gives, for one trial and each example exactly,
B(y, q̄) = (1/M) Σ_i B(y, q_i) − (1/M) Σ_i B(q̄, q_i): mean member loss minus diversity.

Relation to the paper's DIV. With q_i = softmax(z_i), Σ_i w_i log q_i = z̄ − Σ_i w_i logsumexp(z_i),
a constant per example, so the normalised geometric mean is exactly softmax(z̄): under score
averaging Wood's combiner *is* the ensemble, and Wood's diversity equals DIV per example (and
−log Σ_c exp(Σ_i w_i log q_ic) ≥ 0 is both). For squared loss it is the ambiguity, again DIV.
Under probability averaging the ensemble is the arithmetic mean of probabilities, not the
centroid: the terms then describe the geometric-mean ensemble of the same members, not the run's.
Summed logits: softmax(Σ_j z_j) is the normalised geometric mean of softmax(M z_j), the centroid of
the members at temperature 1/M; ``combined_outputs`` hands Wood's combiner M z_j, so the terms are
those of the run's ensemble, with "member" meaning the member at that temperature (its
diversity is the Jensen gap of objective.py's "Summed logits", not the paper's DIV).

Trials. Wood et al. draw a fresh training set per trial. data.offline.prepare_mnist1d_draws writes
``mnist1d_draws``: 20 independently generated MNIST-1D training sets and one common test set, and
run seed k trains on draw k, so the runs of one setting and β over seeds 0 … S − 1 are S trials in
their sense (a new training set, initialisation and batch order each). Averaged over S trials, the
member centroid q_i* is itself estimated, which biases the split between bias and variance by
O(1/S) (not their sum).
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_softmax

LOSSES = ("cross_entropy", "squared")


def _check_loss(loss: str) -> None:
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; allowed: {', '.join(LOSSES)}")


def combined_outputs(outputs: np.ndarray, aggregation: str) -> np.ndarray:
    """The members as the run's ensemble combines them, for Wood's (geometric) combiner: summed
    logits as M z_j (their centroid is softmax(Σ_j z_j)); every other aggregation as saved."""
    outputs = np.asarray(outputs)
    return outputs * outputs.shape[-3] if aggregation == "sum" else outputs


def dual(outputs: np.ndarray, loss: str) -> np.ndarray:
    """Dual coordinates: log-probabilities of logits (cross-entropy) or the values (squared)."""
    _check_loss(loss)
    outputs = np.asarray(outputs, dtype=np.float64)
    return log_softmax(outputs, axis=-1) if loss == "cross_entropy" else outputs


def centroid(eta: np.ndarray, axis, loss: str) -> np.ndarray:
    """The centroid over ``axis`` in dual coordinates (log of the normalised geometric mean)."""
    mean = eta.mean(axis=axis, keepdims=True)
    return log_softmax(mean, axis=-1) if loss == "cross_entropy" else mean


def divergence(a: np.ndarray, b: np.ndarray, loss: str) -> np.ndarray:
    """B(a, b) between predictions in dual coordinates: KL(p_a ‖ p_b) or (a − b)², over the last axis."""
    if loss == "cross_entropy":
        return (np.exp(a) * (a - b)).sum(axis=-1)
    return ((a - b) ** 2).sum(axis=-1)


def label_loss(eta: np.ndarray, y: np.ndarray, loss: str) -> np.ndarray:
    """B(y, q) for each example (last-but-one axis): −log q_y or (f − y)²."""
    if loss == "cross_entropy":
        index = np.broadcast_to(np.asarray(y, dtype=np.int64)[:, None], eta.shape[:-1] + (1,))
        return -np.take_along_axis(eta, index, axis=-1)[..., 0]
    return (eta[..., 0] - np.asarray(y, dtype=np.float64)) ** 2


def _check_shapes(outputs: np.ndarray, y: np.ndarray, trial_axis: bool) -> None:
    dims = "(S, M, N, K)" if trial_axis else "(M, N, K)"
    if outputs.ndim != (4 if trial_axis else 3) or outputs.shape[-2] != len(y):
        raise ValueError(
            f"outputs must be {dims} with N = len(y) = {len(y)}, got shape {outputs.shape}"
        )


def ambiguity(outputs: np.ndarray, y: np.ndarray, loss: str) -> dict[str, np.ndarray]:
    """One trial's per-example terms: B(y, q̄) = member_loss − diversity; outputs ``(M, N, K)``."""
    outputs = np.asarray(outputs)
    _check_shapes(outputs, y, trial_axis=False)
    eta = dual(outputs, loss)
    ensemble = centroid(eta, 0, loss)
    return {
        "ensemble_loss": label_loss(ensemble, y, loss)[0],
        "member_loss": label_loss(eta, y, loss).mean(axis=0),
        "diversity": divergence(ensemble, eta, loss).mean(axis=0),
    }


def decompose(outputs: np.ndarray, y: np.ndarray, loss: str) -> dict[str, np.ndarray | float]:
    """Wood et al.'s terms, means over the examples, for trials ``(S, M, N, K)`` on the same examples.

    Returns ``expected_ensemble_loss = bias + variance − diversity`` and
    ``expected_member_loss = bias + variance``, and each trial's sample of the expectations,
    ``trial_ensemble_loss``, ``trial_variance``, ``trial_diversity`` (arrays ``(S,)`` whose means
    are the expected ensemble loss, the variance and the diversity).
    """
    outputs = np.asarray(outputs)
    _check_shapes(outputs, y, trial_axis=True)
    eta = dual(outputs, loss)  # (S, M, N, K)
    member_centroids = centroid(eta, 0, loss)  # q_i*: (1, M, N, K)
    ensembles = centroid(eta, 1, loss)  # q̄ of each trial: (S, 1, N, K)
    trial_ensemble_loss = label_loss(ensembles, y, loss)[:, 0].mean(axis=-1)
    trial_variance = divergence(member_centroids, eta, loss).mean(axis=(1, 2))
    trial_diversity = divergence(ensembles, eta, loss).mean(axis=(1, 2))
    bias = float(label_loss(member_centroids, y, loss).mean())
    return {
        "expected_ensemble_loss": float(trial_ensemble_loss.mean()),
        "expected_member_loss": float(label_loss(eta, y, loss).mean()),
        "bias": bias,
        "variance": float(trial_variance.mean()),
        "diversity": float(trial_diversity.mean()),
        "trial_ensemble_loss": trial_ensemble_loss,
        "trial_variance": trial_variance,
        "trial_diversity": trial_diversity,
    }
