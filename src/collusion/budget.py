"""The budget study: every primary verdict of the claims at several training budgets, from one run.

A recipe whose learning-rate schedule does not depend on the total number of epochs (a constant
lr, or ``multistep`` milestones at fixed epochs) trains the first E epochs of a long run exactly as
a run of E epochs would. So one run of the longest budget answers every shorter one: its history up
to epoch E, and its selections restricted to the first E epochs, ``best_val@E`` (the epoch of
lowest validation L_ens among epochs 1..E) and ``last@E`` (epoch E), are those of the E-epoch run.

A budget study is an experiment whose recipe records such selections (``selection_horizons``; its
budgets are the horizons and its ``epochs``; ``collusion.figures.budget_studies``). For each budget
``budget_table`` builds the claims (``collusion.claims.build``) from the selections at that budget,
``best_val@E`` primary, and keeps the primary rows (one per claim, setting and primary endpoint),
each with its claim's claim-level test at that budget (``claim_level_*``: the pooled test over
every setting, the claim's decision) and how far the learners had got in its setting: at β = 0 and
β = 1, the ensembles' and the learners' mean test accuracy at the selected epoch, the median
selected epoch and the share of seeds whose selected epoch lies in the last 10 % of the budget
(``late_beta*``; the claims' under-training flag reads the same rule).

Which claims a budget can answer: claims 1-3, 6 and 7 read the runs table (metrics at the selected
epoch, from each run's history); claims 4 (debiasing) and 5 (learner dropout) read the outputs a
run saved at the selected epoch. A run that saved its outputs at its full-budget selections only
(no ``selection_horizons``) answers claims 4 and 5 at the full budget only: at a shorter budget
their rows read ``not evaluated``, with a note that says why, rather than going missing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .analysis import SETTING_KEYS, finished
from .claims import COLUMNS as CLAIMS_COLUMNS
from .claims import build
from .claims_spec import ENDPOINTS, late_epoch

CLAIM_LEVEL = {
    "p_holm": "claim_level_p_holm",
    "verdict": "claim_level_verdict",
    "claim_verdict": "claim_verdict",
    "fragile": "claim_level_fragile",
}
CONVERGENCE_COLUMNS = [
    f"{name}_beta{beta}"
    for beta in (0, 1)
    for name in ("acc", "learner_acc", "epoch", "late", "seeds")
]
NOT_EVALUATED = "not evaluated"  # the verdict of a claim whose inputs lack this budget's selection
OUTPUT_SOURCES = ("debias", "learner_dropout")  # the tables read from a run's saved outputs
# ``budget``: the epochs the selections are restricted to (the claims table's own ``budget`` column
# is the runs' recipe epochs); then the claims table's columns, the claim level, the convergence
COLUMNS = [*CLAIMS_COLUMNS, *CLAIM_LEVEL.values(), *CONVERGENCE_COLUMNS]


def selection_at(selection: str, budget: int, epochs: int) -> str:
    """The name of selection rule ``selection`` (best_val or last) restricted to the first
    ``budget`` epochs of a run of ``epochs``: the rule itself at the full budget, else
    ``<rule>@<budget>``."""
    if not 0 < budget <= epochs:
        raise ValueError(f"a budget lies in 1..{epochs} epochs, got {budget}")
    return selection if budget == epochs else f"{selection}@{budget}"


def convergence(runs: pd.DataFrame, budget: int) -> pd.DataFrame:
    """Per setting (``runs``: the rows of one selection): at β = 0 and β = 1, the ensembles' and
    the learners' mean test accuracy (NaN for regression), the median selected epoch, the share of
    seeds whose selected epoch is late, and the seeds counted (runs that finished)."""
    done = finished(runs)
    rows = []
    for key, setting in done.groupby(SETTING_KEYS, dropna=False):
        row = dict(zip(SETTING_KEYS, key))
        for beta in (0, 1):
            at = setting[setting["beta"] == beta]
            classification = "test_acc" in at and at["aggregation"].ne("regression").all()
            row |= {
                f"acc_beta{beta}": at["test_acc"].mean() if classification else np.nan,
                f"learner_acc_beta{beta}": (1.0 - at["test_learner_error"]).mean()
                if classification
                else np.nan,
                f"epoch_beta{beta}": at["epoch"].median(),
                f"late_beta{beta}": np.mean([late_epoch(e, budget) for e in at["epoch"]])
                if len(at)
                else np.nan,
                f"seeds_beta{beta}": len(at),
            }
        rows.append(row)
    return pd.DataFrame(rows, columns=SETTING_KEYS + CONVERGENCE_COLUMNS)


def unanswered_claims(sources: dict[str, pd.DataFrame], selection: str) -> dict[int, str]:
    """The claims whose primary endpoints read a table of saved outputs (``OUTPUT_SOURCES``) that
    has rows at other selections but none at ``selection`` (the runs saved no outputs there), each
    with the name of that table."""
    missing = [
        name
        for name in OUTPUT_SOURCES
        if len(sources[name]) and not (sources[name]["selection"] == selection).any()
    ]
    return {e.claim: e.source for e in ENDPOINTS if e.primary and e.source in missing}


def not_evaluated(runs: pd.DataFrame, claims: dict[int, str], selection: str) -> pd.DataFrame:
    """A ``not evaluated`` row per unanswered claim, setting of ``runs`` and primary endpoint that
    applies to it, with the reason in its note."""
    rows = []
    settings = runs[SETTING_KEYS].drop_duplicates()
    for claim, source in sorted(claims.items()):
        note = (
            f"not evaluated: claim {claim} reads the runs' saved outputs ({source}), which they "
            f"have at their full-budget selections only; a recipe with selection_horizons saves "
            f"them at {selection}"
        )
        for setting in settings.itertuples(index=False):
            for endpoint in ENDPOINTS:
                if endpoint.claim == claim and endpoint.primary:
                    if endpoint.applies(setting.aggregation):
                        rows.append(
                            setting._asdict()
                            | {
                                "claim": claim,
                                "endpoint": endpoint.name,
                                "selection": selection,
                                "primary": True,
                                "verdict": NOT_EVALUATED,
                                "note": note,
                            }
                            | dict.fromkeys(CLAIM_LEVEL.values(), np.nan)
                            | {"claim_level_verdict": NOT_EVALUATED, "claim_verdict": NOT_EVALUATED}
                        )
    return pd.DataFrame(rows)


def claims_at(frames: list[pd.DataFrame], budget: int, epochs: int, alpha: float, stability: bool):
    """The claims' primary rows at one budget, with the claim level and the convergence columns;
    a claim the runs cannot answer at this budget (``unanswered_claims``) reads ``not evaluated``."""
    best, last = (selection_at(rule, budget, epochs) for rule in ("best_val", "last"))
    runs, debias, dropout, gen_gap = frames
    unanswered = unanswered_claims({"debias": debias, "learner_dropout": dropout}, best)
    at = [f[f["selection"].isin([best, last])] for f in (runs, debias, dropout)]
    built = build(*at, gen_gap, alpha, primary_selection=best, stability=stability)
    rows = built.rows[built.rows["primary"].astype(bool)]
    claim_level = built.pooled[built.pooled["primary"].astype(bool)]
    claim_level = claim_level[["claim", "endpoint", *CLAIM_LEVEL]].rename(columns=CLAIM_LEVEL)
    rows = rows.merge(claim_level, on=["claim", "endpoint"], how="left")
    if unanswered:
        rows = pd.concat(
            [
                rows[~rows["claim"].isin(list(unanswered))],
                not_evaluated(at[0][at[0]["selection"] == best], unanswered, best),
            ],
            ignore_index=True,
        )
    rows = rows.merge(
        convergence(at[0][at[0]["selection"] == best], budget), on=SETTING_KEYS, how="left"
    )
    return rows.assign(budget=budget)


def budget_table(
    runs: pd.DataFrame,
    debias: pd.DataFrame,
    learner_dropout: pd.DataFrame,
    gen_gap: pd.DataFrame,
    studies: dict[str, dict],
    alpha: float,
    stability: bool = True,
) -> pd.DataFrame:
    """For each budget study (experiment -> {"budgets": [...], "epochs": E}) and budget: the
    claims' primary rows at that budget (``claims_at``). ``stability``: the claims' leave-one-seed-out
    verdicts (``fragile``), one more pass per seed and budget."""
    parts = []
    for experiment, study in studies.items():
        frames = [
            f[f["experiment"] == experiment] for f in (runs, debias, learner_dropout, gen_gap)
        ]
        if frames[0].empty:
            continue
        for budget in study["budgets"]:
            parts.append(claims_at(frames, budget, study["epochs"], alpha, stability))
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    table = pd.concat(parts, ignore_index=True)[COLUMNS]
    return table.sort_values(
        ["experiment", "claim", "model", "aggregation", "members", "endpoint", "budget"],
        kind="stable",
    ).reset_index(drop=True)


def verdict_changes(table: pd.DataFrame, budget: int, other: int) -> pd.DataFrame:
    """The primary rows whose verdict at ``other`` differs from that at ``budget`` (both
    evaluated)."""
    keys = ["experiment", "claim", *SETTING_KEYS[1:], "endpoint"]
    wide = table[table["budget"].isin([budget, other])].pivot_table(
        index=keys, columns="budget", values="verdict", aggfunc="first"
    )
    if budget not in wide or other not in wide:
        return wide.iloc[0:0].reset_index()
    evaluated = (wide[budget] != NOT_EVALUATED) & (wide[other] != NOT_EVALUATED)
    return wide[evaluated & (wide[budget] != wide[other])].reset_index()
