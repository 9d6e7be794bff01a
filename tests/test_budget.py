"""The budget study's table: the claims at each budget from one run's selections at shorter ones."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from collusion import budget

SEEDS = range(7)  # Holm over claim 1's two primary rows: 2 · 2/2^7 < 0.05


def runs_frame(epochs: int, short: int) -> pd.DataFrame:
    """One classification setting, β ∈ {0, 1}, seven seeds, selections at the full budget and at
    ``short``: β = 1 is worse than β = 0 at the short budget in every seed and better at the full
    one (β = 1 still improving), so claim 1 turns from supported to contradicted."""
    rows = []
    for seed in SEEDS:
        for beta in (0.0, 1.0):
            for selection, epoch, error in (
                (f"best_val@{short}", short - seed % 2, 0.10 + 0.05 * beta + 0.001 * seed),
                (f"last@{short}", short, 0.11 + 0.05 * beta),
                ("best_val", epochs - 3 * beta, 0.08 - 0.02 * beta + 0.001 * seed),
                ("last", epochs, 0.09 - 0.02 * beta),
            ):
                rows.append(
                    {
                        "experiment": "e",
                        "dataset": "d",
                        "model": "m",
                        "aggregation": "score",
                        "members": 5,
                        "beta": beta,
                        "seed": seed,
                        "selection": selection,
                        "epoch": epoch,
                        "status": "completed",
                        "budget": epochs,
                        "test_error": error,
                        "test_acc": 1.0 - error,
                        "test_learner_error": error + 0.1,
                        "test_L_ens": 10 * error,
                    }
                )
    return pd.DataFrame(rows)


EMPTY_DEBIAS = pd.DataFrame(
    columns=["experiment", "dataset", "model", "aggregation", "members", "beta", "seed"]
    + ["selection", "DIV_decrease_pct"]
)
EMPTY_DROPOUT = pd.DataFrame(columns=list(EMPTY_DEBIAS.columns[:-1]) + ["fraction", "increase"])
EMPTY_GEN_GAP = pd.DataFrame(columns=list(EMPTY_DEBIAS.columns[:-2]) + ["epoch", "gen_gap"])


def test_selection_names_at_a_budget():
    assert budget.selection_at("best_val", 20, 20) == "best_val"
    assert budget.selection_at("last", 10, 20) == "last@10"
    with pytest.raises(ValueError, match="budget"):
        budget.selection_at("best_val", 30, 20)


@pytest.mark.parametrize(
    ("epoch", "budget_", "late"),
    [(10, 10, True), (9, 10, False), (28, 30, True), (27, 30, False), (1, 1, True), (3, 4, False)],
)
def test_late_is_the_last_tenth_of_the_budget(epoch, budget_, late):
    assert budget.late_epoch(epoch, budget_) is late


def test_a_verdict_that_turns_with_the_budget():
    runs = runs_frame(epochs=20, short=10)
    study = {"e": {"budgets": [10, 20], "epochs": 20}}
    table = budget.budget_table(runs, EMPTY_DEBIAS, EMPTY_DROPOUT, EMPTY_GEN_GAP, study, alpha=0.05)
    error = table[(table["claim"] == 1) & (table["endpoint"] == "test_error")].set_index("budget")
    assert error.loc[10, "verdict"] == "supported"
    assert error.loc[20, "verdict"] == "contradicted"
    assert error.loc[10, "diff_mean"] == pytest.approx(0.05)
    assert error.loc[20, "diff_mean"] == pytest.approx(-0.02)
    changes = budget.verdict_changes(table, 10, 20)
    assert ("test_error", "supported", "contradicted") in set(
        zip(changes["endpoint"], changes[10], changes[20])
    )
    # how far the learners got: the best_val rows of each budget
    at10, at20 = error.loc[10], error.loc[20]
    assert at10["acc_beta0"] == pytest.approx(1 - np.mean([0.10 + 0.001 * s for s in SEEDS]))
    assert at20["learner_acc_beta1"] == pytest.approx(
        1 - np.mean([0.16 + 0.001 * s for s in SEEDS])
    )
    assert at10["epoch_beta0"] == 10  # seeds select epochs 10, 9, 10, … in turn
    assert at10["late_beta0"] == pytest.approx(4 / 7)  # only epoch 10 is late in 10 epochs
    assert at20["epoch_beta1"] == 17 and at20["late_beta1"] == 0.0
    assert at20["epoch_beta0"] == 20 and at20["late_beta0"] == 1.0


def test_the_full_budget_is_the_claims_table_of_the_run():
    from collusion.claims import build

    runs = runs_frame(epochs=20, short=10)
    study = {"e": {"budgets": [20], "epochs": 20}}
    table = budget.budget_table(runs, EMPTY_DEBIAS, EMPTY_DROPOUT, EMPTY_GEN_GAP, study, 0.05)
    plain = runs[runs["selection"].isin(["best_val", "last"])]
    claims = build(plain, EMPTY_DEBIAS, EMPTY_DROPOUT, EMPTY_GEN_GAP, 0.05)
    primary = claims.rows[claims.rows["primary"].astype(bool)]
    assert table["verdict"].tolist() == primary["verdict"].tolist()
    assert np.allclose(table["p_holm"], primary["p_holm"], equal_nan=True)
    pooled = claims.pooled[claims.pooled["primary"].astype(bool)]
    level = dict(zip(zip(pooled["claim"], pooled["endpoint"]), pooled["verdict"]))
    assert level  # claims 1, 2, …; claim 7 has no intermediate β here (n/a, no claim-level test)
    for row in table.itertuples():
        assert row.claim_level_verdict == level.get((row.claim, row.endpoint), np.nan) or (
            (row.claim, row.endpoint) not in level and pd.isna(row.claim_level_verdict)
        )


def outputs_at_full_budget(runs: pd.DataFrame):
    """Debiasing and learner-dropout rows of runs that saved their outputs at their full-budget
    selections only (no selection_horizons): β = 1 removes most DIV and loses more when learners
    are dropped, in every seed."""
    keys = ["experiment", "dataset", "model", "aggregation", "members", "beta", "seed"]
    full = runs[runs["selection"].isin(["best_val", "last"])][keys + ["selection"]]
    debias = full.assign(DIV_decrease_pct=80.0 * full["beta"] + 1.0 + 0.1 * full["seed"])
    dropout = full.assign(fraction=0.2, increase=0.01 + 0.1 * full["beta"] + 0.001 * full["seed"])
    return debias, dropout


def test_claims_read_from_saved_outputs_are_not_evaluated_where_the_runs_saved_none():
    runs = runs_frame(epochs=20, short=10)
    debias, dropout = outputs_at_full_budget(runs)
    study = {"e": {"budgets": [10, 20], "epochs": 20}}
    table = budget.budget_table(runs, debias, dropout, EMPTY_GEN_GAP, study, alpha=0.05)
    by_budget = {b: frame.set_index("claim") for b, frame in table.groupby("budget")}
    for claim, endpoint in ((4, "DIV_removed_pct"), (5, "dropout_increase")):
        short, full = by_budget[10].loc[[claim]], by_budget[20].loc[[claim]]
        assert short["verdict"].tolist() == [budget.NOT_EVALUATED]
        assert short["endpoint"].tolist() == [endpoint]
        assert short["claim_level_verdict"].tolist() == [budget.NOT_EVALUATED]
        assert "selection_horizons" in short["note"].iloc[0]
        assert "best_val@10" in short["note"].iloc[0]
        assert short["p_holm"].isna().all()
        # at the full budget the same claim is tested
        assert full["verdict"].iloc[0] in {"supported", "not significant", "insufficient data"}
        assert full["p_exact"].notna().all()
    # claim 1 reads the runs table: answered at both budgets
    assert (by_budget[10].loc[[1], "verdict"] != budget.NOT_EVALUATED).all()
    # a claim not evaluated at one budget is no verdict change
    changes = budget.verdict_changes(table, 10, 20)
    assert not {4, 5} & set(changes["claim"])
    # the figure marks them – and colours them apart
    from collusion.figures import budget as figure

    fig = figure.draw({"budget": table})
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts.count("–") == 4  # claims 4 and 5 at 10 epochs: the claim level and the setting


def test_no_budget_study_gives_an_empty_table():
    table = budget.budget_table(
        runs_frame(20, 10), EMPTY_DEBIAS, EMPTY_DROPOUT, EMPTY_GEN_GAP, {}, alpha=0.05
    )
    assert table.empty and list(table.columns) == budget.COLUMNS


def test_budget_studies_are_the_experiments_with_selection_horizons():
    from collusion.figures import budget_studies, has_budget_study

    recipe = {"epochs": 40, "lr": 0.01}
    config = {
        "experiments": {"long": {"recipe": "long"}, "plain": {"recipe": "plain"}},
        "recipes": {"long": {**recipe, "selection_horizons": [20, 10]}, "plain": recipe},
    }
    assert budget_studies(config) == {"long": {"budgets": [10, 20, 40], "epochs": 40}}
    assert has_budget_study(config)
    del config["experiments"]["long"]
    assert not has_budget_study(config)


def test_the_budget_figure_marks_every_verdict_and_says_when_there_is_no_study():
    from collusion.figures import budget as figure

    table = budget.budget_table(
        runs_frame(20, 10),
        EMPTY_DEBIAS,
        EMPTY_DROPOUT,
        EMPTY_GEN_GAP,
        {"e": {"budgets": [10, 20], "epochs": 20}},
        0.05,
    )
    fig = figure.draw({"budget": table})
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    # claim 1 (test error and NLL): supported at 10 epochs, contradicted at 20, at the claim level
    # and in the one setting; fragile († six seeds cannot pass Holm) and under-trained (u: every
    # seed's selected epoch is late)
    verdicts = [t for t in texts if t[:1] in "✓✗"]
    assert sorted(verdicts) == sorted(["✓†", "✗†", "✓†", "✗†", "✓†u", "✗†u", "✓†u", "✗†u"])
    assert len(texts) >= len(table)  # a mark per row, plus the setting's title
    empty = figure.draw({"budget": pd.DataFrame(columns=budget.COLUMNS)})
    assert "no budget study" in " ".join(t.get_text() for ax in empty.axes for t in ax.texts)


def test_the_budget_study_is_the_default_grid_at_four_times_its_budget():
    config_dir = Path(__file__).parents[1] / "config"
    default = yaml.safe_load((config_dir / "config.yaml").read_text())
    study = yaml.safe_load((config_dir / "budget.yaml").read_text())
    ((name, experiment),) = study["experiments"].items()
    grid = {k: v for k, v in experiment.items() if k != "recipe"}
    assert grid == {k: v for k, v in default["experiments"]["mnist1d"].items() if k != "recipe"}
    for model in experiment["models"]:
        assert study["models"][model] == default["models"][model]
    recipe = dict(study["recipes"][experiment["recipe"]])
    b = default["recipes"]["mnist1d"]["epochs"]
    assert recipe.pop("epochs") == 4 * b
    assert recipe.pop("selection_horizons") == [b // 2, b, 2 * b]
    assert recipe == {k: v for k, v in default["recipes"]["mnist1d"].items() if k != "epochs"}
    expected = ["best_val", "last"] + [
        f"{s}@{e}" for e in (b // 2, b, 2 * b) for s in ("best_val", "last")
    ]
    assert study["analysis"]["selections"] == expected


def test_figures_and_tables_of_a_budget_study_draw_the_whole_runs_selections():
    """A budget study's runs carry selections at shorter horizons (best_val@10): the figures and
    tables other than the budget's draw the whole run's (best_val, last). Before, the diversity,
    debias and beta_sweep_detail figures raised KeyError 'best_val@10' on config/budget.yaml."""
    from collusion import figures

    runs = runs_frame(20, 10).assign(test_DIV=0.1, test_nll=0.3, test_learner_acc=0.8)
    for name in ("diversity", "beta_sweep_detail"):
        fig = figures.draw(name, {"runs": runs})
        labels = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
        assert not any("@" in label for label in labels), (name, labels)
    assert figures.full_budget(runs)["selection"].isin(["best_val", "last"]).all()
    assert figures.full_budget(runs, horizons=True).equals(runs)
