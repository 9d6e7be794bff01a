"""The paper's equations: aggregation, the loss decomposition and the augmented objective.

Shapes: ``outputs`` holds the raw outputs of the M learners, ``(M, N, K)`` (logits for
classification, ``K = 1`` for regression); ``y`` holds ``N`` class indices or targets.
Weights are uniform, ``w_j = 1/M``.

    L_ens = L(f̄, y)                 the ensemble's loss
    L_ind = Σ_j w_j L(f_j, y)        the learners' mean loss
    DIV   = L_ind − L_ens            diversity (≥ 0 by Jensen for every aggregation here)
    L_β   = (1 − β) L_ind + β L_ens = L_ind − β DIV

Aggregations:
    score          f̄ = Σ w_j z_j, L = cross-entropy of softmax(f̄)
    probability    p̄ = Σ w_j softmax(z_j), L = −log p̄_y
    probability_double_softmax
                   the authors' CIFAR code: p̄ = Σ w_j softmax(z_j) is fed to cross-entropy as if
                   it were logits (a second softmax); the learners' own losses likewise
    regression     f̄ = Σ w_j f_j, L = squared error
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

AGGREGATIONS = ("score", "probability", "probability_double_softmax", "regression")


def check_aggregation(aggregation: str) -> None:
    if aggregation not in AGGREGATIONS:
        raise ValueError(
            f"unknown aggregation {aggregation!r}; allowed: {', '.join(AGGREGATIONS)}"
        )


def is_classification(aggregation: str) -> bool:
    check_aggregation(aggregation)
    return aggregation != "regression"


def aggregate(outputs: torch.Tensor, aggregation: str) -> torch.Tensor:
    """The ensemble's prediction: logits (score), probabilities (probability*), values (regression)."""
    check_aggregation(aggregation)
    if aggregation in ("score", "regression"):
        return outputs.mean(dim=0)
    return outputs.softmax(dim=-1).mean(dim=0)


def per_sample_losses(
    outputs: torch.Tensor, y: torch.Tensor, aggregation: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample ensemble loss ``(N,)`` and per-learner losses ``(M, N)``."""
    check_aggregation(aggregation)
    n_members = outputs.shape[0]
    if aggregation == "regression":
        values = outputs.squeeze(-1)
        ensemble = (values.mean(dim=0) - y) ** 2
        members = (values - y) ** 2
        return ensemble, members
    y_index = y.long().view(1, -1, 1).expand(n_members, -1, 1)
    if aggregation == "score":
        log_probs = outputs.log_softmax(dim=-1)
        members = -log_probs.gather(-1, y_index).squeeze(-1)
        ensemble = F.cross_entropy(outputs.mean(dim=0), y.long(), reduction="none")
        return ensemble, members
    if aggregation == "probability":
        log_probs = outputs.log_softmax(dim=-1)
        member_log_py = log_probs.gather(-1, y_index).squeeze(-1)
        # −log p̄_y computed stably: log Σ_j w_j p_jy = logsumexp_j(log p_jy) − log M
        ensemble = -(torch.logsumexp(member_log_py, dim=0) - math.log(n_members))
        return ensemble, -member_log_py
    # probability_double_softmax
    probs = outputs.softmax(dim=-1)
    members = -probs.log_softmax(dim=-1).gather(-1, y_index).squeeze(-1)
    ensemble = F.cross_entropy(probs.mean(dim=0), y.long(), reduction="none")
    return ensemble, members


def decomposition(outputs: torch.Tensor, y: torch.Tensor, aggregation: str) -> dict[str, torch.Tensor]:
    """Sample means of L_ens, L_ind and DIV = L_ind − L_ens."""
    ensemble, members = per_sample_losses(outputs, y, aggregation)
    l_ens = ensemble.mean()
    l_ind = members.mean()
    return {"L_ens": l_ens, "L_ind": l_ind, "DIV": l_ind - l_ens}


def beta_objective(outputs: torch.Tensor, y: torch.Tensor, aggregation: str, beta: float) -> torch.Tensor:
    """L_β = (1 − β) L_ind + β L_ens; β = 0 is independent, β = 1 joint training."""
    if not beta >= 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    ensemble, members = per_sample_losses(outputs, y, aggregation)
    return (1.0 - beta) * members.mean() + beta * ensemble.mean()


def predictions(outputs: torch.Tensor, aggregation: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted classes of the ensemble ``(N,)`` and of each learner ``(M, N)``."""
    return aggregate(outputs, aggregation).argmax(dim=-1), outputs.argmax(dim=-1)
