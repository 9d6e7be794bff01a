"""The budget study: every primary verdict of the claims at several training budgets, from one run.

A recipe whose learning-rate schedule does not depend on the total number of epochs (a constant
lr, or ``multistep`` milestones at fixed epochs) trains the first E epochs of a long run exactly as
a run of E epochs would. So one run of the longest budget answers every shorter one: its history up
to epoch E, and its selections restricted to the first E epochs, ``best_val@E`` (the epoch of
lowest validation L_ens among epochs 1..E) and ``last@E`` (epoch E), are those of the E-epoch run.

A budget study is an experiment whose recipe stores such selections (``selection_horizons``; its
budgets are the horizons and its ``epochs``; ``collusion.figures.budget_studies``). For each budget
``budget_table`` relabels the selections at that budget as ``best_val`` and ``last`` and computes
the claims table on them (``collusion.claims``), keeping the primary rows (best_val), with, per
setting and budget, how far the learners had got: the β = 0 and β = 1 ensembles' and learners'
mean test accuracy, the median selected epoch, and the share of seeds whose selected epoch lies in
the last 10 % of the budget (``late``: a selection there says the run was still improving).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from .analysis import SETTING_KEYS
from .claims import COLUMNS as CLAIMS_COLUMNS
from .claims import claim_rows

SELECTION = re.compile(r"^(?P<rule>best_val|last)(?:@(?P<horizon>\d+))?$")
LATE_FRACTION = 0.1  # a selected epoch in the last 10 % of the budget is "late"
CONVERGENCE_COLUMNS = [
    f"{name}_beta{beta}"
    for beta in (0, 1)
    for name in ("acc", "learner_acc", "epoch", "late", "seeds")
]
# the claims table's columns (its primary rows: selection best_val within the budget)
COLUMNS = ["budget", *CLAIMS_COLUMNS, *CONVERGENCE_COLUMNS]


def selection_at(selection: str, budget: int, epochs: int) -> str:
    """The name of selection rule ``selection`` (best_val or last) restricted to the first
    ``budget`` epochs of a run of ``epochs``: the rule itself at the full budget, else
    ``<rule>@<budget>``."""
    if not 0 < budget <= epochs:
        raise ValueError(f"a budget lies in 1..{epochs} epochs, got {budget}")
    return selection if budget == epochs else f"{selection}@{budget}"


def late_epoch(epoch: float, budget: int) -> bool:
    """Whether a selected epoch lies in the last ``LATE_FRACTION`` of the budget (at least the
    last epoch itself)."""
    return bool(epoch > budget - max(1, math.ceil(LATE_FRACTION * budget)))


def at_budget(frame: pd.DataFrame, experiment: str, budget: int, epochs: int) -> pd.DataFrame:
    """The rows of ``experiment`` at ``budget``, their selections relabelled as best_val and last
    (the claims read those names)."""
    own = frame[frame["experiment"] == experiment]
    names = {selection_at(rule, budget, epochs): rule for rule in ("best_val", "last")}
    rows = own[own["selection"].isin(list(names))]
    return rows.assign(selection=rows["selection"].map(names))


def convergence(runs: pd.DataFrame, budget: int) -> pd.DataFrame:
    """Per setting (runs at best_val of one budget): at β = 0 and β = 1, the ensembles' and the
    learners' mean test accuracy (NaN for regression), the median selected epoch, the share of
    seeds whose selected epoch is late, and the seeds counted (runs that finished)."""
    done = runs[(runs["selection"] == "best_val") & (runs["status"] != "diverged")]
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


def budget_table(
    runs: pd.DataFrame,
    debias: pd.DataFrame,
    learner_dropout: pd.DataFrame,
    studies: dict[str, dict],
    alpha: float,
) -> pd.DataFrame:
    """For each budget study (experiment -> {"budgets": [...], "epochs": E}) and budget: the
    claims' primary rows (best_val at that budget) with the settings' convergence columns."""
    parts = []
    for experiment, study in studies.items():
        epochs = study["epochs"]
        for budget in study["budgets"]:
            frames = [
                at_budget(f, experiment, budget, epochs) for f in (runs, debias, learner_dropout)
            ]
            if frames[0].empty:
                continue
            claims = claim_rows(*frames, alpha)
            claims = claims[claims["primary"].astype(bool)]
            claims = claims.merge(convergence(frames[0], budget), on=SETTING_KEYS, how="left")
            parts.append(claims.assign(budget=budget))
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    table = pd.concat(parts, ignore_index=True)[COLUMNS]
    return table.sort_values(
        ["experiment", "claim", "model", "aggregation", "members", "endpoint", "budget"],
        kind="stable",
    ).reset_index(drop=True)


def verdict_changes(table: pd.DataFrame, budget: int, other: int) -> pd.DataFrame:
    """The primary rows whose verdict at ``other`` differs from that at ``budget``."""
    keys = ["experiment", "claim", *SETTING_KEYS[1:], "endpoint"]
    wide = table[table["budget"].isin([budget, other])].pivot_table(
        index=keys, columns="budget", values="verdict", aggfunc="first"
    )
    if budget not in wide or other not in wide:
        return wide.iloc[0:0].reset_index()
    return wide[wide[budget] != wide[other]].reset_index()
