"""The paper's equations: aggregation, the loss decomposition and the augmented objective.

Shapes: ``outputs`` holds the raw outputs of the M learners, ``(M, N, K)`` (logits for
classification, ``K = 1`` for regression); ``y`` holds ``N`` class indices or targets.
Weights are uniform, ``w_j = 1/M``. ``aggregate``, ``per_sample_losses`` and ``predictions`` also
take ``(B, M, N, K)``: B ensembles at once (a pack of β, train.py), each on the same ``y``, or
each on its own row of a ``(B, N)`` ``y`` (a pack of several seeds, each with its own data).

    L_ens = L(f̄, y)                 the ensemble's loss
    L_ind = Σ_j w_j L(f_j, y)        the learners' mean loss
    DIV   = L_ind − L_ens            diversity (≥ 0 by Jensen for every aggregation here but
                                     ``sum``: see "Summed logits" below)
    L_β   = (1 − β) L_ind + β L_ens = L_ind − β DIV

Aggregations:
    score          f̄ = Σ w_j z_j, L = cross-entropy of softmax(f̄)
    probability    p̄ = Σ w_j softmax(z_j), L = −log p̄_y
    probability_double_softmax
                   the authors' CIFAR code: p̄ = Σ w_j softmax(z_j) is fed to cross-entropy as if
                   it were logits (a second softmax); the learners' own losses likewise
    sum            s = Σ_j z_j (summed logits, no 1/M), L_ens = cross-entropy of softmax(s); the
                   learners' own losses L(f_j, y) are cross-entropies, as under score averaging
    regression     f̄ = Σ w_j f_j, L = squared error

Summed logits. softmax(Σ_j z_j) ∝ Π_j softmax(z_j) (a product of experts), and Σ_j z_j = M z̄: the
score-averaged ensemble at temperature 1/M. L_ind is the learners' own cross-entropies, so β = 0 is
exactly the independent training of score averaging (same objective, same learners); only the
ensemble term differs. Then DIV = L_ind − L_ens is no Jensen gap and can be negative (M identical
learners whose mean logit does not rank y first, M large: sharpening raises the ensemble's loss). It
splits into the score-averaging diversity of the same learners and a sharpening term:

    DIV_sum = DIV_score + S,    DIV_score = L_ind − CE(z̄, y) ≥ 0,    S = CE(z̄, y) − CE(M z̄, y)

S depends on z̄ alone: S ≥ 0 where y is a top class of z̄ (CE(t z̄, y) falls with t), and it can
have either sign elsewhere (S → −∞ as M grows). Jensen holds for the learners at temperature 1/M
instead: L_ens = CE(mean_j M z_j, y) ≤ Σ_j w_j CE(M z_j, y), the score-averaging decomposition of
the logits M z_j (what Wood's decomposition measures for summed logits, wood.py).

Gradients w.r.t. learner j's logits on one sample (tests/test_objective.py checks them by autograd):

    ∂L_ind/∂z_j = w_j (p_j − e_y)                         p_j = softmax(z_j)
    ∂L_ens/∂z_j = (1/M)(p̄ − e_y),  p̄ = softmax(z̄)          score averaging, the same for every j
    ∂L_ens/∂z_j = q − e_y,          q = softmax(Σ_l z_l)    summed logits, the same for every j
    ∂L_ens/∂z_j = r_j (p_j − e_y),  r_j = w_j p_jy / p̄_y    probability averaging (Σ_j r_j = 1)

and ∂L_β/∂z_j = (1 − β) ∂L_ind/∂z_j + β ∂L_ens/∂z_j. Summed logits give every learner M times
score averaging's joint residual scale, evaluated at the sharper q. For β > 1 the objective is
unbounded below under score averaging, summed logits and regression: learners moving in opposite
directions (z_1 + t v, z_2 − t v) keep the ensemble's average (or sum), so L_ens, while L_ind
grows (tested).
"""

from __future__ import annotations

import math

import torch

# the aggregations: spec.py states them (the config check reads them, torch-free)
from .spec import AGGREGATIONS

# the aggregations whose ensemble output is logits (its probabilities: their softmax)
LOGIT_ENSEMBLES = ("score", "sum")


def check_aggregation(aggregation: str) -> None:
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {aggregation!r}; allowed: {', '.join(AGGREGATIONS)}")


def is_classification(aggregation: str) -> bool:
    check_aggregation(aggregation)
    return aggregation != "regression"


def aggregate(outputs: torch.Tensor, aggregation: str) -> torch.Tensor:
    """The ensemble's prediction: logits (score, sum), probabilities (probability*), values
    (regression)."""
    check_aggregation(aggregation)
    if aggregation in ("score", "regression"):
        return outputs.mean(dim=-3)
    if aggregation == "sum":
        return outputs.sum(dim=-3)
    return outputs.softmax(dim=-1).mean(dim=-3)


def per_sample_losses(
    outputs: torch.Tensor, y: torch.Tensor, aggregation: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample ensemble loss ``(N,)`` and per-learner losses ``(M, N)`` (``(B, N)`` and
    ``(B, M, N)`` for B ensembles). ``y`` is ``(N,)``, shared by the B ensembles, or ``(B, N)``:
    ensemble b's own targets (a pack of several seeds, each with its own data)."""
    check_aggregation(aggregation)
    n_members = outputs.shape[-3]
    y_members = y.unsqueeze(-2)  # against the learners' (…, M, N)
    if aggregation == "regression":
        values = outputs.squeeze(-1)
        ensemble = (values.mean(dim=-2) - y) ** 2
        members = (values - y_members) ** 2
        return ensemble, members

    def log_py(log_probs, labels):  # log p_y of every (…, N, K) row
        index = labels.long().unsqueeze(-1).expand(*log_probs.shape[:-1], 1)
        return log_probs.gather(-1, index).squeeze(-1)

    if aggregation == "score":
        members = -log_py(outputs.log_softmax(dim=-1), y_members)
        ensemble = -log_py(outputs.mean(dim=-3).log_softmax(dim=-1), y)  # cross-entropy of f̄
        return ensemble, members
    if aggregation == "sum":
        members = -log_py(outputs.log_softmax(dim=-1), y_members)
        ensemble = -log_py(outputs.sum(dim=-3).log_softmax(dim=-1), y)  # cross-entropy of Σ_j z_j
        return ensemble, members
    if aggregation == "probability":
        member_log_py = log_py(outputs.log_softmax(dim=-1), y_members)
        # −log p̄_y computed stably: log Σ_j w_j p_jy = logsumexp_j(log p_jy) − log M
        ensemble = -(torch.logsumexp(member_log_py, dim=-2) - math.log(n_members))
        return ensemble, -member_log_py
    # probability_double_softmax
    probs = outputs.softmax(dim=-1)
    members = -log_py(probs.log_softmax(dim=-1), y_members)
    ensemble = -log_py(probs.mean(dim=-3).log_softmax(dim=-1), y)
    return ensemble, members


def decomposition(
    outputs: torch.Tensor, y: torch.Tensor, aggregation: str
) -> dict[str, torch.Tensor]:
    """Sample means of L_ens, L_ind and DIV = L_ind − L_ens."""
    ensemble, members = per_sample_losses(outputs, y, aggregation)
    l_ens = ensemble.mean()
    l_ind = members.mean()
    return {"L_ens": l_ens, "L_ind": l_ind, "DIV": l_ind - l_ens}


def beta_objective(
    outputs: torch.Tensor, y: torch.Tensor, aggregation: str, beta: float
) -> torch.Tensor:
    """L_β = (1 − β) L_ind + β L_ens; β = 0 is independent, β = 1 joint training."""
    if not beta >= 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    ensemble, members = per_sample_losses(outputs, y, aggregation)
    return (1.0 - beta) * members.mean() + beta * ensemble.mean()


def beta_objectives(
    outputs: torch.Tensor, y: torch.Tensor, aggregation: str, betas
) -> torch.Tensor:
    """L_β of B ensembles at once: ``outputs`` ``(B, M, N, K)``, ensemble b at ``betas[b]``; ``(B,)``.
    Ensemble b's value is ``beta_objective(outputs[b], y, aggregation, betas[b])`` (``y[b]`` where
    ``y`` is ``(B, N)``)."""
    betas = torch.as_tensor(betas, dtype=torch.float64)
    if not (betas >= 0).all():
        raise ValueError(f"beta must be >= 0, got {betas.tolist()}")
    ensemble, members = per_sample_losses(outputs, y, aggregation)
    # the weights as beta_objective's Python floats reach the kernels: computed in double, then cast
    ind_weight, ens_weight = (1.0 - betas).to(outputs), betas.to(outputs)
    return ind_weight * members.mean(dim=(-2, -1)) + ens_weight * ensemble.mean(dim=-1)


def predictions(outputs: torch.Tensor, aggregation: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted classes of the ensemble ``(N,)`` and of each learner ``(M, N)`` (with B: ``(B, N)``,
    ``(B, M, N)``)."""
    return aggregate(outputs, aggregation).argmax(dim=-1), outputs.argmax(dim=-1)


# -- mitigations of learner collusion (docs/mitigations.md) ----------------------------------------
#   learner dropout   L_β^S = (1 − β) L_ind + β L(f̄_S, y),  f̄_S = (1/|S|) Σ_{j∈S} f_j
#                     S ∋ j independently with probability 1 − p, redrawn while S is empty
#   debiasing penalty L_β + λ Σ_j w_j ‖bias_j‖²,  bias_j = mean_i f_ij − mean_i f̄_i  (a K-vector)
#   β warm-up         β_t = β · min(1, t / T)
def learner_dropout_mask(members: int, rate: float, generator: torch.Generator) -> torch.Tensor:
    """Which learners the ensemble average keeps this step: a boolean ``(members,)``, never empty.

    Each learner is dropped independently with probability ``rate``; an empty draw is redrawn, so
    the mask follows the Bernoulli law conditioned on keeping at least one learner.
    """
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"learner dropout rate must be in [0, 1), got {rate}")
    if members < 1:
        raise ValueError(f"an ensemble needs at least one learner, got {members}")
    while True:
        keep = torch.rand(members, generator=generator) >= rate
        if keep.any():
            return keep


def learner_dropout_objective(
    outputs: torch.Tensor, y: torch.Tensor, aggregation: str, beta: float, keep: torch.Tensor
) -> torch.Tensor:
    """L_β with the ensemble term over the kept learners only; every learner keeps its own loss.

    ``keep`` is a boolean ``(M,)`` mask (``learner_dropout_mask``); keeping every learner gives
    ``beta_objective`` exactly.
    """
    if not beta >= 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    if keep.dtype != torch.bool or keep.shape != outputs.shape[:1]:
        raise ValueError(
            f"keep must be a boolean mask of shape ({outputs.shape[0]},), one entry per learner; "
            f"got dtype {keep.dtype}, shape {tuple(keep.shape)}"
        )
    if not keep.any():
        raise ValueError("keep drops every learner: the ensemble average needs at least one")
    _, members = per_sample_losses(outputs, y, aggregation)
    ensemble, _ = per_sample_losses(outputs[keep.to(outputs.device)], y, aggregation)
    return (1.0 - beta) * members.mean() + beta * ensemble.mean()


def learner_dropout_mse_beta(beta: float, rate: float, members: int) -> float:
    """For MSE, the expected learner-dropout objective over masks is L_β' with β' = β (1 − c).

    Given |S| = s, f̄_S is the mean of s of the M outputs drawn without replacement: unbiased for
    f̄, with variance (M − s) / (s (M − 1)) · Σ_j w_j (f_j − f̄)², the ambiguity. So
    E_S[(f̄_S − y)²] = L_ens + c · DIV with c = E_s[(M − s) / (s (M − 1))], s ~ Binomial(M, 1 − p)
    conditioned on s ≥ 1, and L_ind − β DIV + β c DIV = L_β(1−c).
    """
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"learner dropout rate must be in [0, 1), got {rate}")
    if members == 1:
        return float(beta)
    sizes = range(1, members + 1)
    weights = [math.comb(members, s) * (1 - rate) ** s * rate ** (members - s) for s in sizes]
    c = sum(w * (members - s) / (s * (members - 1)) for w, s in zip(weights, sizes)) / sum(weights)
    return float(beta) * (1.0 - c)


# where the debiasing penalty is defined: spec.py states it (the config check reads it, torch-free)
from .spec import DEBIASABLE  # noqa: E402


def debiasing_penalty(outputs: torch.Tensor, aggregation: str, strength: float) -> torch.Tensor:
    """λ Σ_j w_j ‖bias_j‖², bias_j the learner's mean offset from the ensemble over the minibatch.

    Defined where the ensemble averages or sums raw outputs (score averaging and summed logits:
    logits; regression: values): Σ_j bias_j = 0, so subtracting bias_j leaves f̄ (and Σ_j f_j)
    unchanged, and for MSE the penalty is λ times the diversity
    that debiasing removes. Under probability averaging a logit offset is not an offset of the
    ensemble's average, so the penalty is refused.
    """
    check_aggregation(aggregation)
    if aggregation not in DEBIASABLE:
        raise ValueError(
            f"the debiasing penalty needs an ensemble that averages or sums raw outputs "
            f"({', '.join(DEBIASABLE)}), not {aggregation!r}: under probability averaging a "
            f"learner's logit offset is not an offset from the ensemble's average"
        )
    if not strength >= 0:
        raise ValueError(f"debiasing penalty strength must be >= 0, got {strength}")
    member_means = outputs.mean(dim=1)  # (M, K)
    bias = member_means - member_means.mean(dim=0, keepdim=True)
    return strength * (bias**2).sum(dim=-1).mean()


def debiased_objective(
    outputs: torch.Tensor, y: torch.Tensor, aggregation: str, beta: float, strength: float
) -> torch.Tensor:
    """L_β + λ Σ_j w_j ‖bias_j‖²."""
    return beta_objective(outputs, y, aggregation, beta) + debiasing_penalty(
        outputs, aggregation, strength
    )


def beta_warmup(step: int, warmup_steps: int, beta: float) -> float:
    """β_t rising linearly from 0 at step 0 to ``beta`` at ``warmup_steps``, then constant."""
    if not beta >= 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    if warmup_steps < 0 or step < 0:
        raise ValueError(f"step and warmup_steps must be >= 0, got {step} and {warmup_steps}")
    if warmup_steps == 0:
        return float(beta)
    return float(beta) * min(1.0, step / warmup_steps)


# -- GNCL: generalised negative correlation learning (Buschjäger, Pfahler, Morik, arXiv 2011.02952)
#   A second-order Taylor expansion of each learner's loss around the ensemble's output f̄ gives,
#   with d_j = f_j − f̄ (Σ_j d_j = 0, so the first-order terms cancel) and H = ∇²_f L(f̄, y),
#       L_ens ≈ L_ind − (1/2) Σ_j w_j d_jᵀ H d_j,
#   and GNCL's "ncl" mode trains  L_ind − λ (1/2) Σ_j w_j d_jᵀ H d_j  (λ = 0: independent). H is
#   evaluated at f̄ and held constant (no gradient through it), so the gradient w.r.t. learner j's
#   output is w_j (∇L(f_j, y) − λ H d_j). Defined where the ensemble averages raw outputs and L is
#   a function of that average: regression (L = squared error, H = 2: the diversity term is exactly
#   the ambiguity, and GNCL at λ is L_β at β = λ) and score averaging (L = cross-entropy of the
#   logits, H = diag(p̄) − p̄ p̄ᵀ, p̄ = softmax(f̄): the term agrees with DIV to second order in d).
#   Under score averaging the GNCL objective is unbounded below for every λ > 0: offsetting moves
#   (z_1 + t v, z_2 − t v) keep f̄ and so H, the quadratic term grows like t², the learners'
#   cross-entropies only like |t|. L_β is bounded for β ≤ 1; GNCL trades that for a smooth term.
# where it is defined: spec.py states it (the config check reads it, torch-free)
from .spec import GNCL_AGGREGATIONS  # noqa: E402


def gncl_diversity(outputs: torch.Tensor, y: torch.Tensor, aggregation: str) -> torch.Tensor:
    """(1/2) Σ_j w_j d_jᵀ H d_j, the sample mean, with H = ∇²L(f̄, y) held constant; ≥ 0 (H is
    positive semi-definite)."""
    check_aggregation(aggregation)
    if aggregation not in GNCL_AGGREGATIONS:
        raise ValueError(
            f"GNCL's diversity term needs a loss of the averaged raw outputs "
            f"({', '.join(GNCL_AGGREGATIONS)}), not {aggregation!r}"
        )
    mean = outputs.mean(dim=-3, keepdim=True)
    d = outputs - mean
    if aggregation == "regression":
        quadratic = 2.0 * (d**2).sum(dim=-1)
    else:
        p = mean.detach().softmax(dim=-1)  # H = diag(p̄) − p̄ p̄ᵀ, per sample
        quadratic = (p * d**2).sum(dim=-1) - (p * d).sum(dim=-1) ** 2
    return 0.5 * quadratic.mean(dim=-2).mean(dim=-1)


def gncl_objective(
    outputs: torch.Tensor, y: torch.Tensor, aggregation: str, strength: float
) -> torch.Tensor:
    """GNCL's "ncl" objective: L_ind − λ (1/2) Σ_j w_j d_jᵀ H d_j (``gncl_diversity``)."""
    if not strength >= 0:
        raise ValueError(f"GNCL strength must be >= 0, got {strength}")
    _, members = per_sample_losses(outputs, y, aggregation)
    return members.mean() - strength * gncl_diversity(outputs, y, aggregation)
