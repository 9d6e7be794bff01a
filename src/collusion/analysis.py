"""Tidy tables built from run directories: one row per observation.

Per experiment (results/tables/<experiment>/):
    runs.csv      one row per (run, selection): status, metrics at the selected epoch, and (classification)
                  the learners' accuracy gap to the ensemble averaged over training up to that epoch
    debias.csv    one row per (run, selection): DIV before/after debiasing
    learner_dropout.csv   one row per (run, selection, fraction): sub-ensemble error vs full ensemble
    gen_gap.csv    one row per (run, epoch): train and test ensemble loss and their gap
    dynamics.csv  one row per (run, epoch, split, learner): accuracy (or loss for regression)
    calibration.csv  one row per (run, selection): test ECE, Brier, NLL, disagreement, Wood's terms
    improvement.csv  one row per (classification run, selection): Theisen et al.'s ensemble
                  improvement rate and disagreement-error ratio on the test predictions
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from .pipeline import Run, parse_run_dir
from .spec import parse_selection

RUN_KEYS = ["experiment", "dataset", "model", "aggregation", "members", "beta", "seed"]
SETTING_KEYS = ["experiment", "dataset", "model", "aggregation", "members"]
GROUP = SETTING_KEYS + ["selection"]  # a setting at one checkpoint selection
METRICS = ("L_ens", "L_ind", "DIV", "acc", "acc5")


def finished(frame: pd.DataFrame) -> pd.DataFrame:
    """The runs that did not diverge (a diverged run's numbers are not a result to average)."""
    return frame[frame["status"] != "diverged"] if "status" in frame else frame


def run_key(run: Run) -> dict:
    return {key: getattr(run, key) for key in RUN_KEYS}


class RunOutputError(ValueError):
    """A run's output file is missing, cut short, or disagrees with the run's provenance."""


RERUN = "delete the run directory and rerun"
OUTCOME_KEYS = ("status", "epochs_run", "best_epoch")


def history_columns(run: Run) -> list[str]:
    """The history columns the analyses read."""
    columns = ["epoch", "train_objective"]
    for split in ("train", "val", "test"):
        columns += [f"{split}_L_ens", f"{split}_L_ind", f"{split}_DIV"]
        columns += [f"{split}_L_member{j}" for j in range(run.members)]
        if run.aggregation != "regression":
            columns += [f"{split}_acc"] + [f"{split}_acc_member{j}" for j in range(run.members)]
    return columns


def read_history(run_dir: str | Path) -> pd.DataFrame:
    """history.csv, checked: whole rows, the columns the analyses read, and one row per epoch
    that provenance.json says ran."""
    path = Path(run_dir) / "history.csv"
    try:
        text = path.read_text()
    except OSError as error:
        raise RunOutputError(f"{path} cannot be read ({error}); {RERUN}") from None
    lines = text.splitlines()
    if not lines or not text.endswith("\n"):
        raise RunOutputError(f"{path} ends in the middle of a row: the file was cut short; {RERUN}")
    fields = lines[0].count(",")
    for number, line in enumerate(lines[1:], start=1):
        if line.count(",") != fields:
            raise RunOutputError(
                f"{path}: row {number} has {line.count(',') + 1} fields but the header has "
                f"{fields + 1}: the file is corrupt; {RERUN}"
            )
    history = pd.read_csv(io.StringIO(text))
    missing = [c for c in history_columns(parse_run_dir(run_dir)) if c not in history.columns]
    if missing:
        raise RunOutputError(f"{path} lacks the columns {', '.join(missing)}; {RERUN}")
    epochs = read_outcome(run_dir)["epochs_run"]
    if len(history) != epochs:
        raise RunOutputError(
            f"{path} has {len(history)} rows but provenance.json says {epochs} epochs ran: the run "
            f"is incomplete; {RERUN}"
        )
    if history["epoch"].tolist() != list(range(1, epochs + 1)):
        raise RunOutputError(f"{path}: the epochs are not 1, 2, …, {epochs}; {RERUN}")
    return history


def read_provenance(run_dir: str | Path) -> dict:
    path = Path(run_dir) / "provenance.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise RunOutputError(
            f"{path} cannot be read ({type(error).__name__}: {error}); {RERUN}"
        ) from None


def read_outcome(run_dir: str | Path) -> dict:
    path = Path(run_dir) / "provenance.json"
    try:
        outcome = json.loads(path.read_text())["outcome"]
        missing = [key for key in OUTCOME_KEYS if key not in outcome]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise RunOutputError(
            f"{path} has no readable outcome ({type(error).__name__}: {error}); {RERUN}"
        ) from None
    if missing:
        raise RunOutputError(f"{path}: the outcome lacks {', '.join(missing)}; {RERUN}")
    return outcome


def selected(outcome: dict, selection: str) -> tuple[int | None, str]:
    """The epoch a selection chose (None: the run never had a best epoch) and the run's status
    there: its final status, or at a horizon (``best_val@E``, ``last@E``: the run restricted to its
    first E epochs, spec.SELECTIONS) the status it had then, as recorded in its outcome."""
    name, horizon = parse_selection(selection)
    if horizon is None:
        epoch = outcome["best_epoch"] if name == "best_val" else outcome["epochs_run"]
        return epoch, outcome["status"]
    try:
        chosen = outcome["selections"][selection]
    except KeyError:
        raise RunOutputError(
            f"the run records no selection {selection}: add {horizon} to its recipe's "
            "selection_horizons and retrain it"
        ) from None
    return chosen["epoch"], chosen["status"]


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
        provenance = read_provenance(run_dir)
        for selection in selections:
            epoch, status = selected(outcome, selection)
            row = {
                **run_key(run),
                "selection": selection,
                "epoch": epoch,
                "status": status,
                # the epochs the selection could choose from (periods with eval_every_steps): the
                # recipe's, or E at a horizon (@E); and where the run ran
                "budget": parse_selection(selection)[1]
                or provenance["config"]["run"]["recipe"]["epochs"],
                "device": provenance.get("device", "unknown"),
            }
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
                if run.aggregation != "regression":
                    row["learner_gap_dynamics"] = learner_gap_over_training(
                        history, epoch, run.members
                    )
            rows.append(row)
    return pd.DataFrame(rows)


def learner_gap_over_training(history: pd.DataFrame, epoch: int, members: int) -> float:
    """Claim 6's dynamics: the mean over epochs 1..``epoch`` of the ensemble's validation accuracy
    minus its learners' mean validation accuracy, in percentage points."""
    upto = history[history["epoch"] <= epoch]
    learners = upto[[f"val_acc_member{j}" for j in range(members)]].mean(axis=1)
    return float(100.0 * (upto["val_acc"] - learners).mean())


def load_predictions(run_dir: str | Path, selection: str, split: str = "test"):
    """Outputs (M, N, K) of one selection and the labels (N,), checked against the run's M and
    task."""
    path = Path(run_dir) / "predictions.npz"
    keys = (f"{selection}_{split}", f"y_{split}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            files = archive.files
            arrays = {key: archive[key] for key in keys if key in files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise RunOutputError(
            f"{path} cannot be read ({type(error).__name__}: {error}): the file is truncated or "
            f"corrupt; {RERUN}"
        ) from None
    absent = [key for key in keys if key not in arrays]
    if absent:
        raise RunOutputError(
            f"{path} has no array {', '.join(absent)} (it has {', '.join(files)}); {RERUN}"
        )
    outputs, y = arrays[keys[0]], arrays[keys[1]]
    run = parse_run_dir(run_dir)
    expected = f"({run.members}, {len(y)}, {1 if run.aggregation == 'regression' else 'K'})"
    bad = (
        y.ndim != 1
        or outputs.ndim != 3
        or outputs.shape[:2] != (run.members, len(y))
        or (run.aggregation == "regression" and outputs.shape[2] != 1)
        or (
            run.aggregation != "regression"
            and len(y)
            and not 0 <= y.min() <= y.max() < outputs.shape[2]
        )
    )
    if bad:
        raise RunOutputError(
            f"{path}: {keys[0]} has shape {outputs.shape} and {keys[1]} {y.shape}; a run of "
            f"{run.members} learners needs {expected} and ({len(y)},) (labels below K); {RERUN}"
        )
    return outputs, y


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


def learner_dropout_table(
    run_dirs: list[str],
    selections: list[str],
    fractions: list[float],
    subsets: int,
    authors_broadcast: bool = False,
) -> pd.DataFrame:
    """A fraction that drops nobody at this M (floor(f·M) = 0) gives no row: it measures nothing."""
    from . import diagnostics

    rows = []
    for run_dir in run_dirs:
        run = parse_run_dir(run_dir)
        for selection in selections:
            outputs, y = load_predictions(run_dir, selection)
            full = diagnostics.ensemble_error(outputs, y, run.aggregation, authors_broadcast)
            for fraction in fractions:
                dropped = diagnostics.dropped_learners(run.members, fraction)
                if dropped == 0:
                    continue
                rng = np.random.default_rng([run.seed, int(round(fraction * 1000))])
                errors, exact = diagnostics.learner_dropout(
                    outputs, y, run.aggregation, fraction, subsets, rng, authors_broadcast
                )
                rows.append(
                    {
                        **run_key(run),
                        "selection": selection,
                        "fraction": fraction,
                        "dropped": dropped,
                        "subsets": len(errors),
                        "all_subsets": exact,
                        "full_error": full,
                        "dropout_error": errors.mean(),
                        "dropout_error_sd": errors.std(),
                        "increase": errors.mean() - full,
                        "statistic": "authors_broadcast" if authors_broadcast else "per_sample",
                    }
                )
    columns = RUN_KEYS + [
        "selection",
        "fraction",
        "dropped",
        "subsets",
        "all_subsets",
        "full_error",
        "dropout_error",
        "dropout_error_sd",
        "increase",
        "statistic",
    ]
    return pd.DataFrame(rows, columns=columns)


def gen_gap_table(run_dirs: list[str]) -> pd.DataFrame:
    frames = []
    for run_dir in run_dirs:
        history = read_history(run_dir)
        frame = history[["epoch", "train_L_ens", "test_L_ens", "val_L_ens"]].copy()
        frame["gen_gap"] = frame["test_L_ens"] - frame["train_L_ens"]
        frames.append(frame.assign(**run_key(parse_run_dir(run_dir))))
    return pd.concat(frames, ignore_index=True)[
        RUN_KEYS + ["epoch", "train_L_ens", "val_L_ens", "test_L_ens", "gen_gap"]
    ]


def matched_gen_gap(gen_gap: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Claim 3 at a matched epoch: each run's generalisation gap at the epoch its setting's β = 0
    run of the same seed selected (``runs``' epoch, per selection), so that every β is compared
    after the same training. One row per (run, selection): ``matched_epoch``, ``gen_gap_matched``
    (NaN where the run stopped before that epoch)."""
    reference = runs[runs["beta"] == 0][SETTING_KEYS + ["seed", "selection", "epoch"]]
    reference = reference.rename(columns={"epoch": "matched_epoch"}).dropna()
    pairs = runs[RUN_KEYS + ["selection"]].merge(reference, on=SETTING_KEYS + ["seed", "selection"])
    gaps = gen_gap[RUN_KEYS + ["epoch", "gen_gap"]].rename(
        columns={"epoch": "matched_epoch", "gen_gap": "gen_gap_matched"}
    )
    pairs["matched_epoch"] = pairs["matched_epoch"].astype(int)
    return pairs.merge(gaps, on=RUN_KEYS + ["matched_epoch"], how="left")


def dynamics_table(run_dirs: list[str]) -> pd.DataFrame:
    rows = []
    for run_dir in run_dirs:
        run, history = parse_run_dir(run_dir), read_history(run_dir)
        metric = "L" if run.aggregation == "regression" else "acc"
        for _, record in history.iterrows():
            for split in ("train", "val", "test"):
                ensemble_col = f"{split}_L_ens" if metric == "L" else f"{split}_acc"
                learners = {"ensemble": record[ensemble_col]}
                learners.update(
                    {
                        f"member{j}": record[f"{split}_{metric}_member{j}"]
                        for j in range(run.members)
                    }
                )
                for learner, value in learners.items():
                    rows.append(
                        {
                            **run_key(run),
                            "epoch": int(record["epoch"]),
                            "split": split,
                            "learner": learner,
                            "metric": "loss" if metric == "L" else "accuracy",
                            "value": value,
                        }
                    )
    return pd.DataFrame(rows)


def divergence_table(run_dirs: list[str]) -> pd.DataFrame:
    frames = []
    for run_dir in run_dirs:
        history, outcome = read_history(run_dir), read_outcome(run_dir)
        frame = history[
            ["epoch", "train_objective", "train_L_ens", "train_L_ind", "train_DIV", "test_L_ens"]
        ].copy()
        frames.append(frame.assign(**run_key(parse_run_dir(run_dir)), status=outcome["status"]))
    columns = RUN_KEYS + [
        "status",
        "epoch",
        "train_objective",
        "train_L_ens",
        "train_L_ind",
        "train_DIV",
        "test_L_ens",
    ]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


CALIBRATION_COLUMNS = [
    "ece",
    "ece_bins",
    "brier",
    "nll",
    "disagreement",
    "wood_ensemble_loss",
    "wood_member_loss",
    "wood_diversity",
    "wood_bias",
    "wood_variance",
    "wood_seeds",
]


def calibration_table(run_dirs: list[str], selections: list[str]) -> pd.DataFrame:
    """calibration.csv: one row per (run, selection) on the test predictions.

    ``ece`` (``ece_bins`` equal-width bins), ``brier``, ``nll`` and ``disagreement`` of the ensemble
    as the run aggregates it (uncertainty.py; classification only, NaN for regression).
    ``wood_*``: Wood et al.'s decomposition (wood.py; cross-entropy with the geometric-mean
    combiner, squared loss for regression; summed logits: the members at temperature 1/M, whose
    centroid is the run's ensemble, ``wood.combined_outputs``). Per run: ``wood_ensemble_loss =
    wood_member_loss − wood_diversity``. Over the ``wood_seeds`` runs of one setting, β and selection (the trials):
    ``wood_bias`` (bias plus noise, which one label per example cannot separate) is common to
    them, ``wood_variance`` is this run's sample, and the seeds' means
    satisfy mean(wood_ensemble_loss) = wood_bias + mean(wood_variance) − mean(wood_diversity).
    Bias and variance are NaN where those runs' test sets differ (splits drawn with each run's seed,
    detected by their labels) or a run lacks the selection's predictions.
    """
    from . import uncertainty, wood  # uncertainty imports torch: only in the jobs that need it

    loaded, rows, trials = [], [], {}
    for run_dir in run_dirs:
        run = parse_run_dir(run_dir)
        for selection in selections:
            outputs, y = load_predictions(run_dir, selection)
            loss = "squared" if run.aggregation == "regression" else "cross_entropy"
            combined = wood.combined_outputs(outputs, run.aggregation)
            row = {**run_key(run), "selection": selection, "ece_bins": uncertainty.ECE_BINS}
            if np.isfinite(outputs).all():
                if loss == "cross_entropy":
                    probs = uncertainty.ensemble_probabilities(outputs, run.aggregation)
                    row["ece"] = uncertainty.expected_calibration_error(probs, y)
                    row["brier"] = uncertainty.brier_score(probs, y)
                    row["nll"] = uncertainty.negative_log_likelihood(probs, y)
                    row["disagreement"] = uncertainty.pairwise_disagreement(outputs)
                terms = wood.ambiguity(combined, y, loss)
                for name in ("ensemble_loss", "member_loss", "diversity"):
                    row[f"wood_{name}"] = float(terms[name].mean())
            trials.setdefault((run.setting, run.beta, selection), []).append(len(rows))
            loaded.append((combined, y, loss))
            rows.append(row)
    for indices in trials.values():
        outputs = [loaded[i][0] for i in indices]
        labels = [loaded[i][1] for i in indices]
        same_examples = all(
            o.shape == outputs[0].shape and np.array_equal(y, labels[0])
            for o, y in zip(outputs, labels)
        )
        if not same_examples or not all(np.isfinite(o).all() for o in outputs):
            continue
        terms = wood.decompose(np.stack(outputs), labels[0], loaded[indices[0]][2])
        for trial, i in enumerate(indices):
            rows[i].update(
                wood_bias=terms["bias"],
                wood_variance=float(terms["trial_variance"][trial]),
                wood_seeds=len(indices),
            )
    return pd.DataFrame(rows, columns=RUN_KEYS + ["selection"] + CALIBRATION_COLUMNS)


IMPROVEMENT_COLUMNS = [
    "member_error",
    "majority_vote_error",
    "vote_ties",
    "disagreement_rho2",
    "EIR",
    "DER",
    "competent",
    "ensemble_error",
    "ensemble_EIR",
]


def improvement_table(run_dirs: list[str], selections: list[str]) -> pd.DataFrame:
    """improvement.csv: one row per (classification run, selection) on the test predictions.

    Theisen et al.'s terms (theisen.py): the learners' mean error, the majority vote's error (ties
    broken at random, in expectation; ``vote_ties`` the share of tied examples), the disagreement of
    two learners drawn independently (``disagreement_rho2``), ``EIR`` and ``DER``, and whether the
    ensemble is ``competent``; beside them the run's own ensemble (its aggregation, not a vote):
    ``ensemble_error`` and ``ensemble_EIR`` = (member_error − ensemble_error) / member_error.
    NaN where the outputs are not finite (a diverged run); regression runs give no row.
    """
    from . import diagnostics, theisen  # diagnostics imports torch: only in the jobs that need it

    rows = []
    for run_dir in run_dirs:
        run = parse_run_dir(run_dir)
        if run.aggregation == "regression":
            continue
        for selection in selections:
            outputs, y = load_predictions(run_dir, selection)
            row = {**run_key(run), "selection": selection}
            if np.isfinite(outputs).all():
                row.update(theisen.terms(outputs.argmax(axis=-1), y))
                row["ensemble_error"] = diagnostics.ensemble_error(outputs, y, run.aggregation)
                row["ensemble_EIR"] = theisen.improvement_rate(
                    row["member_error"], row["ensemble_error"]
                )
            rows.append(row)
    return pd.DataFrame(rows, columns=RUN_KEYS + ["selection"] + IMPROVEMENT_COLUMNS)


CURVE_COLUMNS = [
    f"{split}_{metric}"
    for metric in ("L_ens", "L_ind", "DIV")
    for split in ("train", "val", "test")
]


def curves_table(run_dirs: list[str]) -> pd.DataFrame:
    """One row per (run, epoch): train, validation and test L_ens, L_ind and DIV (the
    pseudo-diversity figure: train DIV against test DIV over training)."""
    frames = [
        read_history(run_dir)[["epoch", *CURVE_COLUMNS]].assign(**run_key(parse_run_dir(run_dir)))
        for run_dir in run_dirs
    ]
    if not frames:
        return pd.DataFrame(columns=RUN_KEYS + ["epoch", *CURVE_COLUMNS])
    return pd.concat(frames, ignore_index=True)[RUN_KEYS + ["epoch", *CURVE_COLUMNS]]
