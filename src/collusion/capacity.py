"""Where joint training helps, hurts or neither over member capacity, and the width where the sign
of its effect flips.

The capacity table (tables.capacity) has, per cell (study, aggregation, M, width, selection), the
paired test-error difference d = error(β = 1) − error(β = 0) over the seeds, its two-sided exact
sign-flip p and that p Holm-adjusted over the cells of one map (study, aggregation, selection).

Verdict of a cell at level α: "hurts" where p_holm < α and mean d > 0, "helps" where p_holm < α
and mean d < 0, "neither" otherwise.

Flip width. Along the widths w_1 < … < w_K of one (study, aggregation, M, selection), the mean
difference d̄ is joined linearly in x = log2 w. The flip width w* is where this curve first rises
through zero from the narrowest width up (joint training helping below it, hurting from it on):
the first k with d̄_k < 0 ≤ d̄_{k+1}, and

    log2 w* = x_k + (x_{k+1} − x_k) · (−d̄_k) / (d̄_{k+1} − d̄_k).

It is censored where the curve does not rise through zero: below w_1 where d̄_1 ≥ 0 (joint training
is no better already at the narrowest width; −∞ here), above w_K where d̄ < 0 at every width (+∞).
Its 95 % interval is a percentile bootstrap over seeds: B resamples of the seeds with replacement,
each seed's differences at every width moving together (the same seeds train every width), w* of
each resample's mean curve, and the 2.5 % and 97.5 % points of those values, censored ones
included at ±∞ (a bound at ±∞ reads "below w_1" or "above w_K"). The seeds are those with a
difference at every width (a diverged run removes its seed from the curve).
"""

from __future__ import annotations

import numpy as np

BOOTSTRAP = 2000  # resamples
LEVEL = 0.95


def verdict(diff_mean: float, p_holm: float, alpha: float) -> str:
    if not (np.isfinite(diff_mean) and np.isfinite(p_holm)) or p_holm >= alpha:
        return "neither"
    return "hurts" if diff_mean > 0 else "helps" if diff_mean < 0 else "neither"


def flip_log2_width(log2_widths: np.ndarray, mean_diff: np.ndarray) -> float:
    """log2 of the flip width of one mean-difference curve (widths ascending); −∞ / +∞ where the
    curve does not rise through zero (censored below the narrowest, above the widest width)."""
    x, d = np.asarray(log2_widths, dtype=float), np.asarray(mean_diff, dtype=float)
    if d[0] >= 0:
        return -np.inf
    for k in range(len(d) - 1):
        if d[k] < 0 <= d[k + 1]:
            return float(x[k] + (x[k + 1] - x[k]) * (-d[k]) / (d[k + 1] - d[k]))
    return np.inf


def flip_width(
    widths, per_seed: np.ndarray, resamples: int = BOOTSTRAP, level: float = LEVEL, seed: int = 0
) -> dict:
    """The flip width of per-seed differences ``(S, K)`` (seed × width, widths ascending) and its
    bootstrap interval: ``flip_width``, ``flip_low``, ``flip_high`` (widths; 0 / +∞ where censored
    below / above), ``censored_below`` / ``censored_above`` (the share of resamples), ``n_seeds``."""
    widths = np.asarray(widths, dtype=float)
    per_seed = np.asarray(per_seed, dtype=float)
    if per_seed.ndim != 2 or per_seed.shape[1] != len(widths) or len(widths) < 2:
        raise ValueError(
            f"per-seed differences must be (seeds, widths) with ≥ 2 widths; got shape "
            f"{per_seed.shape} for {len(widths)} widths"
        )
    if np.any(np.diff(widths) <= 0):
        raise ValueError(f"widths must be strictly ascending, got {widths.tolist()}")
    x = np.log2(widths)
    n = len(per_seed)
    estimate = flip_log2_width(x, per_seed.mean(axis=0)) if n else np.nan
    rows = np.random.default_rng(seed).integers(0, n, size=(resamples, n)) if n else None
    boot = (
        np.array([flip_log2_width(x, per_seed[r].mean(axis=0)) for r in rows])
        if n
        else np.array([np.nan])
    )
    tail = (1 - level) / 2
    low, high = (
        np.quantile(boot, [tail, 1 - tail], method="inverted_cdf") if n else (np.nan, np.nan)
    )
    return {
        "n_seeds": n,
        "flip_width": float(np.exp2(estimate)),
        "flip_low": float(np.exp2(low)),
        "flip_high": float(np.exp2(high)),
        "censored_below": float(np.mean(boot == -np.inf)) if n else np.nan,
        "censored_above": float(np.mean(boot == np.inf)) if n else np.nan,
    }


def describe(width: float, widths) -> str:
    """A flip width as text: the number, or "< w_1" / "> w_K" where censored."""
    if np.isnan(width):
        return "n/a"
    if width == 0:
        return f"< {min(widths):g}"
    if width == np.inf:
        return f"> {max(widths):g}"
    return f"{width:.3g}"
