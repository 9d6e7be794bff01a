"""Tidy tables built from run directories: one row per observation.

Per experiment (results/tables/<experiment>/):
    runs.csv      one row per (run, selection): metrics at the selected epoch
    debias.csv    one row per (run, selection): DIV before/after debiasing
    dropout.csv   one row per (run, selection, fraction): sub-ensemble error vs full ensemble
    gengap.csv    one row per (run, epoch): train and test ensemble loss and their gap
    dynamics.csv  one row per (run, epoch, split, learner): accuracy (or loss for regression)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .pipeline import Run, parse_run_dir

RUN_KEYS = ["experiment", "dataset", "model", "aggregation", "members", "beta", "seed"]
SETTING_KEYS = ["experiment", "dataset", "model", "aggregation", "members"]
METRICS = ("L_ens", "L_ind", "DIV", "acc", "acc5")


def run_key(run: Run) -> dict:
    return {key: getattr(run, key) for key in RUN_KEYS}


def read_history(run_dir: str | Path) -> pd.DataFrame:
    return pd.read_csv(Path(run_dir) / "history.csv")


def read_outcome(run_dir: str | Path) -> dict:
    return json.loads((Path(run_dir) / "provenance.json").read_text())["outcome"]


def selected_epoch(outcome: dict, selection: str) -> int | None:
    return outcome["best_epoch"] if selection == "best_val" else outcome["epochs_run"]


def error_metric(row: pd.Series | dict, split: str, aggregation: str) -> float:
    """The claims' headline metric: error rate for classification, MSE for regression."""
    if aggregation == "regression":
        return row[f"{split}_L_ens"]
    return 1.0 - row[f"{split}_acc"]


def mean_learner_error(row: pd.Series | dict, split: str, aggregation: str, members: int) -> float:
    if aggregation == "regression":
        return row[f"{split}_L_ind"]
    return float(np.mean([1.0 - row[f"{split}_acc_member{j}"] for j in range(members)]))


def runs_table(run_dirs: list[str], selections: list[str]) -> pd.DataFrame:
    rows = []
    for run_dir in run_dirs:
        run, history, outcome = parse_run_dir(run_dir), read_history(run_dir), read_outcome(run_dir)
        for selection in selections:
            epoch = selected_epoch(outcome, selection)
            row = {**run_key(run), "selection": selection, "epoch": epoch, "status": outcome["status"]}
            if epoch:
                record = history.loc[history["epoch"] == epoch].iloc[0]
                for split in ("train", "val", "test"):
                    for metric in METRICS:
                        column = f"{split}_{metric}"
                        if column in record:
                            row[column] = record[column]
                    row[f"{split}_error"] = error_metric(record, split, run.aggregation)
                    row[f"{split}_learner_error"] = mean_learner_error(
                        record, split, run.aggregation, run.members
                    )
                row["gen_gap"] = record["test_L_ens"] - record["train_L_ens"]
            rows.append(row)
    return pd.DataFrame(rows)


def load_predictions(run_dir: str | Path, selection: str, split: str = "test"):
    with np.load(Path(run_dir) / "predictions.npz") as archive:
        return archive[f"{selection}_{split}"], archive[f"y_{split}"]


def debias_table(run_dirs: list[str], selections: list[str]) -> pd.DataFrame:
    from . import diagnostics  # imports torch: only in the jobs that need it

    rows = []
    for run_dir in run_dirs:
        run = parse_run_dir(run_dir)
        for selection in selections:
            outputs, y = load_predictions(run_dir, selection)
            effect = diagnostics.debias_effect(outputs, y, run.aggregation)
            rows.append({**run_key(run), "selection": selection, **effect})
    return pd.DataFrame(rows)


def dropout_table(
    run_dirs: list[str], selections: list[str], fractions: list[float], subsets: int,
    authors_broadcast: bool = False,
) -> pd.DataFrame:
    from . import diagnostics

    rows = []
    for run_dir in run_dirs:
        run = parse_run_dir(run_dir)
        for selection in selections:
            outputs, y = load_predictions(run_dir, selection)
            full = diagnostics.ensemble_error(outputs, y, run.aggregation, authors_broadcast)
            for fraction in fractions:
                rng = np.random.default_rng([run.seed, int(round(fraction * 1000))])
                errors = diagnostics.learner_dropout(
                    outputs, y, run.aggregation, fraction, subsets, rng, authors_broadcast
                )
                rows.append({
                    **run_key(run), "selection": selection, "fraction": fraction,
                    "full_error": full, "dropout_error": errors.mean(),
                    "dropout_error_sd": errors.std(), "increase": errors.mean() - full,
                    "statistic": "authors_broadcast" if authors_broadcast else "per_sample",
                })
    return pd.DataFrame(rows)


def gengap_table(run_dirs: list[str]) -> pd.DataFrame:
    frames = []
    for run_dir in run_dirs:
        history = read_history(run_dir)
        frame = history[["epoch", "train_L_ens", "test_L_ens", "val_L_ens"]].copy()
        frame["gen_gap"] = frame["test_L_ens"] - frame["train_L_ens"]
        frames.append(frame.assign(**run_key(parse_run_dir(run_dir))))
    return pd.concat(frames, ignore_index=True)[RUN_KEYS + ["epoch", "train_L_ens", "val_L_ens", "test_L_ens", "gen_gap"]]


def dynamics_table(run_dirs: list[str]) -> pd.DataFrame:
    rows = []
    for run_dir in run_dirs:
        run, history = parse_run_dir(run_dir), read_history(run_dir)
        metric = "L" if run.aggregation == "regression" else "acc"
        for _, record in history.iterrows():
            for split in ("train", "val", "test"):
                ensemble_col = f"{split}_L_ens" if metric == "L" else f"{split}_acc"
                learners = {"ensemble": record[ensemble_col]}
                learners.update({f"member{j}": record[f"{split}_{metric}_member{j}"] for j in range(run.members)})
                for learner, value in learners.items():
                    rows.append({
                        **run_key(run), "epoch": int(record["epoch"]), "split": split,
                        "learner": learner, "metric": "loss" if metric == "L" else "accuracy",
                        "value": value,
                    })
    return pd.DataFrame(rows)


def divergence_table(run_dirs: list[str]) -> pd.DataFrame:
    frames = []
    for run_dir in run_dirs:
        history, outcome = read_history(run_dir), read_outcome(run_dir)
        frame = history[["epoch", "train_objective", "train_L_ens", "train_L_ind", "train_DIV", "test_L_ens"]].copy()
        frames.append(frame.assign(**run_key(parse_run_dir(run_dir)), status=outcome["status"]))
    columns = RUN_KEYS + ["status", "epoch", "train_objective", "train_L_ens", "train_L_ind", "train_DIV", "test_L_ens"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


CURVE_COLUMNS = [f"{split}_{metric}" for metric in ("L_ens", "L_ind", "DIV") for split in ("train", "val", "test")]


def curves_table(run_dirs: list[str]) -> pd.DataFrame:
    """One row per (run, epoch): train, validation and test L_ens, L_ind and DIV (the
    pseudo-diversity figure: train DIV against test DIV over training)."""
    frames = [read_history(run_dir)[["epoch", *CURVE_COLUMNS]].assign(**run_key(parse_run_dir(run_dir)))
              for run_dir in run_dirs]
    if not frames:
        return pd.DataFrame(columns=RUN_KEYS + ["epoch", *CURVE_COLUMNS])
    return pd.concat(frames, ignore_index=True)[RUN_KEYS + ["epoch", *CURVE_COLUMNS]]
