"""Fit one ensemble at one β: schedule, per-epoch history, model selection, checkpoint/resume.

One run writes, in its directory:
    history.csv       one row per epoch: train/val/test L_ens, L_ind, DIV (and accuracy for
                      classification), each learner's loss (and accuracy), lr, the training objective
    predictions.npz   per-learner val/test outputs (M, N, K) of two selections: ``best_val`` (the
                      epoch of lowest validation ensemble loss, the authors' rule) and ``last``
    provenance.json   what produced the run (see provenance.py) and its outcome
    checkpoint.pt     resumable state, rewritten atomically after every epoch
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import objective
from .data.prepared import Dataset, Split
from .ensemble import Ensemble
from .io import atomic_write

SPLITS = ("train", "val", "test")
SELECTIONS = ("best_val", "last")


@dataclass
class Recipe:
    """How to train. Training runs in periods, each ended by an evaluation (a history row): one
    epoch, or ``eval_every_steps`` minibatches (the authors' ImageNet recipe). ``epochs`` is the
    number of periods; milestones and patiences count periods."""

    epochs: int
    lr: float
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 128
    schedule: str = "multistep"  # multistep: lr × gamma at each milestone; plateau: after
    milestones: list[int] = field(default_factory=list)  # plateau_patience periods w/o improvement
    gamma: float = 0.2
    plateau_patience: int = 6
    early_stopping: int | None = None  # stop after this many periods without a better val L_ens
    eval_every_steps: int | None = None
    eval_train_subset: int | None = None  # evaluate train metrics on this many fixed examples
    augment: str = "none"
    eval_batch_size: int = 1024
    divergence_limit: float = 1e6  # a run whose train DIV passes this is recorded as diverged
    mixed_precision: bool = True  # bf16 autocast on CUDA only; CPU always runs fp32
    execution: str = "auto"  # how the M members run: auto, loop, stacked, vmapped (ensemble.py)
    compile: bool = False  # torch.compile the ensemble's forward


@dataclass
class RunSpec:
    arch: str
    model_options: dict
    aggregation: str
    n_members: int
    beta: float
    seed: int
    recipe: Recipe

    def to_dict(self) -> dict:
        return asdict(self)

    def hash(self) -> str:
        canonical = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def make_optimizer(params, recipe: Recipe) -> torch.optim.Optimizer:
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay
        )
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    raise ValueError(f"unknown optimizer {recipe.optimizer!r}; allowed: sgd, adam")


def make_scheduler(optimizer: torch.optim.Optimizer, recipe: Recipe):
    if recipe.schedule == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, list(recipe.milestones), recipe.gamma)
    if recipe.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=recipe.gamma, patience=recipe.plateau_patience
        )
    raise ValueError(f"unknown schedule {recipe.schedule!r}; allowed: multistep, plateau")


def make_augmentation(name: str):
    if name == "none":
        return None
    from .data.augment import build_augmentation  # image presets, only needed for images

    return build_augmentation(name)


@torch.no_grad()
def predict(ensemble: Ensemble, data: Dataset, split: Split, batch_size: int) -> torch.Tensor:
    """Stacked outputs ``(M, N, K)`` of every learner on a whole split, in eval mode, fp32."""
    ensemble.eval()
    chunks = [
        ensemble(data.normalise(split.x[i : i + batch_size])).float()
        for i in range(0, len(split), batch_size)
    ]
    return torch.cat(chunks, dim=1)


def split_metrics(outputs: torch.Tensor, y: torch.Tensor, aggregation: str, prefix: str) -> dict:
    """The decomposition, and accuracies for classification, of one split: a flat dict."""
    ensemble_loss, member_losses = objective.per_sample_losses(outputs, y, aggregation)
    l_ens, l_ind = ensemble_loss.mean().item(), member_losses.mean().item()
    row = {f"{prefix}_L_ens": l_ens, f"{prefix}_L_ind": l_ind, f"{prefix}_DIV": l_ind - l_ens}
    for j, loss in enumerate(member_losses.mean(dim=1).tolist()):
        row[f"{prefix}_L_member{j}"] = loss
    if objective.is_classification(aggregation):
        ensemble_pred, member_pred = objective.predictions(outputs, aggregation)
        row[f"{prefix}_acc"] = (ensemble_pred == y).float().mean().item()
        if outputs.shape[-1] > 5:
            top5 = objective.aggregate(outputs, aggregation).topk(5, dim=-1).indices
            row[f"{prefix}_acc5"] = (top5 == y[:, None]).any(dim=-1).float().mean().item()
        for j, acc in enumerate((member_pred == y).float().mean(dim=1).tolist()):
            row[f"{prefix}_acc_member{j}"] = acc
    return row


class Trainer:
    def __init__(
        self,
        spec: RunSpec,
        data: Dataset,
        run_dir: str | Path,
        device: str = "cpu",
        checkpoint_seconds: float = 30.0,
    ):
        objective.check_aggregation(spec.aggregation)
        if objective.is_classification(spec.aggregation) != (data.task == "classification"):
            raise ValueError(
                f"aggregation {spec.aggregation!r} does not fit a {data.task} dataset; use "
                + ("'regression'" if data.task == "regression" else "'score' or 'probability'")
            )
        self.spec, self.data, self.device = spec, data, torch.device(device)
        self.run_dir = Path(run_dir)
        self.checkpoint_path = self.run_dir / "checkpoint.pt"
        self.checkpoint_seconds = checkpoint_seconds  # 0: after every epoch
        torch.manual_seed(spec.seed)  # dropout masks: the same stream for every β
        self.ensemble = Ensemble(
            spec.arch, data.in_shape, data.out_dim, spec.n_members, spec.seed, spec.model_options,
            execution=spec.recipe.execution, device=self.device,
        ).to(self.device)
        self.cuda = self.device.type == "cuda"
        if self.cuda and len(data.in_shape) == 3:
            self.ensemble = self.ensemble.to(memory_format=torch.channels_last)
        if spec.recipe.compile:
            self.ensemble.compile()  # compiles forward in place: state dict keys unchanged
        recipe = spec.recipe
        self.optimizer = make_optimizer(self.ensemble.parameters(), recipe)
        self.scheduler = make_scheduler(self.optimizer, recipe)
        self.augment = make_augmentation(recipe.augment)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(spec.seed)
        self.train_eval = data.train
        if recipe.eval_train_subset and recipe.eval_train_subset < len(data.train):
            subset = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(spec.seed))
            subset = subset[: recipe.eval_train_subset].to(self.device)
            self.train_eval = Split(data.train.x[subset], data.train.y[subset])
        self.order: torch.Tensor | None = None  # the current pass over the training split
        self.position = 0
        self.epoch = 0  # evaluation periods done
        self.history: list[dict] = []
        self.best: dict = {"epoch": None, "val_L_ens": math.inf, "outputs": {}}
        self.status = "running"

    # -- checkpointing ----------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "spec_hash": self.spec.hash(),
            "epoch": self.epoch,
            "status": self.status,
            "model": self.ensemble.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.cuda else None,
            "generator": self.generator.get_state(),
            "order": self.order,
            "position": self.position,
            "history": self.history,
            "best": self.best,
        }

    def save_checkpoint(self) -> None:
        atomic_write(self.checkpoint_path, lambda tmp: torch.save(self.state(), tmp))

    def resume(self) -> bool:
        """Continue from the checkpoint if it belongs to this exact run spec."""
        if not self.checkpoint_path.exists():
            return False
        state = torch.load(self.checkpoint_path, map_location=self.device, weights_only=False)
        if state["spec_hash"] != self.spec.hash():
            return False  # a different configuration: start afresh, the checkpoint is overwritten
        self.ensemble.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        if self.cuda and state["cuda_rng"] is not None:
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.generator.set_state(state["generator"])
        self.order, self.position = state["order"], state["position"]
        self.epoch, self.status = state["epoch"], state["status"]
        self.history, self.best = state["history"], state["best"]
        return True

    # -- training ---------------------------------------------------------------------------------
    def autocast(self):
        if self.cuda and self.spec.recipe.mixed_precision:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def next_batch(self) -> torch.Tensor:
        """Indices of the next minibatch; a new shuffled pass starts when one is used up."""
        n, batch_size = len(self.data.train), self.spec.recipe.batch_size
        if self.order is None or self.position >= n:
            self.order = torch.randperm(n, generator=self.generator, device=self.device)
            self.position = 0
        index = self.order[self.position : self.position + batch_size]
        self.position += batch_size
        return index

    def train_period(self) -> float:
        """One epoch (or ``eval_every_steps`` minibatches); returns the mean training objective L_β."""
        spec, train = self.spec, self.data.train
        self.ensemble.train()
        steps = spec.recipe.eval_every_steps
        total, seen = torch.zeros((), device=self.device), 0
        while True:
            index = self.next_batch()
            x = train.x[index]
            if self.augment is not None:
                x = self.augment(x, self.generator)
            x = self.data.normalise(x)
            if self.cuda and x.ndim == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            with self.autocast():
                outputs = self.ensemble(x)
            loss = objective.beta_objective(outputs.float(), train.y[index], spec.aggregation, spec.beta)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total += loss.detach() * len(index)
            seen += len(index)
            if (steps is None and self.position >= len(train)) or (steps and seen >= steps * spec.recipe.batch_size):
                return total.item() / seen

    def evaluate(self) -> tuple[dict, dict[str, torch.Tensor]]:
        row, outputs = {}, {}
        for name in SPLITS:
            split = self.train_eval if name == "train" else self.data.split(name)
            outputs[name] = predict(self.ensemble, self.data, split, self.spec.recipe.eval_batch_size)
            row.update(split_metrics(outputs[name], split.y, self.spec.aggregation, name))
        return row, outputs

    def fit(self, log=print) -> None:
        recipe = self.spec.recipe
        if self.resume():
            log(f"resumed from {self.checkpoint_path} after epoch {self.epoch} ({self.status})")
        last_saved = time.monotonic()
        while self.status == "running" and self.epoch < recipe.epochs:
            started = time.perf_counter()
            lr = self.optimizer.param_groups[0]["lr"]
            train_objective = self.train_period()
            row, outputs = self.evaluate()
            self.epoch += 1
            if recipe.schedule == "plateau":
                self.scheduler.step(row["val_L_ens"])
            else:
                self.scheduler.step()
            row = {"epoch": self.epoch, "lr": lr, "train_objective": train_objective, **row}
            row["seconds"] = time.perf_counter() - started
            self.history.append(row)
            if not math.isfinite(train_objective) or not math.isfinite(row["train_DIV"]) or (
                row["train_DIV"] > recipe.divergence_limit
            ):
                self.status = "diverged"
                log(f"epoch {self.epoch}: diverged (L_β={train_objective:.4g}, train DIV={row['train_DIV']:.4g})")
            elif row["val_L_ens"] < self.best["val_L_ens"]:
                self.best = {
                    "epoch": self.epoch,
                    "val_L_ens": row["val_L_ens"],
                    "outputs": {s: outputs[s].cpu() for s in ("val", "test")},
                }
            if self.status == "running" and (
                self.epoch == recipe.epochs
                or (recipe.early_stopping and self.epoch - (self.best["epoch"] or 0) >= recipe.early_stopping)
            ):
                self.status = "completed"
            if self.status != "running" or time.monotonic() - last_saved >= self.checkpoint_seconds:
                self.save_checkpoint()
                last_saved = time.monotonic()
            log(
                f"epoch {self.epoch}/{recipe.epochs} L_β={train_objective:.4f} "
                f"val L_ens={row['val_L_ens']:.4f} test L_ens={row['test_L_ens']:.4f} "
                f"test DIV={row['test_DIV']:.4f} ({row['seconds']:.2f}s)"
            )
        if self.status == "running":  # zero epochs configured
            self.status = "completed"

    # -- outputs ----------------------------------------------------------------------------------
    def write_outputs(self, history_path: Path, predictions_path: Path) -> None:
        atomic_write(history_path, lambda tmp: pd.DataFrame(self.history).to_csv(tmp, index=False))
        last = {
            s: predict(self.ensemble, self.data, self.data.split(s), self.spec.recipe.eval_batch_size)
            for s in ("val", "test")
        }
        best = self.best["outputs"] or {s: torch.full_like(last[s], math.nan) for s in last}
        arrays = {
            "y_val": self.data.val.y.cpu().numpy(),
            "y_test": self.data.test.y.cpu().numpy(),
            "best_epoch": np.array(self.best["epoch"] or 0),
            "last_epoch": np.array(self.epoch),
        }
        for split in ("val", "test"):
            arrays[f"best_val_{split}"] = best[split].cpu().numpy()
            arrays[f"last_{split}"] = last[split].cpu().numpy()
        atomic_write(predictions_path, lambda tmp: np.savez(tmp, **arrays))

    def outcome(self) -> dict:
        return {
            "status": self.status,
            "epochs_run": self.epoch,
            "best_epoch": self.best["epoch"],
            "train_seconds": float(sum(row["seconds"] for row in self.history)),
        }
