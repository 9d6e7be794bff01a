"""The paper's diagnostics on saved learner outputs ``(M, N, K)``: debiasing and learner dropout.

Generalisation gap and training dynamics are read off the per-epoch history (see analysis.py).
"""

from __future__ import annotations

import numpy as np
import torch

from . import objective


def _decompose(outputs: np.ndarray, y: np.ndarray, aggregation: str) -> dict[str, float]:
    parts = objective.decomposition(torch.as_tensor(outputs, dtype=torch.float64), torch.as_tensor(y), aggregation)
    return {key: float(value) for key, value in parts.items()}


def member_biases(outputs: np.ndarray) -> np.ndarray:
    """bias_j = mean_i f_ij − mean_ij f_ij, per output dimension: ``(M, K)``. Uses no labels."""
    member_means = outputs.mean(axis=1)
    return member_means - member_means.mean(axis=0, keepdims=True)


def debias(outputs: np.ndarray) -> np.ndarray:
    """Subtract each learner's mean offset; the ensemble mean Σ w_j f_j is unchanged."""
    return outputs - member_biases(outputs)[:, None, :]


def debias_effect(outputs: np.ndarray, y: np.ndarray, aggregation: str) -> dict[str, float]:
    """DIV before and after debiasing and the % decrease.

    Defined where the ensemble averages the raw outputs (regression, score averaging), so
    debiasing leaves f̄ and L_ens unchanged. For MSE, DIV − DIV' = Σ_j w_j bias_j² exactly
    (``bias_energy``). Probability averaging: not defined (NaN).
    """
    if aggregation not in ("regression", "score"):
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


def ensemble_error(outputs: np.ndarray, y: np.ndarray, aggregation: str, authors_broadcast: bool = False) -> float:
    """Test error of the ensemble of the given learners: MSE for regression, error rate otherwise.

    ``authors_broadcast`` reproduces the authors' learner-dropout defect for regression: a (n, 1)
    prediction minus (n,) targets broadcasts to (n, n), so their "MSE" averages over all n² pairs.
    """
    if aggregation == "regression":
        prediction = outputs.mean(axis=0)  # (N, 1)
        if authors_broadcast:
            return float(((prediction - y) ** 2).mean())  # (N, 1) − (N,) → (N, N)
        return float(((prediction[:, 0] - y) ** 2).mean())
    ensemble_pred, _ = objective.predictions(torch.as_tensor(outputs), aggregation)
    return float((ensemble_pred.numpy() != y).mean())


def learner_dropout(
    outputs: np.ndarray,
    y: np.ndarray,
    aggregation: str,
    fraction: float,
    subsets: int,
    rng: np.random.Generator,
    authors_broadcast: bool = False,
) -> np.ndarray:
    """Errors of ``subsets`` random sub-ensembles that drop ``fraction`` of the M learners.

    The same subset is used for every example. At least one learner is kept.
    """
    n_members = outputs.shape[0]
    n_keep = max(1, n_members - int(round(fraction * n_members)))
    errors = np.empty(subsets)
    for i in range(subsets):
        keep = np.sort(rng.choice(n_members, size=n_keep, replace=False))
        errors[i] = ensemble_error(outputs[keep], y, aggregation, authors_broadcast)
    return errors
