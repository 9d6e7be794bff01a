"""The training loop's recipe features, on tiny synthetic data written in the prepared format."""

import math
import re

import numpy as np
import pandas as pd
import pytest

from collusion.data.prepared import load_dataset, save_prepared
from collusion.progress import duration
from collusion.spec import Recipe, RunSpec
from collusion.train import Trainer


def classification_data(tmp_path, n=60, classes=10):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    y = rng.integers(0, classes, n)
    save_prepared(tmp_path / "c.npz", X=X, y=y, task="classification", n_classes=classes)
    return load_dataset(tmp_path / "c.npz", [0.6, 0.2, 0.2], 0)


def regression_data(tmp_path, n=60):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, 3)).astype(np.float32)
    y = (X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=n)).astype(np.float32)
    save_prepared(tmp_path / "r.npz", X=X, y=y, task="regression", n_classes=0)
    return load_dataset(tmp_path / "r.npz", [0.6, 0.2, 0.2], 0)


def spec(aggregation="score", beta=1.0, **recipe):
    return RunSpec(
        "mlp",
        {"hidden": [8]},
        aggregation,
        3,
        beta,
        0,
        Recipe(**{"epochs": 4, "lr": 0.01, **recipe}),
    )


def fit(run_spec, data, run_dir, **kwargs):
    trainer = Trainer(run_spec, data, run_dir, checkpoint_seconds=0, **kwargs)
    trainer.fit(log=lambda message: None)
    return trainer


@pytest.mark.slow
def test_history_has_the_decomposition_for_every_split_and_learner(tmp_path):
    trainer = fit(spec(), classification_data(tmp_path), tmp_path / "run")
    history = pd.DataFrame(trainer.history)
    assert list(history["epoch"]) == [1, 2, 3, 4]
    for split in ("train", "val", "test"):
        np.testing.assert_allclose(
            history[f"{split}_DIV"], history[f"{split}_L_ind"] - history[f"{split}_L_ens"]
        )
        members = np.mean([history[f"{split}_L_member{j}"] for j in range(3)], axis=0)
        np.testing.assert_allclose(history[f"{split}_L_ind"], members, rtol=1e-6)
        assert (
            history[f"{split}_acc5"] >= history[f"{split}_acc"]
        ).all()  # 10 classes: top-5 logged
    assert trainer.status == "completed"


def test_summed_logits_at_beta_zero_train_the_learners_of_score_averaging(tmp_path):
    """β = 0 trains the learners' own losses under both aggregations: the same learners, epoch by
    epoch, bit for bit; the ensembles predict alike and differ in their loss only."""
    data = classification_data(tmp_path)
    score = pd.DataFrame(fit(spec("score", 0.0), data, tmp_path / "score").history)
    summed = pd.DataFrame(fit(spec("sum", 0.0), data, tmp_path / "sum").history)
    members = [c for c in score if "member" in c or c.endswith("L_ind")]
    pd.testing.assert_frame_equal(score[members], summed[members])
    pd.testing.assert_series_equal(score["test_acc"], summed["test_acc"])
    assert not np.allclose(score["test_L_ens"], summed["test_L_ens"])
    joint = fit(spec("sum", 1.0), data, tmp_path / "joint")
    assert (
        joint.status == "completed" and np.isfinite(pd.DataFrame(joint.history)["test_L_ens"]).all()
    )


@pytest.mark.slow
def test_early_stopping_stops_after_the_patience_without_improvement(tmp_path):
    trainer = fit(
        spec(epochs=20, lr=0.0, early_stopping=2), classification_data(tmp_path), tmp_path / "run"
    )
    # lr = 0: the best validation loss is the first period's; two more without improvement, stop
    assert (
        trainer.epoch == 3 and trainer.status == "completed" and trainer.runs[0].best["epoch"] == 1
    )


def test_plateau_schedule_lowers_the_rate_after_the_patience(tmp_path):
    run_spec = spec(
        epochs=6, lr=1e-6, optimizer="sgd", schedule="plateau", plateau_patience=1, gamma=0.5
    )
    trainer = fit(run_spec, classification_data(tmp_path), tmp_path / "run")
    rates = [row["lr"] for row in trainer.history]
    assert (
        rates[0] == pytest.approx(1e-6) and rates[-1] < rates[0]
    )  # improvements < 1e-4 relative do not count


@pytest.mark.slow
def test_multistep_schedule_follows_the_milestones(tmp_path):
    trainer = fit(
        spec(epochs=4, milestones=[2, 3], gamma=0.1),
        classification_data(tmp_path),
        tmp_path / "run",
    )
    assert [row["lr"] for row in trainer.history] == pytest.approx([0.01, 0.01, 0.001, 0.0001])


@pytest.mark.slow
def test_periods_of_n_steps_and_resume_within_an_epoch(tmp_path):
    data = classification_data(tmp_path)  # 36 training examples, batch 8: 4.5 steps per epoch
    run_spec = spec(epochs=5, batch_size=8, eval_every_steps=3)
    reference = fit(run_spec, data, tmp_path / "reference")

    class Crash(Exception):
        pass

    def crash_after_period_2(message):
        if message.startswith("epoch 2/"):
            raise Crash

    crashed = Trainer(run_spec, data, tmp_path / "crashed", checkpoint_seconds=0)
    with pytest.raises(Crash):
        crashed.fit(log=crash_after_period_2)
    resumed = fit(run_spec, data, tmp_path / "crashed")
    drop = ["seconds"]
    pd.testing.assert_frame_equal(
        pd.DataFrame(resumed.history).drop(columns=drop),
        pd.DataFrame(reference.history).drop(columns=drop),
    )


@pytest.mark.slow
def test_one_log_line_per_epoch_with_elapsed_time_and_eta(tmp_path):
    lines = []
    trainer = Trainer(
        spec(epochs=3), classification_data(tmp_path), tmp_path / "run", checkpoint_seconds=0
    )
    trainer.fit(log=lines.append)
    pattern = (
        r"epoch (\d)/3 seed 0, β 1: L_β \S+, val L_ens \S+, test L_ens \S+, test DIV \S+ "
        r"\(\d+\.\d\ds, elapsed (\d+)s, eta (\d+)s\)"
    )
    matches = [re.fullmatch(pattern, line) for line in lines]
    assert all(matches), lines
    assert [int(m.group(1)) for m in matches] == [1, 2, 3]
    assert int(matches[-1].group(3)) == 0  # nothing left after the last epoch
    # a pack: one line per epoch, each β's values in it
    lines = []
    Trainer(
        [spec(beta=0.0, epochs=2), spec(beta=1.0, epochs=2)],
        classification_data(tmp_path),
        tmp_path / "pack",
        checkpoint_seconds=0,
    ).fit(log=lines.append)
    assert [line.split(": L_β")[0] for line in lines] == [
        "epoch 1/2 seed 0, β [0 1]",
        "epoch 2/2 seed 0, β [0 1]",
    ]


def test_durations_in_log_lines():
    assert [duration(s) for s in (0, 6.4, 59.6, 125, 3599, 3720, 90000)] == [
        "0s",
        "6s",
        "1m00s",
        "2m05s",
        "59m59s",
        "1h02m",
        "25h00m",
    ]


def test_train_metrics_on_a_fixed_subset(tmp_path):
    data = classification_data(tmp_path)
    trainer = Trainer(spec(eval_train_subset=10), data, tmp_path / "run")
    assert len(trainer.pack.groups[0].train_eval) == 10 and len(data.train) == 36


@pytest.mark.slow
def test_beta_above_one_is_recorded_as_diverged(tmp_path):
    run_spec = spec("regression", beta=3.0, epochs=200, lr=0.05, divergence_limit=100.0)
    trainer = fit(run_spec, regression_data(tmp_path), tmp_path / "run")
    assert trainer.status == "diverged" and trainer.epoch < 200
    assert trainer.history[-1]["train_DIV"] > 100
    trainer.write_outputs(tmp_path / "run" / "history.csv", tmp_path / "run" / "predictions.npz")
    assert len(pd.read_csv(tmp_path / "run" / "history.csv")) == trainer.epoch


@pytest.mark.slow
def test_a_different_spec_does_not_resume_from_a_foreign_checkpoint(tmp_path):
    data = classification_data(tmp_path)
    fit(spec(epochs=2), data, tmp_path / "run")
    other = fit(spec(epochs=3, lr=0.02), data, tmp_path / "run")
    assert [row["epoch"] for row in other.history] == [1, 2, 3]
    assert other.history[0]["lr"] == pytest.approx(0.02)


def test_aggregation_must_fit_the_task(tmp_path):
    with pytest.raises(ValueError, match="does not fit a regression dataset"):
        Trainer(spec("score"), regression_data(tmp_path), tmp_path / "run")


def test_history_csv_reads_back_exactly(tmp_path):
    from collusion.record import write_history

    history = [
        {"epoch": 1, "lr": 0.01, "train_DIV": 0.1 + 0.2, "test_L_ens": math.inf},
        {"epoch": 2, "lr": 0.01, "train_DIV": math.nan, "test_L_ens": 1 / 3},
    ]
    write_history(tmp_path / "history.csv", history)
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "history.csv"), pd.DataFrame(history), check_exact=True
    )
