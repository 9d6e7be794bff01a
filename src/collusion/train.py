"""Fit one ensemble at one β, or a pack of several β at once: schedule, per-epoch history, model
selection, checkpoint/resume.

One run writes, in its directory:
    history.csv       one row per epoch: train/val/test L_ens, L_ind, DIV (and accuracy for
                      classification), each learner's loss (and accuracy), lr, the training objective
    predictions.npz   per-learner val/test outputs (M, N, K) of two selections: ``best_val`` (the
                      epoch of lowest validation ensemble loss, the authors' rule) and ``last``
    provenance.json   what produced the run (see provenance.py) and its outcome
    checkpoint.pt     resumable state, rewritten atomically (one per pack, in the pack's directory)

A pack trains several β of one (learners, data, recipe, seed) in one process: B ensembles built
from the same initial learners see the same minibatches and step one optimiser on the summed
objective Σ_b L_βb, each L_βb over its own ensemble's outputs. Parameters are disjoint and the
optimisers per-parameter, so every β trains exactly as it would alone (tests/test_pack.py checks
this bit for bit on CPU). Stacked MLPs run the B ensembles as one program of B × M members (for
small MLPs the per-step overhead dominates: one program is several times cheaper); every other
architecture runs them as B programs (as fast, measured, and a batched convolution's rounding
would depend on B; benchmarks/README.md).

A pack may also hold the β of several seeds (a multi-seed job of stacked MLPs, runner.train_seeds):
G seeds × B β × M members as one program, the seeds' data agreeing in shape. What differs between
seeds stays each seed's own (a ``Group``): its initial learners, its data (its own split), its
minibatch order, its train_eval subset and its learner-dropout masks; each member's input is its
seed's minibatch. Every (seed, β) trains exactly as alone (tests/test_seed_pack.py).
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
import torch

from . import objective
from .data.prepared import Dataset, Split
from .ensemble import Ensemble, StackedMLP
from .io import atomic_write, serialise, write_bytes, write_csv
from .pipeline import MITIGATION_KEYS

SPLITS = ("train", "val", "test")
SELECTIONS = ("best_val", "last")


@dataclass
class Recipe:
    """How to train. Training runs in periods, each ended by an evaluation (a history row): one
    epoch, or ``eval_every_steps`` minibatches (the authors' ImageNet recipe). ``epochs`` is the
    number of periods; milestones and patiences count periods. These fields and defaults are the
    truth the schema's ``recipe`` restates (tests/test_config_schema.py checks they agree)."""

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
    # mitigations of learner collusion (docs/mitigations.md; pipeline.MITIGATION_KEYS); 0 = off
    # learner_dropout: rate p; each minibatch, L_ens averages a random subset of learners
    learner_dropout: float = 0.0
    debiasing_penalty: float = 0.0  # strength λ of λ Σ_j w_j ‖bias_j‖² (raw-output averaging only)
    beta_warmup: int = 0  # periods over which β rises linearly (per minibatch) from 0 to its target

    @property
    def mitigated(self) -> bool:
        """Whether any mitigation is on."""
        return any(getattr(self, key) for key in MITIGATION_KEYS)


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
        return canonical_hash(self.to_dict())


def canonical_hash(value) -> str:
    canonical = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def mask_seed(seed: int) -> int:
    """The seed of a run's learner-dropout masks: derived from the run seed, apart from the
    minibatch stream (seeded with the run seed itself) and the learners (ensemble.member_seed)."""
    return int.from_bytes(
        hashlib.sha256(f"collusion:learner_dropout:{seed}".encode()).digest()[:8], "little"
    )


def check_mitigations(recipe: Recipe, aggregation: str) -> None:
    """The mitigation options' ranges, and the debiasing penalty only where it is defined."""
    if not 0.0 <= recipe.learner_dropout < 1.0:
        raise ValueError(f"learner_dropout is a rate in [0, 1), got {recipe.learner_dropout}")
    if not recipe.debiasing_penalty >= 0:
        raise ValueError(f"debiasing_penalty must be >= 0, got {recipe.debiasing_penalty}")
    if recipe.debiasing_penalty and aggregation not in objective.DEBIASABLE:
        raise ValueError(
            f"debiasing_penalty needs an ensemble that averages raw outputs "
            f"({', '.join(objective.DEBIASABLE)}), not aggregation {aggregation!r} (a learner's "
            "logit offset is no offset from a probability average): set debiasing_penalty: 0 or "
            "use score averaging"
        )
    if isinstance(recipe.beta_warmup, bool) or not (
        float(recipe.beta_warmup).is_integer() and recipe.beta_warmup >= 0
    ):
        raise ValueError(
            f"beta_warmup is a whole number of periods >= 0, got {recipe.beta_warmup!r}"
        )


def pack_seeds_of(specs: list[RunSpec]) -> list[int]:
    """The seeds of a pack, in order (one for a pack of β)."""
    return list(dict.fromkeys(spec.seed for spec in specs))


def check_pack(specs: list[RunSpec]) -> None:
    """A pack's runs may differ in β and seed only, seed by seed with the same β each (run g·B + b
    is seed g's β b); a plateau schedule lowers one lr for the whole pack, so it cannot pack
    several runs (each would need its own)."""
    first = specs[0].to_dict()
    for spec in specs[1:]:
        other = spec.to_dict()
        differing = sorted(
            key for key in first if key not in ("beta", "seed") and first[key] != other[key]
        )
        if differing:
            raise ValueError(
                f"the runs of a pack may differ in beta and seed only, these differ: {differing}"
            )
    seeds = pack_seeds_of(specs)
    betas = [spec.beta for spec in specs[: len(specs) // len(seeds)]]
    if [(s.seed, s.beta) for s in specs] != [(seed, beta) for seed in seeds for beta in betas]:
        raise ValueError(
            "a pack of several seeds holds the same betas for every seed, seed by seed; got "
            f"(seed, beta) {[(s.seed, s.beta) for s in specs]}"
        )
    if len(set(betas)) != len(betas):
        raise ValueError(f"a pack's betas must be distinct, got {betas}")
    if len(specs) > 1 and specs[0].recipe.schedule == "plateau":
        raise ValueError(
            "schedule 'plateau' lowers the lr from one run's validation loss: it cannot "
            "pack several runs; set the experiment's pack_betas: false"
        )


def make_optimizer(params, recipe: Recipe) -> torch.optim.Optimizer:
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


def make_scheduler(optimizer: torch.optim.Optimizer, recipe: Recipe):
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


def per_group(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The tensors of a pack's seeds as its programs take them: one seed's as it is, G seeds'
    stacked ``(G, …)`` (a ``grouped`` input)."""
    return tensors[0] if len(tensors) == 1 else torch.stack(tensors)


def predict(ensemble: Ensemble, data: Dataset, split: Split, batch_size: int) -> torch.Tensor:
    """Stacked outputs ``(M, N, K)`` of every learner on a whole split, in eval mode, fp32."""
    return predict_groups(ensemble, [(data, split)], batch_size)


@torch.no_grad()
def predict_groups(
    ensemble: Ensemble,
    parts: list[tuple[Dataset, Split]],
    batch_size: int,
    one_shape: bool | None = None,
) -> torch.Tensor:
    """``predict`` for a program of G seeds: part g (its data, its split; every split of one
    length) feeds seed g's members. ``one_shape`` (default: on CUDA) pads the last, shorter batch
    to ``batch_size`` and drops the padding's outputs, so that every batch has one shape (a
    compiled ensemble compiles one evaluation graph, not one more for the tail)."""
    ensemble.eval()
    if one_shape is None:
        one_shape = parts[0][1].x.is_cuda
    chunks = []
    for i in range(0, len(parts[0][1]), batch_size):
        xs = [data.normalise(split.x[i : i + batch_size]) for data, split in parts]
        count = len(xs[0])
        if one_shape and count < batch_size:
            xs = [torch.cat([x, x.new_zeros(batch_size - count, *x.shape[1:])]) for x in xs]
        chunks.append(ensemble(per_group(xs), grouped=len(parts) > 1)[:, :count].float())
    return torch.cat(chunks, dim=1)


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


@dataclass
class RunState:
    """One β of a pack: its history (one row per period it trained), best-validation outputs and
    status (running, then completed or diverged)."""

    spec: RunSpec
    history: list[dict] = field(default_factory=list)
    best: dict = field(
        default_factory=lambda: {"epoch": None, "val_L_ens": math.inf, "outputs": {}}
    )
    status: str = "running"

    def state(self) -> dict:
        return {"history": self.history, "best": self.best, "status": self.status}


@dataclass
class Group:
    """One seed of a pack: its data and what it draws from its seed, the same as alone: the
    minibatch order (``generator``; the current pass ``order`` and ``position`` in it), the
    learner-dropout masks and the fixed train_eval subset."""

    seed: int
    data: Dataset
    generator: torch.Generator
    mask_generator: torch.Generator
    train_eval: Split
    order: torch.Tensor | None = None
    position: int = 0

    def state(self) -> dict:
        return {
            "generator": self.generator.get_state(),
            "mask_generator": self.mask_generator.get_state(),
            "order": self.order,
            "position": self.position,
        }

    def load(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.mask_generator.set_state(state["mask_generator"])
        order = state["order"]  # the current pass, back on the device its generator draws on
        self.order = None if order is None else order.to(self.generator.device)
        self.position = state["position"]


def check_seed_data(datasets: list[Dataset]) -> None:
    """The seeds of one program must agree in the shape of their data: one minibatch size, one
    evaluation per split for all of them."""
    shapes = {
        (d.task, d.in_shape, d.out_dim, len(d.train), len(d.val), len(d.test)) for d in datasets
    }
    if len(shapes) > 1:
        raise ValueError(
            "the seeds of a pack need data of one shape (task, input shape, classes, train/val/"
            f"test sizes), got {sorted(shapes)}: train them one after the other (runner.train_seeds "
            "does where they differ)"
        )


def duration(seconds: float) -> str:
    """A log line's time: 7s, 2m05s, 1h02m."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def write_history(path: Path, history: list[dict]) -> None:
    """history.csv, one row per period."""
    write_csv(path, history, None if history else ["epoch"])


class StopRequested(Exception):
    """Training stopped early on request, its checkpoint saved; a rerun resumes from it."""


class Trainer:
    """Train a pack of runs (one or several β, of one or several seeds, otherwise identical) and
    select their checkpoints. ``data``: the dataset, or with several seeds a dict seed → its own.

    ``fit`` runs periods (an epoch, or ``eval_every_steps`` minibatches) until every β has
    finished: completed its epochs, stopped early, or diverged. A finished β is frozen while the
    others go on: left out of the forward pass and the objective (so its parameters get no
    gradient), its parameters and buffers restored after every step as a guarantee, its history
    ended. ``checkpoint.pt`` in ``run_dir`` holds the whole pack; it resumes only the
    pack whose ``identity`` wrote it, and only while unfinished (a rerun of a finished pack trains
    afresh).
    """

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
        check_pack(specs)
        spec = specs[0]
        seeds = pack_seeds_of(specs)
        datasets = data if isinstance(data, dict) else {seed: data for seed in seeds}
        missing = [seed for seed in seeds if seed not in datasets]
        if missing:
            raise ValueError(f"no dataset for seeds {missing} of the pack")
        check_seed_data([datasets[seed] for seed in seeds])
        data = datasets[seeds[0]]  # the shapes every seed's data share
        objective.check_aggregation(spec.aggregation)
        check_mitigations(spec.recipe, spec.aggregation)
        if objective.is_classification(spec.aggregation) != (data.task == "classification"):
            raise ValueError(
                f"aggregation {spec.aggregation!r} does not fit a {data.task} dataset; use "
                + ("'regression'" if data.task == "regression" else "'score' or 'probability'")
            )
        self.runs = [RunState(s) for s in specs]
        self.recipe, self.data, self.device = spec.recipe, data, torch.device(device)
        self.identity = identity or canonical_hash([s.to_dict() for s in specs])
        self.run_dir = Path(run_dir)
        self.checkpoint_path = self.run_dir / "checkpoint.pt"
        self.checkpoint_seconds = checkpoint_seconds  # 0: after every epoch
        torch.manual_seed(
            spec.seed
        )  # dropout masks: the same stream for every β (of a pack of one)
        self.cuda = self.device.type == "cuda"
        # the programs, and where run r's M learners are: (program, first member)
        one = self.build_ensemble(spec.seed)
        if len(specs) > 1 and isinstance(one.body, StackedMLP):
            self.ensembles = [self.build_ensemble(seeds, copies=len(specs) // len(seeds))]
            self.slots = [(0, r * spec.n_members) for r in range(len(specs))]
        elif len(seeds) > 1:
            raise ValueError(
                f"a pack of several seeds runs stacked MLPs only, not {spec.arch!r} with execution "
                f"{one.execution!r}: train the seeds one after the other (runner.train_seeds does)"
            )
        else:
            self.ensembles = [one] + [self.build_ensemble(spec.seed) for _ in specs[1:]]
            self.slots = [(b, 0) for b in range(len(specs))]
        recipe = spec.recipe
        self.per_beta_objective = False  # objectives(): True computes each β's L_β on its own
        self.optimizer = make_optimizer([p for e in self.ensembles for p in e.parameters()], recipe)
        self.scheduler = make_scheduler(self.optimizer, recipe)
        self.augment = make_augmentation(recipe.augment)
        self.groups = [self.make_group(seed, datasets[seed]) for seed in seeds]
        self.group_of = [seeds.index(s.seed) for s in specs]  # run r's group
        self.step = 0  # minibatches trained by the pack (the β warm-up's clock)
        self.epoch = 0  # evaluation periods done by the pack
        self.frozen: dict[int, list[torch.Tensor]] = {}  # finished β -> its learners' tensors
        self.resumed_from: int | None = None  # the epoch a resumed fit continued after
        self.stop_requested = lambda: False  # runner.py: SLURM's warning before the time limit
        self.final_outputs: dict[str, list] = {}  # each β's final outputs, filled after fit

    def make_group(self, seed: int, data: Dataset) -> Group:
        """Seed ``seed``'s streams, seeded as alone. Learner dropout's masks have a stream of their
        own, so the minibatches stay those of the unmitigated run; one mask per minibatch, shared
        by every β of the seed."""
        generator = torch.Generator(device=self.device)
        generator.manual_seed(seed)
        train_eval = data.train
        subset_size = self.recipe.eval_train_subset
        if subset_size and subset_size < len(data.train):
            subset = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(seed))
            subset = subset[:subset_size].to(self.device)
            train_eval = Split(data.train.x[subset], data.train.y[subset])
        mask_generator = torch.Generator().manual_seed(mask_seed(seed))
        return Group(seed, data, generator, mask_generator, train_eval)

    def build_ensemble(self, seed: int | list[int], copies: int = 1) -> Ensemble:
        spec = self.runs[0].spec
        ensemble = Ensemble(
            spec.arch,
            self.data.in_shape,
            self.data.out_dim,
            spec.n_members,
            seed,
            spec.model_options,
            execution=spec.recipe.execution,
            device=self.device,
            copies=copies,
        ).to(self.device)
        if self.cuda and len(self.data.in_shape) == 3:
            ensemble = ensemble.to(memory_format=torch.channels_last)
        if spec.recipe.compile:
            ensemble.compile()  # compiles forward in place: state dict keys unchanged
        return ensemble

    # -- a pack of one is a run: its state directly ----------------------------------------------
    @property
    def ensemble(self) -> Ensemble:
        self.only()
        return self.ensembles[0]

    @property
    def history(self) -> list[dict]:
        return self.only().history

    @property
    def best(self) -> dict:
        return self.only().best

    @property
    def status(self) -> str:
        return self.only().status

    @property
    def generator(self) -> torch.Generator:
        return self.only_group().generator

    @property
    def train_eval(self) -> Split:
        return self.only_group().train_eval

    def only_group(self) -> Group:
        if len(self.groups) != 1:
            raise AttributeError("this trainer holds several seeds: use trainer.groups[g]")
        return self.groups[0]

    def only(self) -> RunState:
        if len(self.runs) != 1:
            raise AttributeError("this trainer holds a pack of several betas: use trainer.runs[b]")
        return self.runs[0]

    # -- checkpointing ----------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "identity": self.identity,
            "epoch": self.epoch,
            "status": self.pack_status(),
            "runs": [run.state() for run in self.runs],
            "model": [ensemble.state_dict() for ensemble in self.ensembles],
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.cuda else None,
            "groups": [group.state() for group in self.groups],
            "step": self.step,
        }

    def pack_status(self) -> str:
        """running while any β trains; then the runs' common status, or 'finished' when they differ."""
        statuses = {run.status for run in self.runs}
        if "running" in statuses:
            return "running"
        return statuses.pop() if len(statuses) == 1 else "finished"

    def save_checkpoint(self) -> None:
        atomic_write(self.checkpoint_path, lambda tmp: write_bytes(tmp, serialise(self.state())))

    def resume(self, log=print, reuse_finished: bool = False) -> bool:
        """Continue from the checkpoint if this very pack wrote it and had not finished (or, with
        ``reuse_finished``, had finished: nothing is left to train). A checkpoint that cannot be
        read is moved aside (with a warning) and training starts afresh."""
        if not self.checkpoint_path.exists():
            return False
        try:
            # onto the CPU whatever the training device: the saved random-number-generator states
            # must stay CPU ByteTensors (set_rng_state and Generator.set_state refuse others, so a
            # CUDA map location broke every GPU resume); load_state_dict copies weights and
            # optimiser state onto their parameters' device
            state = torch.load(self.checkpoint_path, map_location="cpu", weights_only=False)
        except Exception as error:  # truncated or corrupt: keep it for inspection, start afresh
            aside = self.checkpoint_path.with_name(
                f"checkpoint.corrupt-{time.strftime('%Y%m%dT%H%M%S')}.pt"
            )
            self.checkpoint_path.rename(aside)
            log(
                f"warning: unreadable checkpoint {self.checkpoint_path} ({type(error).__name__}: "
                f"{error}) moved to {aside.name}; training from scratch"
            )
            return False
        if state.get("identity") != self.identity:
            log(
                f"{self.checkpoint_path} was written by another run, data or training code: "
                "training from scratch"
            )
            return False
        if all(run["status"] != "running" for run in state["runs"]) and not reuse_finished:
            log(f"{self.checkpoint_path} holds a finished run: training from scratch (a rerun)")
            return False
        for ensemble, weights in zip(self.ensembles, state["model"]):
            ensemble.load_state_dict(weights)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        if self.cuda and state["cuda_rng"] is not None:
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        for group, saved in zip(self.groups, state["groups"]):
            group.load(saved)
        self.step = state["step"]
        self.epoch = self.resumed_from = state["epoch"]
        for run, saved in zip(self.runs, state["runs"]):
            run.history, run.best, run.status = saved["history"], saved["best"], saved["status"]
        for b, run in enumerate(self.runs):
            if run.status != "running":
                self.freeze(b)
        return True

    # -- training ---------------------------------------------------------------------------------
    def autocast(self):
        if self.cuda and self.recipe.mixed_precision:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def next_batch(self, group: Group) -> torch.Tensor:
        """Indices of seed ``group``'s next minibatch; a new shuffled pass starts when one is used
        up."""
        n, batch_size = len(group.data.train), self.recipe.batch_size
        if group.order is None or group.position >= n:
            group.order = torch.randperm(n, generator=group.generator, device=self.device)
            group.position = 0
        index = group.order[group.position : group.position + batch_size]
        group.position += batch_size
        return index

    def minibatch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next minibatch of every seed: ``x`` ``(n, …)`` and ``y`` ``(n,)`` for one seed;
        ``(G, n, …)`` and ``(G, n)`` for G (the programs take them ``grouped``)."""
        xs, ys = [], []
        for group in self.groups:
            index = self.next_batch(group)
            x = group.data.train.x[index]
            if self.augment is not None:
                x = self.augment(x, group.generator)
            x = group.data.normalise(x)
            if self.cuda and x.ndim == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            xs.append(x)
            ys.append(group.data.train.y[index])
        return per_group(xs), per_group(ys)

    def run_targets(self, y: torch.Tensor, runs: list[int]) -> torch.Tensor:
        """The targets of runs ``runs``: ``y`` itself (one seed), else each run's seed's row."""
        if len(self.groups) == 1:
            return y
        return y[torch.tensor([self.group_of[r] for r in runs], device=y.device)]

    def freeze(self, b: int) -> None:
        self.frozen[b] = [t.detach().clone() for t in self.member_tensors(b)]

    def member_tensors(self, b: int) -> list[torch.Tensor]:
        program, first = self.slots[b]
        return self.ensembles[program].member_tensors(first, self.runs[b].spec.n_members)

    def live(self) -> list[bool]:
        """Which programs hold a running β (the others are not run)."""
        running = {self.slots[b][0] for b, run in enumerate(self.runs) if run.status == "running"}
        return [i in running for i in range(len(self.ensembles))]

    def outputs_by_run(self, outputs: list[torch.Tensor | None]) -> list[torch.Tensor | None]:
        """Each β's ``(M, N, K)`` slice of the programs' outputs (None: its program did not run)."""
        members = self.runs[0].spec.n_members
        return [
            None if outputs[program] is None else outputs[program][first : first + members]
            for program, first in self.slots
        ]

    @torch.no_grad()
    def restore_frozen(self) -> None:
        for b, saved in self.frozen.items():
            for tensor, value in zip(self.member_tensors(b), saved):
                tensor.copy_(value)

    def objectives(
        self, outputs: list[torch.Tensor | None], y: torch.Tensor, running: list[int]
    ) -> torch.Tensor:
        """The training objective of each running β over its own M outputs, ``(len(running),)``.

        Unmitigated: L_β of every β at once, over their ``(B, M, N, K)`` stacked outputs
        (``objective.beta_objectives``, bit for bit each β's ``beta_objective``). With a mitigation
        on (or ``per_beta_objective``) each β's ``run_objective`` in turn, the learner-dropout mask
        drawn once per minibatch per seed and shared by every β of that seed. ``y``: as
        ``minibatch`` gives it."""
        recipe = self.recipe
        if recipe.mitigated or self.per_beta_objective:
            keeps = [None] * len(self.groups)
            if recipe.learner_dropout:
                keeps = [
                    objective.learner_dropout_mask(
                        self.runs[0].spec.n_members, recipe.learner_dropout, group.mask_generator
                    )
                    for group in self.groups
                ]
            by_run = self.outputs_by_run(outputs)
            return torch.stack(
                [
                    self.run_objective(
                        b,
                        by_run[b],
                        y[self.group_of[b]] if len(self.groups) > 1 else y,
                        keeps[self.group_of[b]],
                    )
                    for b in running
                ]
            )
        betas = [self.runs[b].spec.beta for b in running]
        aggregation = self.runs[0].spec.aggregation
        return objective.beta_objectives(
            self.stack_runs(outputs, running), self.run_targets(y, running), aggregation, betas
        )

    def stack_runs(self, outputs: list[torch.Tensor | None], runs: list[int]) -> torch.Tensor:
        """The ``(len(runs), M, N, K)`` outputs of β ``runs`` from the programs' outputs."""
        if len(self.ensembles) == 1:  # one program of B × M members, β b's at b·M … b·M + M − 1
            stacked = outputs[0].unflatten(0, (len(self.runs), self.runs[0].spec.n_members))
            if len(runs) < len(self.runs):
                stacked = stacked[torch.tensor(runs, device=stacked.device)]
            return stacked
        return torch.stack([outputs[b] for b in runs])  # a program per β

    def train_period(self) -> list[float]:
        """One epoch (or ``eval_every_steps`` minibatches) of the running β; returns each β's mean
        training objective over the period (L_β, or its mitigated form: ``run_objective``; nan for
        a frozen β)."""
        recipe, train = self.recipe, self.data.train
        running = [b for b, run in enumerate(self.runs) if run.status == "running"]
        grouped = len(self.groups) > 1
        for ensemble in self.ensembles:
            ensemble.train()
        totals, seen = torch.zeros(len(self.runs), device=self.device), 0
        while True:
            x, y = self.minibatch()
            with self.autocast():
                outputs = [
                    e(x, grouped=grouped).float() if live else None
                    for e, live in zip(self.ensembles, self.live())
                ]
            losses = self.objectives(outputs, y, running)
            self.optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()  # Σ_b L_βb: each β's gradient is exactly its own
            self.optimizer.step()
            self.restore_frozen()
            self.step += 1
            totals[running] += losses.detach() * y.shape[-1]
            seen += y.shape[-1]
            if (recipe.eval_every_steps is None and self.groups[0].position >= len(train)) or (
                recipe.eval_every_steps and seen >= recipe.eval_every_steps * recipe.batch_size
            ):
                return [
                    total / seen if b in running else math.nan
                    for b, total in enumerate(totals.tolist())
                ]

    def run_objective(
        self, b: int, outputs: torch.Tensor, y: torch.Tensor, keep: torch.Tensor | None
    ):
        """β ``b``'s training objective this minibatch: L_β, at the warmed-up β, with the ensemble
        term over the learners ``keep`` (None: all) and the debiasing penalty when they are on."""
        spec, recipe = self.runs[b].spec, self.recipe
        beta = spec.beta
        if recipe.beta_warmup:
            beta = objective.beta_warmup(
                self.step, recipe.beta_warmup * self.steps_per_period(), beta
            )
        if keep is None:
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
        return math.ceil(len(self.data.train) / self.recipe.batch_size)

    def evaluate(self) -> tuple[list[dict], dict[str, torch.Tensor]]:
        """Metrics of every split for each running β (a row each) and their outputs
        ``outputs[split][b]``, ``(M, N, K)``."""
        rows, outputs = [{} for _ in self.runs], {}
        running = [b for b, run in enumerate(self.runs) if run.status == "running"]
        for name in SPLITS:
            parts = self.split_parts(name)
            with self.autocast():  # as training runs: bf16 on CUDA
                programs = [
                    predict_groups(e, parts, self.recipe.eval_batch_size) if live else None
                    for e, live in zip(self.ensembles, self.live())
                ]
            outputs[name] = self.outputs_by_run(programs)
            y = per_group([split.y for _, split in parts])
            metrics = split_metrics(
                self.stack_runs(programs, running),
                self.run_targets(y, running),
                self.runs[0].spec.aggregation,
                name,
            )
            for b, row in zip(running, metrics):
                rows[b].update(row)
        return rows, outputs

    def split_parts(self, name: str) -> list[tuple[Dataset, Split]]:
        """Each seed's (data, split ``name``): train is its train_eval subset."""
        return [
            (g.data, g.train_eval if name == "train" else g.data.split(name)) for g in self.groups
        ]

    def end_of_period(self, b: int, row: dict, outputs: dict, log) -> None:
        """β ``b``'s bookkeeping after a period: its history row, then the first that applies of
        diverged (it stops) / a better validation L_ens (its best_val selection) / completed (its
        last period, or early stopping's patience spent). A β that stops is frozen."""
        run = self.runs[b]
        run.history.append(row)
        if self.diverged(row):
            run.status = "diverged"
            log(
                f"{self.label(b)}, epoch {self.epoch}: diverged "
                f"(L_β={row['train_objective']:.4g}, train DIV={row['train_DIV']:.4g})"
            )
        else:
            if row["val_L_ens"] < run.best["val_L_ens"]:
                run.best = {
                    "epoch": self.epoch,
                    "val_L_ens": row["val_L_ens"],
                    "outputs": {s: outputs[s][b].cpu().clone() for s in ("val", "test")},
                }
            if self.epoch == self.recipe.epochs or self.patience_spent(run):
                run.status = "completed"
        if run.status != "running":
            self.freeze(b)

    def label(self, b: int) -> str:
        """Run ``b`` in a log line: its β, and its seed in a pack of several seeds."""
        spec = self.runs[b].spec
        seed = f"seed {spec.seed} " if len(self.groups) > 1 else ""
        return f"{seed}beta {spec.beta:g}"

    def diverged(self, row: dict) -> bool:
        """A non-finite objective or DIV, or a train DIV past ``divergence_limit``."""
        objective_value, div = row["train_objective"], row["train_DIV"]
        return (
            not (math.isfinite(objective_value) and math.isfinite(div))
            or div > self.recipe.divergence_limit
        )

    def patience_spent(self, run: RunState) -> bool:
        """Early stopping: ``early_stopping`` periods have passed since the best validation L_ens."""
        patience = self.recipe.early_stopping
        return bool(patience) and self.epoch - (run.best["epoch"] or 0) >= patience  # None: never

    def step_schedule(self, rows: list[dict]) -> None:
        if self.recipe.schedule == "plateau":  # a pack of one (check_pack)
            self.scheduler.step(rows[0]["val_L_ens"])
        else:
            self.scheduler.step()

    def running(self) -> bool:
        return any(run.status == "running" for run in self.runs) and self.epoch < self.recipe.epochs

    def fit(self, log=print, reuse_finished: bool = False) -> None:
        """Train the pack until every β has finished; resumes from this pack's checkpoint first.
        One iteration of the loop is one period; ``log`` gets one line per running β and period.
        ``reuse_finished``: a finished checkpoint of this very pack is taken as it is (the seed
        a killed multi-seed job had finished: runner.train_seeds), not retrained."""
        recipe = self.recipe
        if self.resume(log, reuse_finished):
            log(
                f"resumed from {self.checkpoint_path} after epoch {self.epoch} ({self.pack_status()})"
            )
        fit_started, first_epoch = time.monotonic(), self.epoch
        last_saved = fit_started
        while self.running():
            started = time.perf_counter()
            lr = self.optimizer.param_groups[0]["lr"]

            # train: one period of minibatches, each running β on its own L_β
            objectives = self.train_period()

            # evaluate: every split once, for the whole pack
            metrics, outputs = self.evaluate()
            self.epoch += 1

            # schedule: the lr of the next period
            self.step_schedule(metrics)
            seconds = time.perf_counter() - started

            # bookkeeping per running β: history row, divergence, best-validation selection, stop
            rows = {
                b: {
                    "epoch": self.epoch,
                    "lr": lr,
                    "train_objective": objectives[b],
                    **metrics[b],
                    "seconds": seconds,
                }
                for b, run in enumerate(self.runs)
                if run.status == "running"
            }
            for b, row in rows.items():
                self.end_of_period(b, row, outputs, log)

            # checkpoint: at the end, and every checkpoint_seconds
            if not self.running() or time.monotonic() - last_saved >= self.checkpoint_seconds:
                self.save_checkpoint()
                last_saved = time.monotonic()

            # log: one line per β trained this period, with the time spent and left
            elapsed = time.monotonic() - fit_started
            eta = (
                elapsed / (self.epoch - first_epoch) * (recipe.epochs - self.epoch)
                if self.running()
                else 0.0
            )
            for b, row in rows.items():
                which = f" {self.label(b)}" if len(self.runs) > 1 else ""
                log(
                    f"epoch {self.epoch}/{recipe.epochs}{which} L_β={row['train_objective']:.4f} "
                    f"val L_ens={row['val_L_ens']:.4f} test L_ens={row['test_L_ens']:.4f} "
                    f"test DIV={row['test_DIV']:.4f} ({seconds:.2f}s, elapsed {duration(elapsed)}, "
                    f"eta {duration(eta)})"
                )
            # asked to stop (the job's time limit is near): save the checkpoint, end with an error
            if self.running() and self.stop_requested():
                self.save_checkpoint()
                raise StopRequested(
                    f"stopped after epoch {self.epoch}, checkpoint saved: {self.checkpoint_path}"
                )
        for run in self.runs:
            if run.status == "running":  # zero epochs configured
                run.status = "completed"

    # -- outputs ----------------------------------------------------------------------------------
    def write_outputs(
        self, history_path: Path, predictions_path: Path, b: int | None = None
    ) -> None:
        """β ``b``'s history.csv and predictions.npz (``b`` may be omitted in a pack of one)."""
        if b is None:
            self.only()
            b = 0
        run, data = self.runs[b], self.groups[self.group_of[b]].data
        atomic_write(history_path, lambda tmp: write_history(tmp, run.history))
        last = {s: self.last_outputs(s)[b] for s in ("val", "test")}
        best = run.best["outputs"] or {s: torch.full_like(last[s], math.nan) for s in last}
        arrays = {
            "y_val": data.val.y.cpu().numpy(),
            "y_test": data.test.y.cpu().numpy(),
            "best_epoch": np.array(run.best["epoch"] or 0),
            "last_epoch": np.array(len(run.history)),
        }
        for split in ("val", "test"):
            arrays[f"best_val_{split}"] = best[split].cpu().numpy()
            arrays[f"last_{split}"] = last[split].cpu().numpy()
        atomic_write(predictions_path, lambda tmp: np.savez(tmp, **arrays))

    def last_outputs(self, split: str) -> torch.Tensor:
        """Each β's ``(M, N, K)`` outputs of its final parameters (a frozen β's: those it finished
        with)."""
        if split not in self.final_outputs:
            with self.autocast():
                programs = [
                    predict_groups(ensemble, self.split_parts(split), self.recipe.eval_batch_size)
                    for ensemble in self.ensembles
                ]
            self.final_outputs[split] = self.outputs_by_run(programs)
        return self.final_outputs[split]

    def outcome(self, b: int | None = None) -> dict:
        run = self.only() if b is None else self.runs[b]
        return {
            "status": run.status,
            "epochs_run": len(run.history),
            "best_epoch": run.best["epoch"],
            "train_seconds": float(sum(row["seconds"] for row in run.history)),
        }
