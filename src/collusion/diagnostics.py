"""The paper's diagnostics on saved learner outputs ``(M, N, K)``: debiasing and learner dropout.

Every diagnostic computes in float64, whatever the stored outputs' type (predictions.npz keeps
float32): a learner trained jointly under probability averaging can be so confident that its
softmax is exactly 1.0 in float32, and sub-ensembles of such learners would then tie, the argmax
taking the lowest class (tests/test_diagnostics.py, ``saturated_learners``).

Generalisation gap and training dynamics are read off the per-epoch history (see analysis.py).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from . import objective


def as_float64(outputs: np.ndarray) -> np.ndarray:
    return np.asarray(outputs, dtype=np.float64)


def _decompose(outputs: np.ndarray, y: np.ndarray, aggregation: str) -> dict[str, float]:
    parts = objective.decomposition(
        torch.as_tensor(as_float64(outputs)), torch.as_tensor(y), aggregation
    )
    return {key: float(value) for key, value in parts.items()}


def member_biases(outputs: np.ndarray) -> np.ndarray:
    """bias_j = mean_i f_ij − mean_ij f_ij, per output dimension: ``(M, K)``. Uses no labels."""
    member_means = as_float64(outputs).mean(axis=1)
    return member_means - member_means.mean(axis=0, keepdims=True)


def debias(outputs: np.ndarray) -> np.ndarray:
    """Subtract each learner's mean offset; the ensemble mean Σ w_j f_j is unchanged."""
    return as_float64(outputs) - member_biases(outputs)[:, None, :]


def debias_effect(outputs: np.ndarray, y: np.ndarray, aggregation: str) -> dict[str, float]:
    """DIV before and after debiasing and the % decrease.

    Defined where the ensemble averages or sums the raw outputs (``objective.DEBIASABLE``:
    regression, score averaging, summed logits), so debiasing leaves f̄ and L_ens unchanged. For
    MSE, DIV − DIV' = Σ_j w_j bias_j² exactly (``bias_energy``). Probability averaging: not defined (NaN).
    """
    if aggregation not in objective.DEBIASABLE:
        nan = float("nan")
        return {"DIV": nan, "DIV_debiased": nan, "DIV_decrease_pct": nan, "bias_energy": nan}
    before = _decompose(outputs, y, aggregation)
    after = _decompose(debias(outputs), y, aggregation)
    bias_energy = float((member_biases(outputs) ** 2).sum(axis=1).mean())
    decrease = before["DIV"] - after["DIV"]
    return {
        "DIV": before["DIV"],
        "DIV_debiased": after["DIV"],
        "DIV_decrease_pct": 100.0 * decrease / before["DIV"] if before["DIV"] > 0 else float("nan"),
        "bias_energy": bias_energy,
    }


def ensemble_error(
    outputs: np.ndarray, y: np.ndarray, aggregation: str, authors_broadcast: bool = False
) -> float:
    """Test error of the ensemble of the given learners: MSE for regression, error rate otherwise.

    ``authors_broadcast`` reproduces the authors' learner-dropout defect for regression: a (n, 1)
    prediction minus (n,) targets broadcasts to (n, n), so their "MSE" averages over all n² pairs.
    """
    every = [tuple(range(outputs.shape[0]))]
    return float(subset_errors(outputs, y, aggregation, every, authors_broadcast)[0])


SUBSET_CHUNK = 2**20  # float64 values of sub-ensemble outputs gathered at once (8 MiB: the
# gather stays in cache; chunks of 128 MiB made the capacity study's table 5x slower)


def subset_errors(
    outputs: np.ndarray,
    y: np.ndarray,
    aggregation: str,
    keep_sets: list[tuple[int, ...]],
    authors_broadcast: bool = False,
) -> np.ndarray:
    """``ensemble_error`` of each sub-ensemble ``outputs[keep]`` (all of one size): a few
    subsets per array operation instead of one call per subset, with the same numbers."""
    outputs = as_float64(outputs)
    keep_sets = np.asarray(keep_sets, dtype=np.int64).reshape(len(keep_sets), -1)
    per_subset = keep_sets.shape[1] * outputs[0].size
    if aggregation == "regression" and authors_broadcast:
        per_subset += y.size * y.size  # the (N, N) broadcast
    chunk = max(1, SUBSET_CHUNK // per_subset)
    members, combine = torch.as_tensor(outputs), aggregation
    if aggregation == "probability":
        # the mean of the learners' probabilities (objective.aggregate): each learner's softmax
        # once, not once per sub-ensemble it is in; then score averaging's combiner, the mean
        members, combine = members.softmax(dim=-1), "score"
    errors = []
    for start in range(0, len(keep_sets), chunk):
        keep = keep_sets[start : start + chunk]
        if aggregation != "regression":
            ensemble_pred = objective.aggregate(members[keep], combine).argmax(dim=-1)  # (S, N)
            errors.append((ensemble_pred.numpy() != y).mean(axis=1))
            continue
        prediction = outputs[keep].mean(axis=1)  # (S, N, 1)
        if authors_broadcast:
            errors.append(((prediction - y) ** 2).mean(axis=(1, 2)))  # (N, 1) − (N,) → (N, N)
        else:
            errors.append(((prediction[..., 0] - y) ** 2).mean(axis=1))
    return np.concatenate(errors)


def dropped_learners(members: int, fraction: float) -> int:
    """floor(fraction · M) learners are dropped, as in the authors' diagnostic (0 means none)."""
    return math.floor(fraction * members + 1e-9)  # 1e-9: 0.29 · 100 is 28.999…96 in floating point


def kept_subsets(
    members: int, keep: int, subsets: int, rng: np.random.Generator
) -> tuple[list[tuple[int, ...]], bool]:
    """The sub-ensembles to evaluate and whether they are all of them.

    Every one of the C(M, keep) subsets when there are at most ``subsets`` (exact); otherwise
    ``subsets`` distinct ones drawn at random (without repetition).
    """
    total = math.comb(members, keep)
    if total <= subsets:
        return list(itertools.combinations(range(members), keep)), True
    chosen: set[tuple[int, ...]] = set()
    while len(chosen) < subsets:
        chosen.add(tuple(sorted(rng.choice(members, size=keep, replace=False).tolist())))
    return sorted(chosen), False


def learner_dropout(
    outputs: np.ndarray,
    y: np.ndarray,
    aggregation: str,
    fraction: float,
    subsets: int,
    rng: np.random.Generator,
    authors_broadcast: bool = False,
) -> tuple[np.ndarray, bool]:
    """Errors of the sub-ensembles that drop floor(fraction · M) of the M learners, and whether
    every such subset was evaluated (see ``kept_subsets``). The same subset is used for every
    example. A fraction that drops nobody is an error: the caller skips it.
    """
    n_members = outputs.shape[0]
    n_drop = dropped_learners(n_members, fraction)
    if n_drop == 0:
        raise ValueError(
            f"dropping {fraction} of {n_members} learners drops none (floor({fraction}·{n_members}) = 0)"
        )
    keep_sets, exact = kept_subsets(n_members, n_members - n_drop, subsets, rng)
    errors = subset_errors(outputs, y, aggregation, keep_sets, authors_broadcast)
    return errors, exact
