"""What a configuration's design can answer, before any run: the claims' power check (printed when
the workflow is parsed, dry runs included) and the synthetic run tables that validate the claims'
inference by simulation (tests/test_power.py, benchmarks/claims_power.py).

The design of a claim is its settings (every unmitigated sweep setting with β = 0 and 1 where the
endpoint applies), their seeds, and its independent units (a seed of one experiment, model and M:
the settings of one unit share their β = 0 learners). From it alone:

- the smallest p the claim-level test can give (2/2^K over K units, or 1/(B + 1) by Monte Carlo),
  and after Holm over the claims' primary tests (× their number m, Holm's first step);
- the minimum detectable effect: the standardised effect δ = mean / SD of a setting's per-seed
  paired differences (the same δ in every setting; in units of that SD, the seed SD) detected with
  80 % power at level alpha / m, counting each unit once (conservative where its settings are less
  than perfectly correlated; ``stats.detectable_effect``);
- per setting, the same for the descriptive per-setting tests (exact sign-flip over n seeds, Holm
  over the F rows of the claim's primary family).

A claim whose design cannot reach the level gets a warning naming it and the seeds it would need.
The check never stops a run.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import stats
from .claims import CLAIM7_ENDPOINTS, CLAIMS, ENDPOINTS, PAIR, task_of
from .claims_spec import pair_differences

POWER = 0.8


@dataclass(frozen=True)
class Setting:
    experiment: str
    dataset: str
    model: str
    aggregation: str
    members: int
    seeds: tuple[int, ...]
    intermediate: bool  # the grid has a β strictly between 0 and 1 (claim 7)


def settings(config: dict) -> list[Setting]:
    """The settings the claims compare: unmitigated experiments with β = 0 and β = 1."""
    out = []
    for name, exp in config["experiments"].items():
        betas = set(exp["betas"])
        if "baseline" in exp or not {0.0, 1.0} <= betas:
            continue
        inner = any(0 < beta < 1 for beta in betas)
        for model in exp["models"]:
            for aggregation in exp["aggregations"]:
                for members in exp["ensemble_sizes"]:
                    seeds = tuple(exp["seeds"])
                    out.append(
                        Setting(name, exp["dataset"], model, aggregation, members, seeds, inner)
                    )
    return out


def primary_tests(config: dict) -> dict[tuple[int, str], list[Setting]]:
    """Each claim's primary endpoint -> the settings it is tested on."""
    grid = settings(config)
    tests = {}
    for endpoint in ENDPOINTS:
        if endpoint.primary:
            tests[(endpoint.claim, endpoint.name)] = [
                s for s in grid if endpoint.applies(s.aggregation)
            ]
    for name, _, _, tasks in CLAIM7_ENDPOINTS:
        tests[(7, name)] = [s for s in grid if s.intermediate and task_of(s.aggregation) in tasks]
    return {key: found for key, found in tests.items() if found}


def units(found: list[Setting], seeds: int | None = None) -> int:
    """Independent units: one per (experiment, model, M, seed); ``seeds`` replaces every
    setting's seed count (what a design with that many seeds would have)."""
    cells = {(s.experiment, s.model, s.members): len(s.seeds) for s in found}
    return sum(seeds or n for n in cells.values())


def seeds_needed(found: list[Setting], tests: int, alpha: float) -> int | None:
    """The fewest seeds per setting with which the claim-level test can reach alpha after Holm."""
    for seeds in range(1, 64):
        if tests * stats.min_attainable_p(units(found, seeds)) < alpha:
            return seeds
    return None


def check(config: dict, power: float = POWER) -> pd.DataFrame:
    """One row per claim and primary endpoint: the claim-level design and, per setting, the
    descriptive test's (settings of equal seed counts answer alike: one entry per count)."""
    alpha = config["analysis"]["significance"]
    tests = primary_tests(config)
    m = len(tests)
    family = {}  # the per-setting Holm family: all primary rows of a claim
    for (claim, _), found in tests.items():
        family[claim] = family.get(claim, 0) + len(found)
    rows = []
    for (claim, name), found in tests.items():
        k = units(found)
        smallest = min(1.0, m * stats.min_attainable_p(k))
        f = family[claim]
        per_setting = []
        for n in sorted({len(s.seeds) for s in found}, reverse=True):
            count = sum(len(s.seeds) == n for s in found)
            low = min(1.0, f * stats.min_attainable_p(n))
            delta = stats.detectable_effect_per_setting(n, alpha / f, power)
            reach = "" if low >= alpha else f", δ {delta:.2g}"
            per_setting.append(f"{count}×{n} seed{'s' * (n > 1)}: p_holm ≥ {low:.2g}{reach}")
        need = None
        if any(f * stats.min_attainable_p(len(s.seeds)) >= alpha for s in found):
            need = next(n for n in range(1, 64) if f * stats.min_attainable_p(n) < alpha)
            per_setting.append(f"a setting's own verdict needs ≥ {need} seeds")
        rows.append(
            {
                "claim": claim,
                "endpoint": name,
                "settings": len(found),
                "units": k,
                "smallest_p_holm": smallest,
                "detectable_delta": stats.detectable_effect(k, alpha / m, power),
                "reachable": smallest < alpha,
                "seeds_needed": seeds_needed(found, m, alpha),
                "seeds": sorted({len(s.seeds) for s in found}),
                "per_setting": ", ".join(per_setting),
                "setting_seeds_needed": need,
            }
        )
    return pd.DataFrame(rows)


def report(config: dict, name: str = "this configuration", power: float = POWER) -> str:
    """The power check as text: a table, then one warning per claim that cannot reach a verdict."""
    table = check(config, power)
    alpha = config["analysis"]["significance"]
    if table.empty:
        return f"Power check ({name}): no claim can be tested (no experiment has β = 0 and β = 1)."
    lines = [
        f"Power check ({name}), at two levels that need different seed counts. A claim's "
        f"verdict (columns units to δ): a stratified sign-flip test over every (setting, seed) "
        f"pair, Holm over the {len(table)} claims' primary tests, level {alpha}; δ = the "
        f"standardised effect (mean / SD of a setting's per-seed paired differences, in units of "
        f"that seed SD) detected with {power:.0%} power. A setting's own verdict (last column, "
        "descriptive): an exact sign-flip test over that setting's seeds, Holm over its claim's "
        "settings only.",
        f"{'claim':<6}{'endpoint':<22}{'settings':>9}{'units':>7}{'min p_holm':>12}{'δ':>7}"
        "   per setting (its own verdict, descriptive)",
    ]
    for row in table.itertuples():
        lines.append(
            f"{row.claim:<6}{row.endpoint:<22}{row.settings:>9}{row.units:>7}"
            f"{row.smallest_p_holm:>12.2g}{row.detectable_delta:>7.2g}   {row.per_setting}"
        )
    for claim, part in table[~table["reachable"]].groupby("claim"):
        needs = part["seeds_needed"]
        fix = (
            f"give every setting at least {int(needs.max())} seeds (for the claim's verdict; "
            "a setting's own verdict needs the seeds in the table's last column)"
            if needs.notna().all()
            else "add settings or seeds"
        )
        lines.append(
            f"WARNING: claim {claim} ({CLAIMS[claim]}) cannot reach a verdict at the claim level: "
            + "; ".join(
                f"{row.endpoint} has {row.units} independent units, at best p_holm = "
                f"{row.smallest_p_holm:.2g} ≥ {alpha}"
                for row in part.itertuples()
            )
            + f". It will read 'insufficient data'. Fix: {fix}."
        )
    if table["reachable"].all():
        lines.append("Every claim can reach a verdict at the claim level.")
    return "\n".join(lines)


def cost(config: dict) -> dict:
    """Runs, training jobs and the hours the cost model (costs.train_resources) estimates."""
    from .costs import train_resources
    from .pipeline import all_runs
    from .plan import job_sizes

    gpu = cpu = 0.0
    jobs = job_sizes(config)
    for run, runs_in_job in jobs:
        needs = train_resources(config, run, runs_in_job)
        if needs["gpu"]:
            gpu += needs["minutes"] / 60
        else:
            cpu += needs["minutes"] / 60
    return {"runs": len(all_runs(config)), "jobs": len(jobs), "gpu_hours": gpu, "cpu_hours": cpu}


# -- validation by simulation: synthetic paired values of a design ------------------------------

RHO = 0.5  # correlation of the noise of two settings that share their β = 0 learners


@dataclass(frozen=True)
class Effect:
    """A true effect for simulation. ``mean``, ``spread``: each setting's standardised effect δ is
    drawn from N(mean, spread²) (0, 0: the null); the criterion endpoints get a population effect
    beyond their threshold when ``mean`` > 0 (ratio 6 ≥ 3, β = 1 mean 70 % ≥ 50 %, 10 points ≥ 5;
    each varying between settings) and none under the null."""

    mean: float = 0.0
    spread: float = 0.0


# A plausible effect at the paper's scale: each setting's δ drawn from N(1, 0.5²), about half the
# median standardised effect of the default configuration's claims 1–3 (d_z ≈ 2; its regime map),
# 2 % of settings going the other way.
PLAUSIBLE = Effect(1.0, 0.5)


def simulate_pairs(config: dict, effect: Effect, rng: np.random.Generator, selection="best_val"):
    """A claims ``pairs`` table (claims.PAIR) for every primary test of ``config``'s design: one
    row per (claim, endpoint, setting, seed), noise correlated RHO between the settings of a unit,
    settings on scales that differ by orders of magnitude."""
    criteria = {(e.claim, e.name): e.criterion for e in ENDPOINTS}
    frames = []
    for (claim, name), found in primary_tests(config).items():
        criterion = "β*" if claim == 7 else criteria.get((claim, name))
        shared = {}
        rows = []
        for s in found:
            scale = 10 ** rng.uniform(-2, 2)
            delta = rng.normal(effect.mean, effect.spread)
            for seed in s.seeds:
                unit = shared.setdefault(
                    (s.experiment, s.model, s.members, seed), rng.normal(size=3)
                )
                noise = math.sqrt(RHO) * unit + math.sqrt(1 - RHO) * rng.normal(size=3)
                x0, x1, xs = pair_values(criterion, effect, delta, scale, noise, rng)
                rows.append((claim, name, s, seed, x0, x1, xs))
        frames += [
            {
                "claim": claim,
                "endpoint": name,
                "experiment": s.experiment,
                "dataset": s.dataset,
                "model": s.model,
                "aggregation": s.aggregation,
                "members": s.members,
                "selection": selection,
                "seed": seed,
                "x0": x0,
                "x1": x1,
                "xs": xs,
            }
            for claim, name, s, seed, x0, x1, xs in rows
        ]
    pairs = pd.DataFrame(frames).reindex(columns=PAIR)
    pairs["diff"] = pair_differences(pairs)
    pairs["late"] = np.nan
    return pairs


def pair_values(criterion, effect: Effect, delta: float, scale: float, noise, rng):
    """(x0, x1, xs) of one seed: the claim's direction is x1 > x0 (claim 7, with ``xs``: both
    x0 and x1 above xs)."""
    alternative = effect.mean != 0 or effect.spread > 0
    if criterion == "β*":  # claim 7: x0 − xs and x1 − xs
        xs = scale * (10 + noise[2])
        return xs + scale * (delta + noise[0]), xs + scale * (delta + noise[1]), xs
    if criterion is None:  # a plain paired difference
        x0 = scale * (10 + noise[2])
        return x0, x0 + scale * (delta + noise[1]), np.nan
    if criterion.statistic == "ratio":  # positive values, ratio of means ~6 under the alternative
        ratio = math.exp(rng.normal(math.log(6.0), 0.3)) if alternative else 1.0
        return scale * math.exp(0.3 * noise[0]), ratio * scale * math.exp(0.3 * noise[1]), np.nan
    if criterion.statistic == "beta1":  # a percentage at β = 1, ≥ 50 under the alternative
        level = rng.normal(70, 5) if alternative else 10.0
        return 10 + 5 * noise[0], level + (15 if alternative else 5) * noise[1], np.nan
    gap = rng.normal(10, 2) if alternative else 0.0  # "diff": points, ≥ 5 under the alternative
    return 2 + 3 * noise[0], 2 + gap + 3 * noise[1], np.nan


def header(config: dict) -> str:
    """The cost and power lines of a configuration file's header, as YAML comments
    (config/paper.yaml states them; tests/test_power.py checks that they are still what this
    function computes)."""
    spent, table = cost(config), check(config)
    reach = table["reachable"].all()
    seeds = sorted({n for counts in table["seeds"] for n in counts})
    needs = table["setting_seeds_needed"].dropna()
    lines = [
        f"Runs: {spent['runs']:,}; the cost model (costs.train_resources, generous by design) "
        f"estimates {spent['gpu_hours']:,.0f} GPU-hours and {spent['cpu_hours']:,.0f} CPU-hours.",
        "Power check (collusion.power, printed at every start): "
        + (
            "every claim can reach a verdict at the claim level"
            if reach
            else "some claims cannot reach a verdict"
        )
        + f" (smallest p_holm {table['smallest_p_holm'].min():.1g} over "
        f"{table['units'].min()}–{table['units'].max()} independent units; detectable effect "
        f"{table['detectable_delta'].min():.2f}–{table['detectable_delta'].max():.2f} seed SDs at "
        f"{POWER:.0%} power); "
        + (
            f"no single setting can ({'/'.join(map(str, seeds[::-1]))} seeds; a setting verdict "
            f"needs ≥ {int(needs.max())})"
            if len(needs)
            else "every setting can"
        )
        + ".",
    ]
    return "\n".join(
        "# " + line for text in lines for line in textwrap.wrap(text, 98, break_on_hyphens=False)
    )


def simulate(config: dict, effect: Effect, grids: int, seed: int, alpha: float = 0.05) -> dict:
    """Verdict rates of the claims' primary tests over ``grids`` synthetic grids of ``config``'s
    design (claims.pooled_rows, the claim level of the claims table): per claim the share of grids
    where it is supported and where contradicted, and the family-wise rates: any primary test
    significant (the false-positive rate under the null), any claim with a verdict."""
    from .claims import pooled_rows

    endpoints = {(e.claim, e.name): e for e in ENDPOINTS}
    rng = np.random.default_rng(seed)
    supported, contradicted, any_test, any_claim = {}, {}, 0, 0
    for _ in range(grids):
        pairs = simulate_pairs(config, effect, rng)
        pooled = pooled_rows(pairs, None, endpoints, alpha, "best_val", levels=("all",))
        pooled = pooled[pooled["primary"]]
        for claim, verdict in pooled.groupby("claim")["claim_verdict"].first().items():
            supported[claim] = supported.get(claim, 0) + (verdict == "supported")
            contradicted[claim] = contradicted.get(claim, 0) + (verdict == "contradicted")
        decided = ["supported", "contradicted"]
        any_test += pooled["verdict"].isin(decided).any()
        any_claim += pooled.groupby("claim")["claim_verdict"].first().isin(decided).any()
    return {
        "supported": {claim: n / grids for claim, n in supported.items()},
        "contradicted": {claim: n / grids for claim, n in contradicted.items()},
        "any_test": any_test / grids,
        "any_claim": any_claim / grids,
    }
