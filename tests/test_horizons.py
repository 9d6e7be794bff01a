"""Selection horizons: a run of N epochs with selection_horizons [E, …] records, as best_val@E and
last@E, exactly the selections (outputs, epochs, status) of the same run trained E epochs, so one
long run answers every shorter budget when the schedule does not depend on the total epochs."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from collusion import analysis, checks
from collusion.config_errors import validate
from collusion.data.prepared import save_prepared
from collusion.job import train
from collusion.pipeline import normalise_grid
from collusion.spec import Recipe, RunSpec, TrainingJob, check_recipe

SPLIT = {"fractions": [0.6, 0.2, 0.2], "seed": 0, "fixed": True}
RUN = "results/runs/e/diabetes/m/regression/M3/beta{beta:g}/seed0"


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(90, 4)).astype(np.float32)
    y = (X @ np.array([1.0, -1.0, 0.5, 2.0]) + 0.5 * rng.normal(size=90)).astype(np.float32)
    save_prepared(tmp_path / "r.npz", X=X, y=y, task="regression", n_classes=0)
    return str(tmp_path / "r.npz")


def spec(beta, **recipe):
    recipe = {"epochs": 8, "lr": 0.02, "batch_size": 16, "milestones": [2], "gamma": 0.5} | recipe
    return RunSpec("mlp", {"hidden": [8]}, "regression", 3, beta, 0, Recipe(**recipe)).to_dict()


def fit(root, data, betas, **recipe):
    """The runs of ``betas`` (a pack when several) under ``root``; their run directories."""
    from collusion.spec import Part

    run_dirs = [str(root / RUN.format(beta=beta)) for beta in betas]
    specs = [spec(beta, **recipe) for beta in betas]
    part = Part(specs, SPLIT, run_dirs, str(root / "pack"))
    train(TrainingJob([part], data, checkpoint_seconds=0))
    return run_dirs


def arrays(run_dir):
    with np.load(f"{run_dir}/predictions.npz") as archive:
        return {key: archive[key] for key in archive.files}


@pytest.mark.parametrize(
    "betas, recipe",
    [
        ([0.0, 1.0], {}),  # a pack, and an lr step before the first horizon
        ([0.0, 3.0], {"lr": 0.2, "divergence_limit": 5.0}),  # β = 3 diverges: before a horizon
        ([0.0], {"lr": 0.2, "early_stopping": 1}),  # stops at epoch 5: at one horizon, before 6
    ],
    ids=["pack with milestone", "diverged", "early stopping"],
)
def test_a_horizon_selects_exactly_what_a_run_of_that_many_epochs_selects(
    tmp_path, data, betas, recipe
):
    horizons = [3, 5, 6]
    long = fit(tmp_path / "long", data, betas, selection_horizons=horizons, **recipe)
    for horizon in horizons:
        short = fit(tmp_path / f"short{horizon}", data, betas, epochs=horizon, **recipe)
        for long_dir, short_dir in zip(long, short):
            got, expected = arrays(long_dir), arrays(short_dir)
            for split in ("val", "test"):
                for name in ("best_val", "last"):
                    np.testing.assert_array_equal(
                        got[f"{name}@{horizon}_{split}"], expected[f"{name}_{split}"]
                    )
            for name in ("best_epoch", "last_epoch"):
                assert got[f"{name}@{horizon}"] == expected[name], (long_dir, horizon, name)
            long_outcome = analysis.read_outcome(long_dir)
            short_outcome = analysis.read_outcome(short_dir)
            for name in ("best_val", "last"):
                assert analysis.selected(long_outcome, f"{name}@{horizon}") == analysis.selected(
                    short_outcome, name
                ), (long_dir, horizon, name)
            # the analyses read a horizon like any selection: the short run's rows, renamed
            rows = analysis.runs_table([long_dir], [f"best_val@{horizon}", f"last@{horizon}"])
            reference = analysis.runs_table([short_dir], ["best_val", "last"])
            pd.testing.assert_frame_equal(
                rows.drop(columns="selection"), reference.drop(columns="selection")
            )
            outputs, y = analysis.load_predictions(long_dir, f"last@{horizon}")
            np.testing.assert_array_equal(outputs, expected["last_test"])


def test_without_horizons_a_run_records_best_val_and_last_only(tmp_path, data):
    [run_dir] = fit(tmp_path, data, [0.0], epochs=2)
    assert sorted(arrays(run_dir)) == sorted(
        ["y_val", "y_test", "best_epoch", "last_epoch"]
        + [f"{name}_{split}" for name in ("best_val", "last") for split in ("val", "test")]
    )
    with pytest.raises(analysis.RunOutputError, match="records no selection best_val@1: add 1"):
        analysis.selected(analysis.read_outcome(run_dir), "best_val@1")


def test_horizons_are_checked_with_a_clear_error():
    recipe = Recipe(epochs=10, lr=0.1)
    check_recipe(dataclasses.replace(recipe, selection_horizons=[2, 5]), "score")
    for horizons, message in [
        ([10], r"selection_horizons \[10\] are not below epochs \(10\)"),
        ([3, 3], "must be distinct"),
        ([0], "whole numbers of periods >= 1"),
    ]:
        with pytest.raises(ValueError, match=message):
            check_recipe(dataclasses.replace(recipe, selection_horizons=horizons), "score")


def config(selections, horizons):
    config = validate(
        {
            "experiments": {
                "e": {
                    "dataset": "diabetes",
                    "models": ["m"],
                    "aggregations": ["regression"],
                    "ensemble_sizes": [2],
                    "betas": [0, 1],
                    "seeds": [0],
                    "recipe": "r",
                }
            },
            "models": {"m": {"arch": "mlp"}},
            "recipes": {"r": {"epochs": 10, "lr": 0.1, "selection_horizons": horizons}},
            "analysis": {"selections": selections},
        }
    )
    normalise_grid(config)
    return config


def test_the_configuration_checks_horizons_and_the_selections_that_read_them():
    checks.check_config(config(["best_val", "last@5"], [5]))
    with pytest.raises(checks.ConfigError, match=r"recipe 'r': selection_horizons \[12\]"):
        checks.check_config(config(["best_val"], [12]))
    with pytest.raises(
        checks.ConfigError, match=r"analysis.selections: last@4 .* add 4 to their selection_hor"
    ):
        checks.check_config(config(["last@4"], [5]))
    with pytest.raises(checks.ConfigError, match=r"analysis.selections.0: 'best@4'"):
        config(["best@4"], [4])
