"""Paper tables over runs: diverged runs are left out of every statistic and counted."""

import numpy as np
import pandas as pd
import pytest

from collusion import tables

KEY = {"experiment": "e", "dataset": "d", "model": "m", "aggregation": "regression", "members": 3,
       "selection": "last"}


def runs(statuses):
    """Seeds 0..n−1 at β = 0 (error 1) and β = 1 (error 2 + seed/10), with the given β = 1 statuses."""
    rows = []
    for seed, status in enumerate(statuses):
        rows.append({**KEY, "beta": 0.0, "seed": seed, "test_error": 1.0, "status": "completed"})
        rows.append({**KEY, "beta": 1.0, "seed": seed, "status": status,
                     "test_error": 1e9 if status == "diverged" else 2.0 + seed / 10})
    return pd.DataFrame(rows)


def test_paired_test_pairs_only_the_seeds_where_both_finished():
    frame = runs(["completed", "diverged", "completed", "completed"])
    row = tables.paired_test(frame, "test_error").iloc[0]
    assert row["n"] == 3 and row["n_diverged"] == 1 and row["seeds"] == "0;2;3"
    assert row["mean_b"] == pytest.approx(np.mean([2.0, 2.2, 2.3]))
    assert row["diff_mean"] == pytest.approx(np.mean([1.0, 1.2, 1.3]))
    assert row["p_exact"] == pytest.approx(2 / 8)  # three positive differences


def test_every_seed_diverged_leaves_an_empty_comparison():
    row = tables.paired_test(runs(["diverged", "diverged"]), "test_error").iloc[0]
    assert row["n"] == 0 and row["n_diverged"] == 2 and np.isnan(row["p_exact"])


def test_sweep_summary_leaves_out_and_counts_diverged_runs():
    frame = runs(["completed", "diverged", "completed"])
    summary = tables.beta_sweep(frame).set_index("beta")
    assert summary.loc[1.0, "test_error_mean"] == pytest.approx(2.1)
    assert summary.loc[1.0, "seeds"] == 2 and summary.loc[1.0, "diverged"] == 1
    assert summary.loc[0.0, "seeds"] == 3 and summary.loc[0.0, "diverged"] == 0


def test_independent_vs_joint_uses_finished_runs():
    table = tables.independent_vs_joint(runs(["completed", "diverged", "completed"]).assign(test_L_ens=1.0))
    row = table.iloc[0]
    assert row["n"] == 2 and row["n_diverged"] == 1 and row["error_beta1"] == pytest.approx(2.1)


def test_divergence_table_counts_per_setting():
    history = []
    for seed, status in enumerate(["diverged", "completed", "diverged"]):
        for epoch in (1, 2):
            history.append({**{k: v for k, v in KEY.items() if k != "selection"}, "beta": 2.0, "seed": seed,
                            "status": status, "epoch": epoch, "train_DIV": float(epoch), "train_objective": 0.0})
    table = tables.divergence_summary(pd.DataFrame(history))
    assert len(table) == 3 and set(table["diverged_in_setting"]) == {2} and set(table["runs_in_setting"]) == {3}
    assert set(table["epochs"]) == {2}
