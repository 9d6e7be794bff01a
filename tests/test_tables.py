"""Paper tables over runs: diverged runs are left out of every statistic and counted."""

import numpy as np
import pandas as pd
import pytest

from collusion import tables

KEY = {
    "experiment": "e",
    "dataset": "d",
    "model": "m",
    "aggregation": "regression",
    "members": 3,
    "selection": "last",
}


def runs(statuses):
    """Seeds 0..n−1 at β = 0 (error 1) and β = 1 (error 2 + seed/10), with the given β = 1 statuses."""
    rows = []
    for seed, status in enumerate(statuses):
        rows.append({**KEY, "beta": 0.0, "seed": seed, "test_error": 1.0, "status": "completed"})
        rows.append(
            {
                **KEY,
                "beta": 1.0,
                "seed": seed,
                "status": status,
                "test_error": 1e9 if status == "diverged" else 2.0 + seed / 10,
            }
        )
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
    table = tables.independent_vs_joint(
        runs(["completed", "diverged", "completed"]).assign(test_L_ens=1.0)
    )
    row = table.iloc[0]
    assert row["n"] == 2 and row["n_diverged"] == 1 and row["error_beta1"] == pytest.approx(2.1)


def test_divergence_table_counts_per_setting():
    history = []
    for seed, status in enumerate(["diverged", "completed", "diverged"]):
        for epoch in (1, 2):
            history.append(
                {
                    **{k: v for k, v in KEY.items() if k != "selection"},
                    "beta": 2.0,
                    "seed": seed,
                    "status": status,
                    "epoch": epoch,
                    "train_DIV": float(epoch),
                    "train_objective": 0.0,
                }
            )
    table = tables.divergence_summary(pd.DataFrame(history))
    assert (
        len(table) == 3
        and set(table["diverged_in_setting"]) == {2}
        and set(table["runs_in_setting"]) == {3}
    )
    assert set(table["epochs"]) == {2}


def calibration_rows(frame, **metrics):
    """calibration.csv rows for the runs of ``frame``: each metric = its value + seed (β = 0) or
    2 × value + seed (β = 1)."""
    rows = []
    for run in frame.itertuples(index=False):
        factor = 1 if run.beta == 0 else 2
        rows.append(
            {
                **KEY,
                "beta": run.beta,
                "seed": run.seed,
                **{name: factor * value + run.seed for name, value in metrics.items()},
            }
        )
    return pd.DataFrame(rows)


def test_sweep_table_shows_calibration_and_wood_terms_of_finished_runs():
    frame = runs(["completed", "diverged", "completed"])
    metrics = dict(
        ece=0.1,
        brier=0.2,
        nll=0.3,
        disagreement=0.4,
        wood_bias=0.5,
        wood_variance=0.6,
        wood_diversity=0.7,
    )
    full = tables.beta_sweep(frame, calibration_rows(frame, **metrics))
    summary = full.set_index("beta")
    for name, value in metrics.items():
        assert summary.loc[0.0, f"{name}_mean"] == pytest.approx(value + 1)  # seeds 0, 1, 2
        assert summary.loc[1.0, f"{name}_mean"] == pytest.approx(
            2 * value + 1
        )  # seeds 0, 2: seed 1 diverged
        assert summary.loc[1.0, f"{name}_sem"] == pytest.approx(1.0)  # SD √2 over 2 seeds
    assert summary.loc[1.0, "seeds"] == 2 and summary.loc[1.0, "diverged"] == 1
    assert list(tables.beta_sweep(frame).columns) == [
        c for c in full.columns if not c.startswith(tuple(metrics))
    ]


def test_diversity_table_puts_wood_terms_next_to_the_jensen_gap():
    frame = runs(["completed", "completed"]).assign(test_L_ens=1.0, test_L_ind=1.5, test_DIV=0.5)
    table = tables.diversity(
        frame,
        calibration_rows(
            frame, wood_diversity=0.5, wood_bias=1.0, wood_variance=0.1, disagreement=0.2
        ),
    )
    row = table.set_index("beta").loc[0.0]
    assert row["test_DIV_mean"] == 0.5 and row["wood_diversity_mean"] == pytest.approx(
        1.0
    )  # 0.5 + mean seed
    assert row["wood_bias_mean"] == pytest.approx(1.5) and row[
        "disagreement_mean"
    ] == pytest.approx(0.7)


def capacity_runs(differences):
    """Runs of experiment e: per (model, M), seeds with β = 0 error 0.3 and β = 1 error 0.3 + d;
    test DIV 0.1 at β = 0 and 0.1 × (1 + seed) at β = 1; learner error = error + 0.01 (β = 0) or
    + 0.2 (β = 1)."""
    rows = []
    for (model, members), diffs in differences.items():
        for seed, d in enumerate(diffs):
            for beta, error, div, gap in (
                (0.0, 0.3, 0.1, 0.01),
                (1.0, 0.3 + d, 0.1 * (1 + seed), 0.2),
            ):
                rows.append(
                    {
                        **KEY,
                        "selection": "best_val",
                        "aggregation": "score",
                        "model": model,
                        "members": members,
                        "beta": beta,
                        "seed": seed,
                        "status": "completed",
                        "epoch": 15 if beta and seed < 2 else 10,  # of 15: late from 14 on
                        "budget": 15,
                        "test_error": error,
                        "test_DIV": div,
                        "test_learner_error": error + gap,
                    }
                )
    return pd.DataFrame(rows)


def test_capacity_table_pairs_each_cell_and_adjusts_over_the_map():
    differences = {
        ("narrow", 2): [0.1, 0.2, 0.3, 0.4],
        ("narrow", 5): [0.1, -0.1, 0.1, -0.1],
        ("wide", 2): [0.01, 0.02, 0.03, 0.04],
        ("wide", 5): [0.0, 0.0, 0.0, 0.0],
    }
    frame = pd.concat([capacity_runs(differences), capacity_runs({("other", 2): [1.0, 1.0]})])
    table = tables.capacity(frame, {"e": {"narrow": 8, "wide": 64}})
    assert list(table.columns) == tables.CAPACITY_COLUMNS
    assert set(table["model"]) == {"narrow", "wide"}  # "other" is not in the study
    cells = table.set_index(["width", "members"])
    assert cells.loc[(8, 2), "diff_mean"] == pytest.approx(0.25)
    assert cells.loc[(8, 2), "wins_b"] == 4 and cells.loc[(8, 2), "n"] == 4
    assert cells.loc[(8, 2), "p_exact"] == pytest.approx(2 / 16)  # four positive differences
    assert cells.loc[(8, 5), "p_exact"] == pytest.approx(1.0)  # + − + −: sum 0
    # Holm over the map's 4 cells: 2/16 and 2/16 (the two all-positive cells) × 4, × 3; then 1
    assert cells.loc[(8, 2), "p_holm"] == pytest.approx(0.5) and cells.loc[
        (64, 2), "p_holm"
    ] == pytest.approx(0.5)
    assert cells.loc[(8, 5), "p_holm"] == 1.0
    assert cells.loc[(8, 2), "DIV_beta1"] == pytest.approx(0.25)  # 0.1 × mean(1, 2, 3, 4)
    assert cells.loc[(8, 2), "DIV_ratio"] == pytest.approx(2.5)
    assert cells.loc[(8, 2), "learner_gap_beta0"] == pytest.approx(0.01)
    assert cells.loc[(8, 2), "learner_gap_beta1"] == pytest.approx(0.2)
    # the under-training rule of the claims: seeds 0 and 1 of 4 select epoch 15 of 15 at β = 1
    assert cells.loc[(8, 2), "late_beta0"] == 0 and cells.loc[(8, 2), "late_beta1"] == 0.5
    assert table["under_trained"].tolist() == [True] * 4
    later = frame.assign(epoch=np.where(frame["epoch"] == 15, 14, frame["epoch"]))  # 14 > 13.5
    assert tables.capacity(later, {"e": {"narrow": 8, "wide": 64}})["under_trained"].all()
    earlier = frame.assign(epoch=np.where(frame["epoch"] == 15, 13, frame["epoch"]))
    assert not tables.capacity(earlier, {"e": {"narrow": 8, "wide": 64}})["under_trained"].any()
    at_end = tables.capacity(frame.assign(selection="last"), {"e": {"narrow": 8, "wide": 64}})
    assert at_end["late_beta1"].isna().all() and at_end["under_trained"].isna().all()
    assert tables.capacity(frame, {}).empty
    assert (table["verdict"] == "neither").all()  # no cell passes Holm at 4 seeds
    assert set(tables.capacity(frame, {"e": {"narrow": 8, "wide": 64}}, alpha=0.6)["verdict"]) == {
        "hurts",
        "neither",
    }


def test_capacity_flip_is_the_zero_crossing_of_the_seeds_mean_curve():
    """Four widths, 10 seeds with the same differences: d̄ = (−2, −1, +1, +3) points crosses zero
    halfway between 8 and 16 in log2 width (2^3.5); at M = 5 joint training hurts at every width
    (censored below 4); the interval of identical seeds is a point."""
    models = {"w4": 4, "w8": 8, "w16": 16, "w32": 32}
    curve = dict(zip(models, [-0.02, -0.01, 0.01, 0.03]))
    differences = {(m, 2): [curve[m]] * 10 for m in models}
    differences |= {(m, 5): [0.01 * (1 + s % 2) for s in range(10)] for m in models}
    table = tables.capacity_flip(capacity_runs(differences), {"e": models})
    assert list(table.columns) == tables.FLIP_COLUMNS
    at2 = table[table["members"] == 2].iloc[0]
    assert at2["flip_width"] == pytest.approx(2**3.5) and at2["n_seeds"] == 10
    assert at2["flip_low"] == at2["flip_high"] == pytest.approx(2**3.5)
    assert at2["flip"] == "11.3" and at2["widths"] == "4;8;16;32"
    # 10 equal signs: p = 2/1024, Holm over the map's 8 cells < 0.05
    assert at2["verdicts"] == "helps;helps;hurts;hurts"
    at5 = table[table["members"] == 5].iloc[0]
    assert at5["flip_width"] == 0 and at5["flip"] == "< 4" and at5["interval"] == "[< 4, < 4]"
