"""Claim verdicts are computed from the numbers: synthetic run tables with known answers."""

import numpy as np
import pandas as pd
import pytest

from collusion import analysis, claims

BETAS = (0.0, 0.5, 1.0)


def setting(model="m", aggregation="score", experiment="e"):
    return {
        "experiment": experiment,
        "dataset": "d",
        "model": model,
        "aggregation": aggregation,
        "members": 5,
    }


def synthetic(settings, effect=0.0, seeds=10, seed=0, noise=1.0):
    """Runs, debias and dropout tables. Every endpoint is a per-seed baseline plus noise, plus
    ``effect`` × β in the paper's direction (``effect`` = 0: the null)."""
    rng = np.random.default_rng(seed)
    runs, debias, dropout = [], [], []
    for key in settings:
        for s in range(seeds):
            base = rng.normal(size=8)
            for beta in BETAS:
                for selection in ("best_val", "last"):
                    e = rng.normal(scale=noise, size=8)
                    shift = effect * beta
                    run = {
                        **key,
                        "beta": beta,
                        "seed": s,
                        "selection": selection,
                        "status": "completed",
                    }
                    error = 0.3 + 0.01 * (base[0] + e[0]) + 0.05 * shift
                    runs.append(
                        {
                            **run,
                            "test_error": error,
                            "val_error": error + 0.01 * e[1],
                            "test_L_ens": 1.0 + 0.05 * (base[2] + e[2]) + 0.2 * shift,
                            "val_L_ens": 1.0 + 0.05 * (base[2] + e[3]),
                            "test_DIV": 0.1 * np.exp(0.1 * (base[4] + e[4]) + 2 * shift),
                            "train_DIV": 0.1 * np.exp(0.1 * (base[4] + e[5]) + 2 * shift),
                            "gen_gap": 0.2 + 0.02 * (base[5] + e[5]) + 0.1 * shift,
                            "test_learner_error": error + 0.01 + 0.001 * e[6] + 0.1 * shift,
                            "learner_gap_dynamics": 1.0 + 0.3 * (base[7] + e[7]) + 10 * shift,
                        }
                    )
                    debias.append({**run, "DIV_decrease_pct": 5 + base[6] + e[6] + 60 * shift})
                    for fraction in (0.2, 0.4):
                        dropout.append(
                            {
                                **run,
                                "fraction": fraction,
                                "increase": 0.01 * np.exp(0.1 * (base[3] + e[3]) + 2 * shift),
                            }
                        )
    return pd.DataFrame(runs), pd.DataFrame(debias), pd.DataFrame(dropout)


def rows_of(tables, alpha=0.05):
    return claims.claim_rows(*tables, alpha=alpha)


def primary(rows):
    return rows[rows["primary"]]


EIGHT = [setting(f"m{i}", agg) for i in range(4) for agg in ("score", "probability")]


def test_a_null_table_supports_no_claim():
    rows = rows_of(synthetic(EIGHT, effect=0.0, seed=0))
    assert not (primary(rows)["verdict"] == "supported").any()
    verdicts = claims.summary(rows).set_index("claim")["verdict"]
    assert not verdicts.isin(["supported", "mixed"]).any(), verdicts


def test_a_strong_effect_is_supported_everywhere():
    rows = rows_of(synthetic(EIGHT, effect=1.0, seed=1))
    verdicts = claims.summary(rows).set_index("claim")["verdict"]
    for claim in (1, 2, 3, 5, 6):
        assert verdicts[claim] == "supported", claim
    # claim 4 is n/a under probability averaging and supported under score averaging
    assert verdicts[4] == "supported"
    c4 = primary(rows)[primary(rows)["claim"] == 4]
    assert set(c4.loc[c4["aggregation"] == "probability", "verdict"]) == {"n/a"}


def test_a_strong_opposite_effect_is_contradicted():
    rows = rows_of(synthetic([setting()], effect=-1.0, seed=2))
    row = rows.query("claim == 1 and endpoint == 'test_error' and selection == 'best_val'").iloc[0]
    assert row["verdict"] == "contradicted" and row["diff_mean"] < 0
    assert claims.summary(rows).set_index("claim").loc[1, "verdict"] == "contradicted"


def test_every_contract_column_is_there():
    rows = rows_of(synthetic([setting()], effect=1.0))
    contract = [
        "claim",
        "experiment",
        "dataset",
        "model",
        "aggregation",
        "members",
        "selection",
        "endpoint",
        "primary",
        "n_seeds",
        "beta0_mean",
        "beta1_mean",
        "diff_mean",
        "ci_low",
        "ci_high",
        "effect",
        "threshold",
        "p_exact",
        "p_t",
        "p_holm",
        "p_bh",
        "verdict",
        "n_diverged",
        "per_seed",
        "note",
    ]
    assert set(contract) <= set(rows.columns)
    assert set(rows["verdict"]) <= {
        "supported",
        "contradicted",
        "not significant",
        "n/a",
        "insufficient data",
    }
    assert not primary(rows)["selection"].eq("last").any()


def test_row_numbers_are_the_paired_seeds():
    runs, debias, dropout = synthetic([setting()], effect=0.3)
    rows = rows_of((runs, debias, dropout))
    row = rows.query("claim == 1 and endpoint == 'test_error' and selection == 'best_val'").iloc[0]
    mine = runs[runs["selection"] == "best_val"]
    a = mine[mine["beta"] == 0].set_index("seed")["test_error"]
    b = mine[mine["beta"] == 1].set_index("seed")["test_error"]
    assert row["beta0_mean"] == pytest.approx(a.mean()) and row["beta1_mean"] == pytest.approx(
        b.mean()
    )
    per_seed = [float(v) for v in row["per_seed"].split(";")]
    np.testing.assert_allclose(per_seed, (b - a).to_numpy(), rtol=1e-5)
    assert row["n_seeds"] == 10 and row["ci_low"] < row["diff_mean"] < row["ci_high"]


def test_identical_differences_with_two_seeds_are_insufficient_data():
    # the old t-test limit gave p = 0 for identical differences, so two seeds were "supported"
    runs, debias, dropout = synthetic([setting()], seeds=2, noise=0.0)
    runs.loc[runs["beta"] == 1, "test_error"] = (
        runs.loc[runs["beta"] == 0, "test_error"].to_numpy() + 0.1
    )
    rows = rows_of((runs, debias, dropout))
    row = rows.query("claim == 1 and endpoint == 'test_error' and selection == 'best_val'").iloc[0]
    assert row["p_exact"] == 0.5 and row["verdict"] == "insufficient data"


def test_diverged_runs_are_excluded_and_counted():
    runs, debias, dropout = synthetic([setting()], effect=1.0)
    diverged = (runs["beta"] == 1) & (runs["seed"] == 3)
    runs.loc[diverged, "status"] = "diverged"
    runs.loc[diverged, "test_error"] = -100.0  # a diverged run's numbers: would contradict claim 1
    rows = rows_of((runs, debias, dropout))
    row = rows.query("claim == 1 and endpoint == 'test_error' and selection == 'best_val'").iloc[0]
    assert row["n_seeds"] == 9 and row["n_diverged"] == 1 and "3" not in row["seeds"].split(";")
    assert row["verdict"] == "supported"
    # the diagnostics tables carry no status: it is joined from the runs
    c5 = rows.query(
        "claim == 5 and endpoint == 'dropout_increase' and selection == 'best_val'"
    ).iloc[0]
    assert c5["n_seeds"] == 9 and c5["n_diverged"] == 1


def test_classification_needs_both_primary_endpoints():
    runs, debias, dropout = synthetic([setting()], effect=1.0)
    # NLL: β = 1 differs from β = 0 by ±0.01 alternately over the seeds (mean difference 0)
    at0 = runs[runs["beta"] == 0].set_index(["seed", "selection"])["test_L_ens"]
    one = runs["beta"] == 1
    keys = list(zip(runs.loc[one, "seed"], runs.loc[one, "selection"]))
    runs.loc[one, "test_L_ens"] = [at0[k] + 0.01 * (-1) ** k[0] for k in keys]
    rows = rows_of((runs, debias, dropout))
    c1 = rows.query("claim == 1 and selection == 'best_val'").set_index("endpoint")
    assert (
        c1.loc["test_error", "verdict"] == "supported"
        and c1.loc["test_nll", "verdict"] != "supported"
    )
    assert set(c1["setting_verdict"]) == {"not significant"}
    assert claims.summary(rows).set_index("claim").loc[1, "verdict"] == "not supported"


def test_a_significant_but_small_diversity_growth_does_not_explode():
    runs, debias, dropout = synthetic([setting()], effect=1.0)
    runs["test_DIV"] = np.where(runs["beta"] == 1, 1.5, 1.0) * (
        0.1 + 0.001 * np.arange(len(runs)) % 7e-3
    )
    rows = rows_of((runs, debias, dropout))
    row = rows.query("claim == 2 and endpoint == 'test_DIV' and selection == 'best_val'").iloc[0]
    assert row["p_exact"] < 0.01 and row["effect"] == pytest.approx(1.5, rel=0.05)
    assert row["criterion_met"] in (False,)  # not None: the criterion was evaluated
    assert row["verdict"] == "not significant" and row["threshold"] == claims.RATIO_3.text
    assert "effect-size criterion fails" in row["note"]


def test_summary_counts_every_setting_and_names_where():
    strong = synthetic([setting("good")], effect=1.0, seed=3)
    null = synthetic([setting("flat")], effect=0.0, seed=4)
    tables = [pd.concat([a, b], ignore_index=True) for a, b in zip(strong, null)]
    table = claims.summary(rows_of(tables)).set_index("claim")
    assert table.loc[1, "verdict"] == "mixed"
    assert table.loc[1, "supported"] == 1 and table.loc[1, "settings"] == 2
    assert "e/good/score/M5" in table.loc[1, "where supported"]
    assert "e/flat/score/M5" in table.loc[1, "where not significant"]


def test_claim_6_uses_the_dynamics_and_regression_is_claim_2():
    tables = synthetic([setting(), setting("r", "regression")], effect=1.0)
    rows = rows_of(tables)
    c6 = primary(rows)[primary(rows)["claim"] == 6].set_index("aggregation")
    assert (
        c6.loc["score", "endpoint"] == "learner_gap_dynamics"
        and c6.loc["score", "verdict"] == "supported"
    )
    assert c6.loc["regression", "verdict"] == "n/a" and "claim 2" in c6.loc["regression", "note"]


def test_intermediate_beta_is_chosen_on_validation_not_test():
    runs, debias, dropout = synthetic([setting()], effect=0.0, noise=0.0)
    # β = 0.5 looks best on validation only: its test error is unchanged, so it cannot win
    runs.loc[runs["beta"] == 0.5, "val_error"] -= 1.0
    rows = rows_of((runs, debias, dropout))
    row = rows.query("claim == 7 and endpoint == 'test_error' and selection == 'best_val'").iloc[0]
    assert "β*=0.5" in row["note"] and row["verdict"] != "supported"


def test_intermediate_beta_better_than_both_is_supported():
    runs, debias, dropout = synthetic([setting()], effect=0.0, noise=0.1)
    runs.loc[runs["beta"] == 0.5, ["test_error", "val_error"]] -= 0.05
    rows = rows_of((runs, debias, dropout))
    row = rows.query("claim == 7 and endpoint == 'test_error' and selection == 'best_val'").iloc[0]
    assert row["verdict"] == "supported" and row["effect"] > 0


def test_markdown_declares_the_primary_endpoints(tmp_path):
    rows = rows_of(synthetic([setting(), setting("r", "regression")], effect=1.0))
    claims.write_claims(rows, tmp_path / "claims.csv", tmp_path / "claims.md", alpha=0.05)
    text = (tmp_path / "claims.md").read_text()
    assert (
        "**Primary endpoints**" in text
        and "`learner_gap_dynamics`" in text
        and "ratio β1/β0" in text
    )
    for claim in range(1, 8):
        assert f"| {claim} |" in text
    back = pd.read_csv(tmp_path / "claims.csv", keep_default_na=False, na_values=[""])
    assert len(back) == len(rows) and "n/a" in set(back["verdict"])
    assert back["verdict"].tolist() == rows["verdict"].tolist()


def test_learner_gap_over_training_hand_computed():
    history = pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "val_acc": [0.8, 0.9, 1.0],
            "val_acc_member0": [0.6, 0.7, 1.0],
            "val_acc_member1": [0.8, 0.9, 1.0],
        }
    )
    # gaps 0.1, 0.1, 0.0 → 10 points up to epoch 2, 6.67 up to epoch 3
    assert analysis.learner_gap_over_training(history, 2, 2) == pytest.approx(10.0)
    assert analysis.learner_gap_over_training(history, 3, 2) == pytest.approx(20 / 3)


def test_too_few_seeds_everywhere_is_insufficient_data_not_a_verdict():
    rows = rows_of(synthetic([setting()], effect=1.0, seeds=4))  # 2/2⁴ = 0.125 > 0.05
    assert set(primary(rows)["verdict"]) <= {"insufficient data", "n/a"}
    verdicts = claims.summary(rows).set_index("claim")["verdict"]
    assert set(verdicts) == {"insufficient data"}
