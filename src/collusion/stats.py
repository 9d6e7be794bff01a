"""Paired inference over seeds: exact sign-flip test, paired t, confidence interval, Holm and BH.

A paired comparison has one difference d_s per seed (same initial weights at both β). Under the
null hypothesis each d_s is symmetric about 0, so every pattern of signs is equally likely; the
exact test compares |Σ d_s| with its value under all 2^n sign flips. Two-sided throughout: the sign
of the mean difference says which way an effect goes.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sp

EXACT_MAX_SEEDS = 16  # all 2^n sign patterns up to here (65,536); Monte Carlo above
MONTE_CARLO_PATTERNS = 100_000
MONTE_CARLO_SEED = 0
CONFIDENCE = 0.95


def _clean(differences) -> np.ndarray:
    d = np.asarray(differences, dtype=np.float64).ravel()
    if not np.all(np.isfinite(d)):
        raise ValueError(f"paired differences must be finite, got {d.tolist()}")
    return d


def _sign_patterns(n: int) -> tuple[np.ndarray, bool]:
    """(patterns, exact): every ±1 pattern of length n, or a seeded Monte-Carlo sample of them."""
    if n <= EXACT_MAX_SEEDS:
        bits = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
        return 1 - 2 * bits.astype(np.float64), True
    rng = np.random.default_rng(MONTE_CARLO_SEED)
    return rng.choice([-1.0, 1.0], size=(MONTE_CARLO_PATTERNS, n)), False


def _sign_flip_p(d: np.ndarray, patterns: np.ndarray, exact: bool) -> float:
    observed = abs(d.sum())
    flipped = np.abs(patterns @ d)
    # ties count as "at least as extreme" (relative tolerance for rounding in the sums)
    extreme = int(np.count_nonzero(flipped >= observed - 1e-12 * max(1.0, np.abs(d).sum())))
    if exact:
        return extreme / len(patterns)
    return (extreme + 1) / (
        len(patterns) + 1
    )  # the identity pattern counted once more (valid MC p)


def sign_flip_test(differences) -> float:
    """Two-sided paired sign-flip permutation p-value of the mean difference.

    Exact (all 2^n patterns) for n ≤ EXACT_MAX_SEEDS, else a Monte-Carlo estimate over
    MONTE_CARLO_PATTERNS seeded patterns, (k + 1)/(B + 1). n = 0 gives NaN. The smallest attainable
    exact p is 2/2^n: identical differences are as extreme as possible, never p = 0.
    """
    d = _clean(differences)
    if len(d) == 0:
        return float("nan")
    return _sign_flip_p(d, *_sign_patterns(len(d)))


def min_attainable_p(n: int) -> float:
    """The exact sign-flip test's smallest two-sided p-value with n seeds."""
    return 2.0 / 2**n if n <= EXACT_MAX_SEEDS else 1.0 / (MONTE_CARLO_PATTERNS + 1)


def paired_t_test(differences) -> float:
    """Two-sided one-sample t-test of the differences; NaN when n < 2 or every difference is equal
    up to rounding (the t statistic is undefined there; the sign-flip test still answers)."""
    d = _clean(differences)
    if len(d) < 2 or np.ptp(d) <= 1e-12 * max(1.0, np.abs(d).max()):
        return float("nan")
    return float(sp.ttest_1samp(d, 0.0).pvalue)


def sign_flip_interval(differences, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Confidence interval of the mean difference by inverting the sign-flip test.

    The interval holds every shift μ that the test on d − μ does not reject at 1 − confidence; its
    ends are found by bisection (to 1e-9 of the data's scale). Unbounded (±inf) when even an
    infinite shift is not rejected, i.e. when 2/2^n > 1 − confidence (n ≤ 5 at 95 %).
    """
    d = _clean(differences)
    alpha = 1.0 - confidence
    if len(d) == 0:
        return float("nan"), float("nan")
    patterns, exact = _sign_patterns(len(d))

    def accepted(mu: float) -> bool:
        return _sign_flip_p(d - mu, patterns, exact) > alpha

    centre = float(d.mean())
    scale = float(np.abs(d - centre).max()) or max(abs(centre), 1.0)
    ends = []
    for direction in (-1.0, 1.0):
        inside, step = centre, scale
        for _ in range(60):  # grow until a shift is rejected
            if not accepted(centre + direction * step):
                break
            inside, step = centre + direction * step, 2 * step
        else:
            ends.append(direction * math.inf)
            continue
        outside = centre + direction * step
        while abs(outside - inside) > 1e-9 * scale:
            middle = 0.5 * (inside + outside)
            if middle in (inside, outside):  # adjacent floats: nearly equal differences, tiny scale
                break
            inside, outside = (middle, outside) if accepted(middle) else (inside, middle)
        ends.append(inside)
    return ends[0], ends[1]


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error); NaN entries stay NaN, not counted."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full_like(p, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = len(valid)
    order = valid[np.argsort(p[valid], kind="stable")]
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        out[index] = running
    return out


def benjamini_hochberg(p_values) -> np.ndarray:
    """Benjamini–Hochberg step-up adjusted p-values (false discovery rate); NaN stays NaN."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full_like(p, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = len(valid)
    order = valid[np.argsort(p[valid], kind="stable")][::-1]  # largest first
    running = 1.0
    for k, index in enumerate(order):
        rank = m - k
        running = min(running, m * p[index] / rank)
        out[index] = running
    return out


def paired_summary(differences) -> dict:
    """Everything a claims row needs about one set of paired differences."""
    d = _clean(differences)
    low, high = sign_flip_interval(d) if len(d) else (float("nan"), float("nan"))
    return {
        "n_seeds": len(d),
        "diff_mean": float(d.mean()) if len(d) else float("nan"),
        "diff_sd": float(d.std(ddof=1)) if len(d) > 1 else float("nan"),
        "ci_low": low,
        "ci_high": high,
        "p_exact": sign_flip_test(d),
        "p_t": paired_t_test(d),
    }
