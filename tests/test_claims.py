"""Claim verdicts are computed from the numbers: synthetic run tables with known answers."""

import numpy as np
import pandas as pd
import pytest

from collusion import claims

SETTING = {"experiment": "e", "dataset": "d", "model": "m", "aggregation": "regression", "members": 5, "selection": "last"}


def runs_table(beta1_shift, noise=0.01, seeds=6, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(seeds):
        base = 1.0 + 0.1 * rng.normal()
        for beta in (0.0, 0.5, 1.0):
            error = base + beta * beta1_shift + noise * rng.normal()
            rows.append({**SETTING, "beta": beta, "seed": s, "test_error": error, "val_error": error,
                         "test_L_ens": error, "test_DIV": 0.1 + beta * max(beta1_shift, 0) * 10,
                         "gen_gap": 0.1 + beta * beta1_shift, "test_learner_error": error + 0.1 + beta})
    return pd.DataFrame(rows)


def empty_extras():
    debias = pd.DataFrame(columns=[*SETTING, "beta", "seed", "DIV_decrease_pct"])
    dropout = pd.DataFrame(columns=[*SETTING, "beta", "seed", "increase"])
    return debias, dropout


def verdicts(runs):
    rows = claims.claim_rows(runs, *empty_extras(), alpha=0.05)
    return rows.set_index("claim")["verdict"]


def test_clear_degradation_is_supported():
    v = verdicts(runs_table(beta1_shift=0.5))
    assert v[1] == "supported" and v[2] == "supported" and v[3] == "supported"


def test_clear_improvement_contradicts_claim_1():
    v = verdicts(runs_table(beta1_shift=-0.5))
    assert v[1] == "contradicted"


def test_no_effect_is_not_significant():
    v = verdicts(runs_table(beta1_shift=0.0, noise=0.05))
    assert v[1] == "not significant"


def test_claim_numbers_match_the_table():
    runs = runs_table(beta1_shift=0.3)
    row = claims.claim_rows(runs, *empty_extras(), alpha=0.05).query("claim == 1").iloc[0]
    assert row["beta0"] == pytest.approx(runs.query("beta == 0")["test_error"].mean())
    assert row["beta1"] == pytest.approx(runs.query("beta == 1")["test_error"].mean())
    assert row["seeds"] == 6


def test_intermediate_beta_is_chosen_on_validation_not_test():
    runs = runs_table(beta1_shift=0.0, noise=0.0)
    # make β = 0.5 look best on validation only: its test error is unchanged, so it cannot win
    runs.loc[runs["beta"] == 0.5, "val_error"] -= 1.0
    row = claims.claim_rows(runs, *empty_extras(), alpha=0.05).query("claim == 7").iloc[0]
    assert "β*=0.5" in row["note"] and row["verdict"] != "supported"


def test_summary_counts_settings():
    table = claims.summary(claims.claim_rows(runs_table(0.5), *empty_extras(), alpha=0.05))
    assert table.set_index("claim").loc[1, "verdict"] == "supported"
    assert table.set_index("claim").loc[4, "verdict"] == "not tested"
