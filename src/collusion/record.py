"""What one run records while it trains, and writes when it is done: its history (a row per
period), its status, and its checkpoint selections.

Selections (spec.SELECTIONS): ``best_val``, the period of lowest validation ensemble loss (the
authors' rule), and ``last``, the final parameters. For each of the recipe's selection_horizons E,
``best_val@E`` and ``last@E`` are the same restricted to the first E periods: what a run of E
periods would have selected. A run that stops before E (diverged, early stopping) has the
selections of its end there, as the shorter run would.

Written in the run's directory:
    history.csv       one row per period: train/val/test L_ens, L_ind, DIV (and accuracy for
                      classification), each learner's loss (and accuracy), lr, the training objective
    predictions.npz   per-learner val/test outputs (M, N, K) of each selection (``<selection>_val``,
                      ``<selection>_test``; NaN where a run never had a best period), the labels
                      ``y_val``, ``y_test``, and the selected periods ``best_epoch``, ``last_epoch``
                      (``best_epoch@E``, ``last_epoch@E`` at a horizon)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .io import atomic_write, write_csv
from .spec import SELECTIONS, RunSpec, horizon_selection


def write_history(path: Path, history: list[dict]) -> None:
    """history.csv, one row per period."""
    write_csv(path, history, None if history else ["epoch"])


def pack_status(runs: list[RunRecord]) -> str:
    """running while any run trains; then the runs' common status, or 'finished' when they
    differ."""
    statuses = {run.status for run in runs}
    if "running" in statuses:
        return "running"
    return statuses.pop() if len(statuses) == 1 else "finished"


@dataclass
class RunRecord:
    """One run of a pack: its history, best-validation outputs, status (running, then completed or
    diverged) and, at each selection horizon E it reached, its selections as they stood after
    period E (``horizons[E]``)."""

    spec: RunSpec
    history: list[dict] = field(default_factory=list)
    best: dict = field(
        default_factory=lambda: {"epoch": None, "val_L_ens": math.inf, "outputs": {}}
    )
    status: str = "running"
    horizons: dict = field(default_factory=dict)

    def state(self) -> dict:
        return {
            "history": self.history,
            "best": self.best,
            "status": self.status,
            "horizons": self.horizons,
        }

    def load(self, saved: dict) -> None:
        self.history, self.best, self.status = saved["history"], saved["best"], saved["status"]
        self.horizons = saved["horizons"]

    def diverged(self, row: dict) -> bool:
        """A non-finite objective or DIV, or a train DIV past ``divergence_limit``."""
        objective_value, div = row["train_objective"], row["train_DIV"]
        return (
            not (math.isfinite(objective_value) and math.isfinite(div))
            or div > self.spec.recipe.divergence_limit
        )

    def patience_spent(self, epoch: int) -> bool:
        """Early stopping: ``early_stopping`` periods have passed since the best validation L_ens."""
        patience = self.spec.recipe.early_stopping
        return bool(patience) and epoch - (self.best["epoch"] or 0) >= patience  # None: never

    def end_period(self, epoch: int, row: dict, outputs: dict[str, torch.Tensor]) -> None:
        """The bookkeeping after period ``epoch`` (``outputs``: this run's val and test outputs):
        its history row, then the first that applies of diverged (it stops) / a better validation
        L_ens (its best_val selection) / completed (its last period, or early stopping's patience
        spent); its selections at a horizon."""
        self.history.append(row)
        if self.diverged(row):
            self.status = "diverged"
        else:
            if row["val_L_ens"] < self.best["val_L_ens"]:
                self.best = {
                    "epoch": epoch,
                    "val_L_ens": row["val_L_ens"],
                    "outputs": {s: outputs[s].cpu().clone() for s in ("val", "test")},
                }
            if epoch == self.spec.recipe.epochs or self.patience_spent(epoch):
                self.status = "completed"
        if epoch in self.spec.recipe.selection_horizons:
            self.horizons[epoch] = {
                "best_val": {"epoch": self.best["epoch"], "outputs": self.best["outputs"]},
                "last": {"epoch": epoch, "outputs": {s: outputs[s].cpu().clone() for s in outputs}},
                "status": "diverged" if self.status == "diverged" else "completed",
            }

    def selections(self, last: dict[str, torch.Tensor] | None = None) -> dict[str, dict]:
        """Selection name -> its epoch, status and (given ``last``, the run's final val and test
        outputs) outputs."""
        final = {
            "best_val": {"epoch": self.best["epoch"], "outputs": self.best["outputs"]},
            "last": {"epoch": len(self.history), "outputs": last},
            "status": self.status,
        }
        chosen = {}
        for horizon in [None, *self.spec.recipe.selection_horizons]:
            at = final if horizon is None else self.horizons.get(horizon, final)
            for name in SELECTIONS:
                selection = {**at[name], "status": at["status"]}
                if last is not None and not selection["outputs"]:  # never a best period
                    selection["outputs"] = {s: torch.full_like(last[s], math.nan) for s in last}
                chosen[name if horizon is None else horizon_selection(name, horizon)] = selection
        return chosen

    def outcome(self) -> dict:
        """What provenance.json records of the run (analysis.read_outcome reads it)."""
        return {
            "status": self.status,
            "epochs_run": len(self.history),
            "best_epoch": self.best["epoch"],
            "train_seconds": float(sum(row["seconds"] for row in self.history)),
            "selections": {
                name: {"epoch": s["epoch"], "status": s["status"]}
                for name, s in self.selections().items()
            },
        }

    def write(self, history_path, predictions_path, y: dict, last: dict) -> None:
        """history.csv and predictions.npz; ``y``: the val and test labels, ``last``: the run's
        final val and test outputs."""
        atomic_write(history_path, lambda tmp: write_history(tmp, self.history))
        arrays = {f"y_{split}": y[split].cpu().numpy() for split in ("val", "test")}
        selections = self.selections(last)
        for name, selection in selections.items():
            base, at, horizon = name.partition("@")
            epoch_key = "best_epoch" if base == "best_val" else "last_epoch"
            arrays[epoch_key + at + horizon] = np.array(selection["epoch"] or 0)
        for split in ("val", "test"):
            for name, selection in selections.items():
                arrays[f"{name}_{split}"] = selection["outputs"][split].cpu().numpy()
        atomic_write(predictions_path, lambda tmp: np.savez(tmp, **arrays))
