"""Paired inference over seeds: exact sign-flip test, paired t, confidence interval, Holm and BH.

A paired comparison has one difference d_s per seed (same initial weights at both β). Under the
null hypothesis each d_s is symmetric about 0, so every pattern of signs is equally likely; the
exact test compares |Σ d_s| with its value under all 2^n sign flips. Two-sided throughout: the sign
of the mean difference says which way an effect goes.

A claim spans many settings, each with few seeds (five at the paper's scale, where no single
setting's exact test can go below 2/2⁵ = 0.0625). ``pooled_sign_flip`` tests a claim over all its
(setting, seed) pairs at once: each setting's differences are scaled by their root mean square (a
scale every sign flip leaves unchanged, so the test stays exact), and the pairs that share their
β = 0 learners flip together. Descriptive intervals per setting are t-based (``t_interval``,
``fieller_interval``): they exist from two seeds, where the sign-flip inversion needs six.
"""

from __future__ import annotations

import math
from functools import lru_cache

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


MONTE_CARLO_WIDTH = 128  # one pattern matrix serves every test of up to this many units


@lru_cache(maxsize=2)
def _random_signs(n: int) -> np.ndarray:
    """MONTE_CARLO_PATTERNS seeded random ±1 patterns of length n (float32, kept for reuse)."""
    rng = np.random.default_rng(MONTE_CARLO_SEED)
    signs = rng.integers(0, 2, size=(MONTE_CARLO_PATTERNS, n), dtype=np.int8)
    return (1 - 2 * signs).astype(np.float32)


@lru_cache(maxsize=EXACT_MAX_SEEDS + 1)
def _all_signs(n: int) -> np.ndarray:
    bits = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
    return (1 - 2 * bits).astype(np.float64)


def _sign_patterns(n: int) -> tuple[np.ndarray, bool]:
    """(patterns, exact): every ±1 pattern of length n, or MONTE_CARLO_PATTERNS seeded ones."""
    if n <= EXACT_MAX_SEEDS:
        return _all_signs(n), True
    # the first n columns of one seeded matrix: each row is still a uniform pattern of n signs
    return _random_signs(max(n, MONTE_CARLO_WIDTH))[:, :n], False


def _sign_flip_p(d: np.ndarray, patterns: np.ndarray, exact: bool) -> float:
    observed = abs(d.sum())
    # ties count as "at least as extreme": a relative tolerance for rounding in the sums (the
    # random patterns sum in float32)
    tolerance = (1e-12 if exact else 1e-5) * max(1.0, np.abs(d).sum())
    flipped = np.abs(patterns @ d.astype(patterns.dtype))
    extreme = int(np.count_nonzero(flipped >= observed - tolerance))
    if exact:
        return extreme / len(patterns)
    return (extreme + 1) / (len(patterns) + 1)  # the identity counted once more (valid MC p)


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
    t = d.mean() / (d.std(ddof=1) / math.sqrt(len(d)))
    return float(2 * sp.t.sf(abs(t), len(d) - 1))


@lru_cache(maxsize=256)
def _t_quantile(q: float, df: int) -> float:
    return float(sp.t.ppf(q, df))


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


def t_interval(values, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """mean ± t_{n−1} · SD/√n: the t-based interval of a mean (exact for normal values), defined
    from n = 2 on; NaN below. Equal values give a zero-width interval."""
    x = _clean(values)
    if len(x) < 2:
        return float("nan"), float("nan")
    half = _t_quantile(0.5 + confidence / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return float(x.mean() - half), float(x.mean() + half)


def fieller_interval(numerator, denominator, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Interval of the ratio of two paired means, mean(a) / mean(b) (Fieller's method): every r at
    which the paired t-test of a − r·b does not reject at 1 − confidence. That set is an interval
    when mean(b) is clearly non-zero (n·mean(b)² > t²·var(b)); otherwise it is unbounded and
    (−inf, inf) is returned. NaN for fewer than two pairs."""
    a, b = _clean(numerator), _clean(denominator)
    n = len(a)
    if n != len(b):
        raise ValueError(f"a ratio pairs its values: {n} numerators, {len(b)} denominators")
    if n < 2:
        return float("nan"), float("nan")
    t2 = _t_quantile(0.5 + confidence / 2, n - 1) ** 2
    cov = np.cov(a, b, ddof=1)
    # n·(ā − r·b̄)² ≤ t²·var(a − r·b), a quadratic A·r² − 2·B·r + C ≤ 0 in r
    quad_a = n * b.mean() ** 2 - t2 * cov[1, 1]
    quad_b = n * a.mean() * b.mean() - t2 * cov[0, 1]
    quad_c = n * a.mean() ** 2 - t2 * cov[0, 0]
    if quad_a <= 0:
        return -math.inf, math.inf
    root = math.sqrt(max(quad_b**2 - quad_a * quad_c, 0.0))
    return float((quad_b - root) / quad_a), float((quad_b + root) / quad_a)


def pooled_sign_flip(values, settings, units) -> dict:
    """A claim's test over all its settings: a stratified sign-flip test of every (setting, seed)
    pair's value (a paired difference, or a criterion's contrast).

    Each setting's values are divided by their root mean square, so that every setting weighs by its
    seeds whatever its units (an error rate, a loss, a ratio's contrast) and a setting with n seeds
    contributes at most n. The statistic is the sum T of the scaled values; under the null that in
    every setting each value is symmetric about 0, independently between ``units``, every pattern of
    unit signs is equally likely. Pairs of one unit (the settings that share a seed's β = 0
    learners) flip together. The root mean square is the same under every flip, so the test is
    exact: all 2^K patterns of the K units for K ≤ EXACT_MAX_SEEDS, else MONTE_CARLO_PATTERNS
    seeded ones ((k + 1)/(B + 1)).

    Returns p (two-sided), z = T / √(Σ unit sums²) (T over its permutation SD: its sign is the
    direction, its size the evidence), and the counts of pairs, units and settings.
    """
    v = _clean(values)
    settings, units = np.asarray(settings), np.asarray(units)
    if not len(v) == len(settings) == len(units):
        raise ValueError("pooled_sign_flip needs one setting and one unit per value")
    out = {"pairs": len(v), "units": 0, "settings": 0, "p": float("nan"), "z": float("nan")}
    if len(v) == 0:
        return out
    scaled = np.zeros_like(v)
    names, setting_of = np.unique(settings, return_inverse=True)
    for s in range(len(names)):
        mine = setting_of == s
        rms = math.sqrt(float(np.mean(v[mine] ** 2)))
        if rms > 0:
            scaled[mine] = v[mine] / rms
    _, unit_of = np.unique(units, return_inverse=True)
    sums = np.bincount(unit_of, weights=scaled)
    spread = math.sqrt(float(np.sum(sums**2)))
    out.update(
        units=len(sums),
        settings=len(names),
        p=_sign_flip_p(sums, *_sign_patterns(len(sums))) if spread > 0 else 1.0,
        z=float(sums.sum() / spread) if spread > 0 else 0.0,
    )
    return out


def detectable_effect(pairs: int, alpha: float, power: float = 0.8) -> float:
    """The standardised effect δ = mean / SD of the per-seed paired differences (the same in every
    setting) that ``pooled_sign_flip`` over ``pairs`` independent pairs detects with probability
    ``power`` at two-sided level ``alpha``.

    Normal approximation: a difference d ~ N(δσ, σ²) scaled by its root mean square σ√(1 + δ²) has
    mean δ/√(1 + δ²) and variance 1/(1 + δ²), and the permutation SD of T is √pairs, so
    z ≈ N(√pairs·δ/√(1 + δ²), 1/(1 + δ²)); power = Φ(√pairs·δ − z_α·√(1 + δ²)) solved for δ.
    Infinite when pairs ≤ z_α² (no effect is detectable)."""
    z_a, z_b = sp.norm.ppf(1 - alpha / 2), sp.norm.ppf(power)
    if pairs <= z_a**2:
        return math.inf
    root = z_a * math.sqrt(pairs + z_b**2 - z_a**2)
    return float((math.sqrt(pairs) * z_b + root) / (pairs - z_a**2))


def detectable_effect_per_setting(seeds: int, alpha: float, power: float = 0.8) -> float:
    """δ (mean / SD of the per-seed paired differences) that a paired test over ``seeds`` seeds
    detects with probability ``power`` at two-sided level ``alpha`` (t approximation); infinite
    when the exact sign-flip test cannot reach ``alpha`` at all (2/2^n ≥ alpha)."""
    if seeds < 2 or min_attainable_p(seeds) >= alpha:
        return math.inf
    df = seeds - 1
    return float((sp.t.ppf(1 - alpha / 2, df) + sp.t.ppf(power, df)) / math.sqrt(seeds))
