"""The training loop and its objectives: a pack of runs (pack.py) trained period by period, each
run's history, checkpoint selections and status kept, the outputs written run by run.

One run writes, in its directory:
    history.csv       one row per epoch: train/val/test L_ens, L_ind, DIV (and accuracy for
                      classification), each learner's loss (and accuracy), lr, the training objective
    predictions.npz   per-learner val/test outputs (M, N, K) of each selection: ``best_val`` (the
                      epoch of lowest validation ensemble loss, the authors' rule), ``last``, and
                      both restricted to the first E epochs, ``best_val@E`` and ``last@E``, for
                      each of the recipe's selection_horizons
    provenance.json   what produced the run (job.py, provenance.py) and its outcome
    checkpoint.pt     resumable state, rewritten atomically (one per pack: checkpoint.py)

The loop sees runs: every running run trains on its own objective (L_β, or its mitigated form)
over its own ensemble's outputs, and one optimiser steps their sum. A run that finishes (its
epochs, early stopping, divergence) is frozen while the others go on: left out of the forward pass
and the objective, its parameters and buffers restored after every step as a guarantee.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch

from . import objective
from .checkpoint import Checkpoint
from .data.prepared import Dataset
from .ensemble import Ensemble
from .pack import Pack, RunOutputs, per_group
from .progress import Progress
from .record import RunRecord, pack_status
from .spec import RunSpec, canonical_hash, check_recipe, pack_seeds_of

SPLITS = ("train", "val", "test")


def make_optimizer(params, recipe) -> torch.optim.Optimizer:
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=recipe.lr,
            momentum=recipe.momentum,
            weight_decay=recipe.weight_decay,
            foreach=True,
        )
    # foreach: a few multi-tensor kernels per step instead of a dozen per parameter (the CPU
    # default); the same numbers as that default. fused=True is faster still on CPU but its
    # rounding depends on the tensor's size, so a pack would no longer train each β exactly as alone
    if recipe.optimizer == "adam":
        return torch.optim.Adam(
            params, lr=recipe.lr, weight_decay=recipe.weight_decay, foreach=True
        )
    raise ValueError(f"unknown optimizer {recipe.optimizer!r}; allowed: sgd, adam")


def make_scheduler(optimizer: torch.optim.Optimizer, recipe):
    if recipe.schedule == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(
            optimizer, list(recipe.milestones), recipe.gamma
        )
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


def split_metrics(
    outputs: torch.Tensor, y: torch.Tensor, aggregation: str, prefix: str
) -> list[dict]:
    """The decomposition, and accuracies for classification, of one split for each of B ensembles
    (``outputs`` ``(B, M, N, K)``, all at once; ``y`` ``(N,)`` or each its own, ``(B, N)``): a
    flat dict each."""
    ensemble_loss, member_losses = objective.per_sample_losses(outputs, y, aggregation)
    columns = {
        f"{prefix}_L_ens": ensemble_loss.mean(dim=-1),
        f"{prefix}_L_ind": member_losses.mean(dim=(-2, -1)),
    }
    columns |= {
        f"{prefix}_L_member{j}": loss
        for j, loss in enumerate(member_losses.mean(dim=-1).unbind(-1))
    }
    if objective.is_classification(aggregation):
        ensemble_pred, member_pred = objective.predictions(outputs, aggregation)
        columns[f"{prefix}_acc"] = (ensemble_pred == y).float().mean(dim=-1)
        if outputs.shape[-1] > 5:
            top5 = objective.aggregate(outputs, aggregation).topk(5, dim=-1).indices
            columns[f"{prefix}_acc5"] = (top5 == y[..., None]).any(dim=-1).float().mean(dim=-1)
        member_acc = (member_pred == y.unsqueeze(-2)).float().mean(dim=-1)
        columns |= {f"{prefix}_acc_member{j}": acc for j, acc in enumerate(member_acc.unbind(-1))}
    rows = []
    for values in torch.stack(list(columns.values()), dim=-1).tolist():  # one transfer
        row = dict(zip(columns, values))
        l_ens, l_ind = row.pop(f"{prefix}_L_ens"), row.pop(f"{prefix}_L_ind")
        rows.append(
            {
                f"{prefix}_L_ens": l_ens,
                f"{prefix}_L_ind": l_ind,
                f"{prefix}_DIV": l_ind - l_ens,
                **row,
            }
        )
    return rows


def check_task(spec: RunSpec, data: Dataset) -> None:
    objective.check_aggregation(spec.aggregation)
    check_recipe(spec.recipe, spec.aggregation)
    if objective.is_classification(spec.aggregation) != (data.task == "classification"):
        raise ValueError(
            f"aggregation {spec.aggregation!r} does not fit a {data.task} dataset; use "
            + ("'regression'" if data.task == "regression" else "'score' or 'probability'")
        )


class StopRequested(Exception):
    """Training stopped early on request, its checkpoint saved; a rerun resumes from it."""


class Trainer:
    """Train a pack of runs (one or several β, of one or several seeds, otherwise identical) and
    select their checkpoints. ``data``: the dataset, or with several seeds a dict seed → its own.
    ``fit`` runs periods (an epoch, or ``eval_every_steps`` minibatches) until every run has
    finished; ``checkpoint.pt`` in ``run_dir`` holds the whole pack (checkpoint.py)."""

    def __init__(
        self,
        specs: RunSpec | list[RunSpec],
        data: Dataset | dict[int, Dataset],
        run_dir: str | Path,
        device: str = "cpu",
        checkpoint_seconds: float = 30.0,
        identity: str | None = None,
    ):
        specs = [specs] if isinstance(specs, RunSpec) else list(specs)
        seeds = pack_seeds_of(specs)
        datasets = data if isinstance(data, dict) else {seed: data for seed in seeds}
        self.recipe, self.device = specs[0].recipe, torch.device(device)
        torch.manual_seed(specs[0].seed)  # dropout masks: the same stream for every β
        self.pack = Pack(specs, datasets, self.device)
        check_task(specs[0], self.pack.data)
        self.runs = [RunRecord(s) for s in specs]
        self.optimizer = make_optimizer(self.pack.parameters(), self.recipe)
        self.scheduler = make_scheduler(self.optimizer, self.recipe)
        self.augment = make_augmentation(self.recipe.augment)
        identity = identity or canonical_hash([s.to_dict() for s in specs])
        self.checkpoint = Checkpoint(run_dir, identity, checkpoint_seconds)
        self.step = 0  # minibatches trained by the pack (the β warm-up's clock)
        self.epoch = 0  # evaluation periods done by the pack
        self.resumed_from: int | None = None  # the epoch a resumed fit continued after
        self.stop_requested = lambda: False  # job.py: SLURM's warning before the time limit
        self.final_outputs: dict[str, RunOutputs] = {}  # each split's final outputs, after fit

    # -- a pack of one is a run: its state directly ----------------------------------------------
    @property
    def ensemble(self) -> Ensemble:
        self.only()
        return self.pack.programs[0]

    @property
    def history(self) -> list[dict]:
        return self.only().history

    @property
    def status(self) -> str:
        return self.only().status

    def only(self) -> RunRecord:
        if len(self.runs) != 1:
            raise AttributeError("this trainer holds a pack of several runs: use trainer.runs[b]")
        return self.runs[0]

    def running_runs(self) -> list[int]:
        return [b for b, run in enumerate(self.runs) if run.status == "running"]

    # -- checkpointing ----------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "epoch": self.epoch,
            "status": pack_status(self.runs),
            "runs": [run.state() for run in self.runs],
            "model": [program.state_dict() for program in self.pack.programs],
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None,
            "groups": [group.state() for group in self.pack.groups],
            "step": self.step,
        }

    def resume(self, log=print, reuse_finished: bool = False) -> bool:
        """Continue from the checkpoint if this very pack wrote it (checkpoint.Checkpoint.load)."""
        state = self.checkpoint.load(log, reuse_finished)
        if state is None:
            return False
        for program, weights in zip(self.pack.programs, state["model"]):
            program.load_state_dict(weights)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        if self.device.type == "cuda" and state["cuda_rng"] is not None:
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        for group, saved in zip(self.pack.groups, state["groups"]):
            group.load(saved)
        self.step = state["step"]
        self.epoch = self.resumed_from = state["epoch"]
        for b, (run, saved) in enumerate(zip(self.runs, state["runs"])):
            run.load(saved)
            if run.status != "running":
                self.pack.freeze(b)
        return True

    # -- training ---------------------------------------------------------------------------------
    def objectives(self, outputs: RunOutputs, y: torch.Tensor, running: list[int]) -> torch.Tensor:
        """The training objective of each running run over its own M outputs, ``(len(running),)``.
        Unmitigated: L_β of every run at once (``objective.beta_objectives``, bit for bit each
        run's ``beta_objective``). With a mitigation on, each run's ``run_objective`` in turn, the
        learner-dropout mask drawn once per minibatch per seed and shared by that seed's runs."""
        if not self.recipe.mitigated:
            betas = [self.runs[b].spec.beta for b in running]
            targets = self.pack.targets(y, running)
            aggregation = self.runs[0].spec.aggregation
            return objective.beta_objectives(outputs.stacked(running), targets, aggregation, betas)
        keeps = [None] * len(self.pack.groups)
        if self.recipe.learner_dropout:
            members, rate = self.pack.members, self.recipe.learner_dropout
            keeps = [
                objective.learner_dropout_mask(members, rate, group.mask_generator)
                for group in self.pack.groups
            ]
        return torch.stack(
            [
                self.run_objective(
                    b, outputs.of(b), self.pack.seed_targets(y, b), keeps[self.pack.group_of[b]]
                )
                for b in running
            ]
        )

    def run_objective(
        self, b: int, outputs: torch.Tensor, y: torch.Tensor, keep: torch.Tensor | None
    ):
        """Run ``b``'s training objective this minibatch: L_β, at the warmed-up β, with the ensemble
        term over the learners ``keep`` (None: all) and the debiasing penalty when they are on;
        with ``gncl``, GNCL's objective at λ = that β instead of L_β."""
        spec, recipe = self.runs[b].spec, self.recipe
        beta = spec.beta
        if recipe.beta_warmup:
            beta = objective.beta_warmup(
                self.step, recipe.beta_warmup * self.steps_per_period(), beta
            )
        if recipe.gncl:
            loss = objective.gncl_objective(outputs, y, spec.aggregation, beta)
        elif keep is None:
            loss = objective.beta_objective(outputs, y, spec.aggregation, beta)
        else:
            loss = objective.learner_dropout_objective(outputs, y, spec.aggregation, beta, keep)
        if recipe.debiasing_penalty:
            loss = loss + objective.debiasing_penalty(
                outputs, spec.aggregation, recipe.debiasing_penalty
            )
        return loss

    def steps_per_period(self) -> int:
        if self.recipe.eval_every_steps:
            return self.recipe.eval_every_steps
        return math.ceil(len(self.pack.data.train) / self.recipe.batch_size)

    def train_period(self) -> list[float]:
        """One epoch (or ``eval_every_steps`` minibatches) of the running runs; returns each run's
        mean training objective over the period (nan for a frozen run)."""
        recipe, running = self.recipe, self.running_runs()
        self.pack.train()
        totals, seen = torch.zeros(len(self.runs), device=self.device), 0
        while True:
            x, y = self.pack.minibatch(recipe.batch_size, self.augment)
            outputs = self.pack.forward(x, running)
            losses = self.objectives(outputs, y, running)
            self.optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()  # Σ_b L_βb: each run's gradient is exactly its own
            self.optimizer.step()
            self.pack.restore_frozen()
            self.step += 1
            totals[running] += losses.detach() * y.shape[-1]
            seen += y.shape[-1]
            epoch_done = recipe.eval_every_steps is None and (
                self.pack.groups[0].position >= len(self.pack.data.train)
            )
            if epoch_done or (
                recipe.eval_every_steps and seen >= recipe.eval_every_steps * recipe.batch_size
            ):
                return [
                    total / seen if b in running else math.nan
                    for b, total in enumerate(totals.tolist())
                ]

    def evaluate(self) -> tuple[list[dict], dict[str, RunOutputs]]:
        """Metrics of every split for each running run (a row each) and each split's outputs."""
        rows, outputs, running = [{} for _ in self.runs], {}, self.running_runs()
        for name in SPLITS:
            outputs[name] = self.pack.predict(name, self.recipe.eval_batch_size, running)
            y = per_group([split.y for _, split in self.pack.split(name)])
            metrics = split_metrics(
                outputs[name].stacked(running),
                self.pack.targets(y, running),
                self.runs[0].spec.aggregation,
                name,
            )
            for b, row in zip(running, metrics):
                rows[b].update(row)
        return rows, outputs

    def end_of_period(self, b: int, row: dict, outputs: dict[str, RunOutputs], log) -> None:
        """Run ``b``'s bookkeeping after a period (record.RunRecord.end_period); a run that stops
        is frozen."""
        run = self.runs[b]
        run.end_period(self.epoch, row, {s: outputs[s].of(b) for s in ("val", "test")})
        if run.status == "diverged":
            log(
                f"{self.label(b)}, epoch {self.epoch}: diverged "
                f"(L_β={row['train_objective']:.4g}, train DIV={row['train_DIV']:.4g})"
            )
        if run.status != "running":
            self.pack.freeze(b)

    def label(self, b: int) -> str:
        """Run ``b`` in a log line: its seed and β."""
        spec = self.runs[b].spec
        return f"seed {spec.seed} beta {spec.beta:g}"

    def running(self) -> bool:
        return bool(self.running_runs()) and self.epoch < self.recipe.epochs

    def period(self, log) -> tuple[dict[int, dict], float]:
        """One period: train, evaluate every split once, the next lr, each running run's row."""
        started = time.perf_counter()
        lr = self.optimizer.param_groups[0]["lr"]
        objectives = self.train_period()
        metrics, outputs = self.evaluate()
        self.epoch += 1
        if self.recipe.schedule == "plateau":  # a pack of one (spec.check_pack)
            self.scheduler.step(metrics[0]["val_L_ens"])
        else:
            self.scheduler.step()
        seconds = time.perf_counter() - started
        rows = {
            b: {"epoch": self.epoch, "lr": lr, "train_objective": objectives[b]}
            | metrics[b]
            | {"seconds": seconds}
            for b in self.running_runs()
        }
        for b, row in rows.items():
            self.end_of_period(b, row, outputs, log)
        return rows, seconds

    def fit(self, log=print, reuse_finished: bool = False, progress: Progress | None = None):
        """Train the pack until every run has finished; resumes from this pack's checkpoint first.
        ``log`` gets one line per period (progress.Progress.log_line); ``progress``: the job's,
        which also writes its progress lines (None: this pack's own, which writes none).
        ``reuse_finished``: a finished checkpoint of this very pack is taken as it is
        (checkpoint.Checkpoint.load)."""
        progress = progress or Progress(epochs=self.recipe.epochs)
        if self.resume(log, reuse_finished):
            path = self.checkpoint.path
            log(f"resumed from {path} after epoch {self.epoch} ({pack_status(self.runs)})")
        self.checkpoint.last_saved = time.monotonic()
        progress.start_pack([(run.spec.seed, run.spec.beta) for run in self.runs], self.epoch)
        while self.running():
            rows, seconds = self.period(log)
            if self.checkpoint.due(finished=not self.running()):
                self.checkpoint.save(self.state())
            log(progress.end_of_period(self.epoch, rows, seconds))
            if self.running() and self.stop_requested():  # the job's time limit is near
                self.checkpoint.save(self.state())
                raise StopRequested(
                    f"stopped after epoch {self.epoch}, checkpoint saved: {self.checkpoint.path}"
                )
        progress.end_pack()
        for run in self.runs:
            if run.status == "running":  # zero epochs configured
                run.status = "completed"

    # -- outputs ----------------------------------------------------------------------------------
    def last_outputs(self, split: str) -> RunOutputs:
        """Every run's outputs of its final parameters (a frozen run's: those it finished with)."""
        if split not in self.final_outputs:
            self.final_outputs[split] = self.pack.predict(split, self.recipe.eval_batch_size)
        return self.final_outputs[split]

    def write_outputs(
        self, history_path: Path, predictions_path: Path, b: int | None = None
    ) -> None:
        """Run ``b``'s history.csv and predictions.npz (``b`` may be omitted in a pack of one)."""
        if b is None:
            self.only()
            b = 0
        data = self.pack.groups[self.pack.group_of[b]].data
        last = {s: self.last_outputs(s).of(b) for s in ("val", "test")}
        y = {"val": data.val.y, "test": data.test.y}
        self.runs[b].write(history_path, predictions_path, y, last)

    def outcome(self, b: int | None = None) -> dict:
        return (self.only() if b is None else self.runs[b]).outcome()
