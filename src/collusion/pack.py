"""What a pack is: the runs one training process trains together, G seeds × B β × M learners.

A pack holds several β of one (learners, data, recipe) and, for stacked MLPs, the β of several
seeds. Its B ensembles are built from the same initial learners (those of their seed), see the
same minibatches (their seed's) and step one optimiser on the summed objective Σ L_β, each L_β
over its own ensemble's outputs. Parameters are disjoint and the optimisers per-parameter, so
every run trains exactly as it would alone (tests/test_pack.py, tests/test_seed_pack.py check
this bit for bit on CPU).

Where the members run is decided once, here (``stacks``): stacked MLPs run every run of the pack
as one program of G × B × M members (for small MLPs the per-step overhead dominates: one program is
several times cheaper); every other architecture runs a program per β (as fast, measured, and a
batched convolution's rounding would depend on B; benchmarks/README.md) and one seed per pack.
The training loop (train.py) sees runs: ``forward`` and ``predict`` return ``RunOutputs``, read
run by run; the programs, and where each run's members sit in them, stay in here.

What differs between the seeds of a pack stays each seed's own (a ``Group``): its data (its own
split), its minibatch order, its train_eval subset and its learner-dropout masks; each member's
input is its seed's minibatch.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass

import torch
import torch.nn as nn

from .data.prepared import Dataset, Split
from .ensemble import Ensemble, StackedMLP, build_members
from .spec import RunSpec, check_pack, mask_seed, pack_seeds_of


def per_group(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The tensors of a pack's seeds as its programs take them: one seed's as it is, G seeds'
    stacked ``(G, …)`` (a ``grouped`` input)."""
    return tensors[0] if len(tensors) == 1 else torch.stack(tensors)


def check_seed_data(datasets: list[Dataset]) -> None:
    """The seeds of one program must agree in the shape of their data: one minibatch size, one
    evaluation per split for all of them."""
    shapes = {
        (d.task, d.in_shape, d.out_dim, len(d.train), len(d.val), len(d.test)) for d in datasets
    }
    if len(shapes) > 1:
        raise ValueError(
            "the seeds of a pack need data of one shape (task, input shape, classes, train/val/"
            f"test sizes), got {sorted(shapes)}: train them one after the other (job.py does "
            "where they differ)"
        )


def learners(spec: RunSpec, data: Dataset, seeds: list[int], copies: int = 1) -> list[nn.Module]:
    """The members of a program: for each seed, ``copies`` copies of its M initial learners (one
    per β; ensemble.member_seed), seed g's first at g·copies·M, copy c at c·M within them."""
    members = []
    for seed in seeds:
        one = build_members(
            spec.arch, data.in_shape, data.out_dim, spec.n_members, seed, spec.model_options
        )
        members += one + [copy.deepcopy(member) for _ in range(copies - 1) for member in one]
    return members


def build_ensemble(spec: RunSpec, data: Dataset, seeds: list[int], device, copies: int = 1):
    """The program of ``learners`` on ``device``, executed as the recipe says."""
    members = learners(spec, data, seeds, copies)
    ensemble = Ensemble(members, spec.recipe.execution, device).to(device)
    if device.type == "cuda" and len(data.in_shape) == 3:
        ensemble = ensemble.to(memory_format=torch.channels_last)
    if spec.recipe.compile:
        ensemble.compile()  # compiles forward in place: state dict keys unchanged
    return ensemble


def stacks(spec: RunSpec, data: Dataset) -> bool:
    """THE decision whether a pack's members stack into one program: its learners run as a
    stacked MLP (ensemble.py decides that from the architecture and the recipe's execution)."""
    one = build_members(spec.arch, data.in_shape, data.out_dim, 1, spec.seed, spec.model_options)
    return isinstance(Ensemble(one, spec.recipe.execution).body, StackedMLP)


def one_program_obstacle(specs: list[RunSpec], datasets: list[Dataset]) -> str | None:
    """Why runs of several seeds cannot train as one program (None: they can): that needs runs
    that differ only in seed and β with one β list, stacked MLPs, and data of one shape."""
    try:
        check_pack(specs)
        check_seed_data(datasets)
    except ValueError as error:
        return str(error)
    if not stacks(specs[0], datasets[0]):
        return f"{specs[0].arch!r} does not run as a stacked MLP"
    return None


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

    @classmethod
    def of_seed(cls, seed: int, data: Dataset, eval_train_subset: int | None, device) -> Group:
        """Seed ``seed``'s streams, seeded as alone. Learner dropout's masks have a stream of their
        own, so the minibatches stay those of the unmitigated run."""
        generator = torch.Generator(device=device)
        generator.manual_seed(seed)
        train_eval = data.train
        if eval_train_subset and eval_train_subset < len(data.train):
            subset = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(seed))
            subset = subset[:eval_train_subset].to(device)
            train_eval = Split(data.train.x[subset], data.train.y[subset])
        mask_generator = torch.Generator().manual_seed(mask_seed(seed))
        return cls(seed, data, generator, mask_generator, train_eval)

    def next_batch(self, batch_size: int) -> torch.Tensor:
        """Indices of the next minibatch; a new shuffled pass starts when one is used up."""
        n = len(self.data.train)
        if self.order is None or self.position >= n:
            self.order = torch.randperm(n, generator=self.generator, device=self.generator.device)
            self.position = 0
        index = self.order[self.position : self.position + batch_size]
        self.position += batch_size
        return index

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


class RunOutputs:
    """The outputs of one pass of a pack's programs, read run by run: ``of(r)`` is run r's
    ``(M, N, K)`` (None: its program did not run), ``stacked(runs)`` those of ``runs`` as
    ``(len(runs), M, N, K)``."""

    def __init__(self, pack: Pack, programs: list[torch.Tensor | None]):
        self.pack, self.programs = pack, programs

    def of(self, r: int) -> torch.Tensor | None:
        program, first = self.pack.slots[r]
        outputs = self.programs[program]
        return None if outputs is None else outputs[first : first + self.pack.members]

    def stacked(self, runs: list[int]) -> torch.Tensor:
        if len(self.programs) == 1:  # one program of B × M members, run r's at r·M … r·M + M − 1
            pack = self.pack
            stacked = self.programs[0].unflatten(0, (len(pack.specs), pack.members))
            if len(runs) < len(pack.specs):
                stacked = stacked[torch.tensor(runs, device=stacked.device)]
            return stacked
        return torch.stack([self.programs[r] for r in runs])  # a program per run


class Pack:
    """The runs ``specs`` (one, several β, or several seeds' β: run g·B + b is seed g's β b) with
    their data (seed -> its Dataset), programs and seed groups, on ``device``."""

    def __init__(self, specs: list[RunSpec], data: dict[int, Dataset], device: torch.device):
        check_pack(specs)
        self.specs, self.seeds = specs, pack_seeds_of(specs)
        missing = [seed for seed in self.seeds if seed not in data]
        if missing:
            raise ValueError(f"no dataset for seeds {missing} of the pack")
        check_seed_data([data[seed] for seed in self.seeds])
        self.members, self.device = specs[0].n_members, device
        self.data = data[self.seeds[0]]  # the shapes every seed's data share
        self.group_of = [self.seeds.index(s.seed) for s in specs]  # run r's seed group
        spec = specs[0]
        if len(specs) > 1 and stacks(spec, self.data):
            copies = len(specs) // len(self.seeds)
            self.programs = [build_ensemble(spec, self.data, self.seeds, device, copies)]
            self.slots = [(0, r * self.members) for r in range(len(specs))]
        elif len(self.seeds) > 1:
            raise ValueError(
                f"a pack of several seeds runs stacked MLPs only, not {spec.arch!r} with execution "
                f"{spec.recipe.execution!r}: train the seeds one after the other (job.py does)"
            )
        else:
            self.programs = [build_ensemble(spec, self.data, [spec.seed], device) for _ in specs]
            self.slots = [(r, 0) for r in range(len(specs))]
        self.groups = [
            Group.of_seed(seed, data[seed], spec.recipe.eval_train_subset, device)
            for seed in self.seeds
        ]
        self.frozen: dict[int, list[torch.Tensor]] = {}  # a finished run -> its learners' tensors

    def parameters(self) -> list[torch.nn.Parameter]:
        return [p for program in self.programs for p in program.parameters()]

    def live(self, running: list[int]) -> list[bool]:
        """Which programs hold a running run (the others are not run)."""
        live = {self.slots[r][0] for r in running}
        return [i in live for i in range(len(self.programs))]

    def member_tensors(self, r: int) -> list[torch.Tensor]:
        """Run r's parameters and buffers, as views that can be written in place."""
        program, first = self.slots[r]
        return self.programs[program].member_tensors(first, self.members)

    def freeze(self, r: int) -> None:
        """Keep run r's learners as they are: ``restore_frozen`` puts them back after each step."""
        self.frozen[r] = [t.detach().clone() for t in self.member_tensors(r)]

    @torch.no_grad()
    def restore_frozen(self) -> None:
        for r, saved in self.frozen.items():
            for tensor, value in zip(self.member_tensors(r), saved):
                tensor.copy_(value)

    def train(self) -> None:
        for program in self.programs:
            program.train()

    def minibatch(self, batch_size: int, augment=None) -> tuple[torch.Tensor, torch.Tensor]:
        """The next minibatch of every seed: ``x`` ``(n, …)`` and ``y`` ``(n,)`` for one seed;
        ``(G, n, …)`` and ``(G, n)`` for G (the programs take them ``grouped``)."""
        xs, ys = [], []
        for group in self.groups:
            index = group.next_batch(batch_size)
            x = group.data.train.x[index]
            if augment is not None:
                x = augment(x, group.generator)
            x = group.data.normalise(x)
            if self.device.type == "cuda" and x.ndim == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            xs.append(x)
            ys.append(group.data.train.y[index])
        return per_group(xs), per_group(ys)

    def autocast(self):
        """bf16 autocast on CUDA with the recipe's mixed_precision (training and evaluation
        alike); CPU always runs fp32."""
        if self.device.type == "cuda" and self.specs[0].recipe.mixed_precision:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def forward(self, x: torch.Tensor, running: list[int]) -> RunOutputs:
        """The running runs' outputs on a minibatch (``minibatch``'s x), in fp32."""
        grouped = len(self.groups) > 1
        with self.autocast():
            return RunOutputs(
                self,
                [
                    program(x, grouped=grouped).float() if live else None
                    for program, live in zip(self.programs, self.live(running))
                ],
            )

    def split(self, name: str) -> list[tuple[Dataset, Split]]:
        """Each seed's (data, split ``name``): train is its train_eval subset."""
        return [
            (g.data, g.train_eval if name == "train" else g.data.split(name)) for g in self.groups
        ]

    def predict(self, name: str, batch_size: int, running: list[int] | None = None) -> RunOutputs:
        """Every run's outputs on split ``name`` in eval mode, fp32 (``running``: only the
        programs that hold one of these runs)."""
        live = self.live(running) if running is not None else [True] * len(self.programs)
        parts = self.split(name)
        with self.autocast():  # as training runs
            return RunOutputs(
                self,
                [
                    predict_groups(program, parts, batch_size) if on else None
                    for program, on in zip(self.programs, live)
                ],
            )

    def targets(self, y: torch.Tensor, runs: list[int]) -> torch.Tensor:
        """The targets of runs ``runs``: ``y`` itself (one seed), else each run's seed's row."""
        if len(self.groups) == 1:
            return y
        return y[torch.tensor([self.group_of[r] for r in runs], device=y.device)]

    def seed_targets(self, y: torch.Tensor, r: int) -> torch.Tensor:
        """Run r's own targets of a minibatch's ``y``."""
        return y[self.group_of[r]] if len(self.groups) > 1 else y


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
