"""The calibration table (analysis.calibration_table) built from synthetic run directories."""

from __future__ import annotations

import math

import numpy as np
import pytest

from collusion import analysis

SELECTIONS = ["best_val", "last"]


def write_run(
    root, aggregation, beta, seed, test_outputs, y_test, best_outputs=None, dataset="digits"
):
    run_dir = (
        root
        / "runs"
        / "exp"
        / dataset
        / "mlp"
        / aggregation
        / f"M{test_outputs.shape[0]}"
        / f"beta{beta:g}"
        / f"seed{seed}"
    )
    run_dir.mkdir(parents=True)
    best = test_outputs if best_outputs is None else best_outputs
    np.savez(
        run_dir / "predictions.npz",
        y_test=y_test,
        y_val=y_test,
        best_epoch=np.array(1),
        last_epoch=np.array(2),
        best_val_test=best.astype(np.float32),
        last_test=test_outputs.astype(np.float32),
        best_val_val=best.astype(np.float32),
        last_val=test_outputs.astype(np.float32),
    )
    return str(run_dir)


@pytest.fixture
def table(tmp_path):
    rng = np.random.default_rng(0)
    y = np.array([0, 0, 0, 1])
    # two identical learners predicting (0.7, 0.3) everywhere: accuracy 3/4 at confidence 0.7
    known = np.log(np.tile([0.7, 0.3], (2, 4, 1)))
    dirs = [write_run(tmp_path, "score", 0, 0, known, y)]
    dirs += [
        write_run(tmp_path, "score", 1, s, rng.normal(size=(3, 6, 3)), np.array([0, 1, 2, 0, 1, 2]))
        for s in (0, 1, 2)
    ]
    # probability averaging; seed 1 has no best_val predictions (NaN, as train.py writes them)
    prob = [rng.normal(size=(3, 6, 3)) for _ in range(2)]
    dirs.append(write_run(tmp_path, "probability", 1, 0, prob[0], np.arange(6) % 3))
    dirs.append(
        write_run(
            tmp_path, "probability", 1, 1, prob[1], np.arange(6) % 3, np.full((3, 6, 3), np.nan)
        )
    )
    # regression with each seed's own test split: different labels
    dirs += [
        write_run(
            tmp_path,
            "regression",
            1,
            s,
            rng.normal(size=(3, 5, 1)),
            rng.normal(size=5),
            dataset="diabetes",
        )
        for s in (0, 1)
    ]
    return analysis.calibration_table(dirs, SELECTIONS), dirs


def test_one_row_per_run_and_selection_with_the_documented_columns(table):
    frame, dirs = table
    assert len(frame) == len(dirs) * len(SELECTIONS)
    assert list(frame.columns) == analysis.RUN_KEYS + ["selection"] + analysis.CALIBRATION_COLUMNS
    assert (frame["ece_bins"] == 15).all()


def test_known_predictions_give_hand_computed_metrics(table):
    frame, _ = table
    row = frame[
        (frame["aggregation"] == "score") & (frame["beta"] == 0) & (frame["selection"] == "last")
    ].iloc[0]
    assert row["ece"] == pytest.approx(0.05, abs=1e-6)  # |0.75 − 0.7|, float32 logits
    assert row["brier"] == pytest.approx((3 * 0.18 + 0.98) / 4, abs=1e-6)
    assert row["nll"] == pytest.approx(-(3 * math.log(0.7) + math.log(0.3)) / 4, abs=1e-6)
    assert row["disagreement"] == 0.0
    assert row["wood_diversity"] == pytest.approx(0.0, abs=1e-7)
    assert row["wood_ensemble_loss"] == pytest.approx(row["nll"], abs=1e-9)
    # a single seed: its member centroids are its members, so no variance
    assert row["wood_seeds"] == 1 and row["wood_variance"] == pytest.approx(0.0, abs=1e-9)


def test_wood_terms_sum_to_the_loss_per_run_and_over_seeds(table):
    frame, _ = table
    classified = frame[frame["aggregation"] != "regression"].dropna(subset=["wood_ensemble_loss"])
    np.testing.assert_allclose(
        classified["wood_ensemble_loss"],
        classified["wood_member_loss"] - classified["wood_diversity"],
        atol=1e-9,
    )
    score = frame[(frame["aggregation"] == "score")]
    # score averaging: the geometric-mean ensemble is the run's ensemble, so its loss is the NLL
    np.testing.assert_allclose(score["wood_ensemble_loss"], score["nll"], rtol=1e-9)
    joint = score[score["beta"] == 1]
    for _, group in joint.groupby("selection"):
        assert (group["wood_seeds"] == 3).all() and group["wood_bias"].nunique() == 1
        assert group["wood_ensemble_loss"].mean() == pytest.approx(
            group["wood_bias"].iloc[0]
            + group["wood_variance"].mean()
            - group["wood_diversity"].mean(),
            rel=1e-9,
        )
        assert (group["wood_variance"] > 0).all()


def test_missing_predictions_and_differing_test_sets_leave_nan_not_numbers(table):
    frame, _ = table
    prob = frame[frame["aggregation"] == "probability"]
    missing = prob[(prob["seed"] == 1) & (prob["selection"] == "best_val")].iloc[0]
    assert missing[["ece", "brier", "nll", "disagreement", "wood_ensemble_loss"]].isna().all()
    assert prob[prob["selection"] == "best_val"]["wood_bias"].isna().all()  # one trial missing
    last = prob[prob["selection"] == "last"]
    assert last["wood_bias"].notna().all() and (last["wood_seeds"] == 2).all()
    # probability averaging: the NLL is −log of the mean probability, not the geometric ensemble's
    assert not np.allclose(last["nll"], last["wood_ensemble_loss"])
    regression = frame[frame["aggregation"] == "regression"]
    assert (
        regression[["ece", "brier", "nll", "disagreement", "wood_bias", "wood_variance"]]
        .isna()
        .all()
        .all()
    )
    assert regression["wood_diversity"].notna().all()  # squared-loss ambiguity, per run


def test_regression_wood_terms_are_the_papers_decomposition(table):
    import torch

    from collusion import objective

    frame, dirs = table
    for run_dir in dirs[-2:]:
        outputs, y = analysis.load_predictions(run_dir, "last")
        parts = {
            key: value.item()
            for key, value in objective.decomposition(
                torch.as_tensor(outputs, dtype=torch.float64), torch.as_tensor(y), "regression"
            ).items()
        }
        seed = int(run_dir.rsplit("seed", 1)[1])
        row = frame[
            (frame["aggregation"] == "regression")
            & (frame["seed"] == seed)
            & (frame["selection"] == "last")
        ].iloc[0]
        assert row["wood_ensemble_loss"] == pytest.approx(parts["L_ens"], rel=1e-6)
        assert row["wood_diversity"] == pytest.approx(parts["DIV"], rel=1e-6)
