"""What a run is, without torch: its recipe (how to train), its spec (learners, data handling, β,
seed, recipe), the mitigation options, the selections it records, and their checks.

Planning a workflow reads these (the Snakefile builds every run's spec at start); training reads
the same values back from the job (job.py), so both sides agree on one definition.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

# what a run writes in its directory (train.py, record.py, job.py)
RUN_OUTPUTS = ("history.csv", "predictions.npz", "provenance.json")

# the checkpoint selections every run records: the epoch of lowest validation ensemble loss (the
# authors' rule) and the last epoch; a recipe's selection_horizons add both restricted to the first
# E epochs, named ``best_val@E`` and ``last@E``
SELECTIONS = ("best_val", "last")

# the recipe options that mitigate learner collusion (0 = off; docs/mitigations.md)
MITIGATION_KEYS = ("learner_dropout", "debiasing_penalty", "beta_warmup", "gncl")

# how the learners' outputs combine (objective.py defines each)
AGGREGATIONS = ("score", "probability", "probability_double_softmax", "sum", "regression")
# aggregations whose ensemble averages or sums raw outputs: the debiasing penalty is defined for
# these only (a learner's logit offset is no offset from a probability average)
DEBIASABLE = ("score", "sum", "regression")
# aggregations where GNCL's diversity term is defined: a loss of the averaged raw outputs
# (objective.gncl_diversity); summed logits are no average, probability averaging averages softmaxes
GNCL_AGGREGATIONS = ("score", "regression")


@dataclass
class Recipe:
    """How to train. Training runs in periods, each ended by an evaluation (a history row): one
    epoch, or ``eval_every_steps`` minibatches (the authors' ImageNet recipe). ``epochs`` is the
    number of periods; milestones, patiences and horizons count periods. These fields and defaults
    are the truth the schema's ``recipe`` restates (tests/test_config_schema.py checks they agree)."""

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
    # mitigations of learner collusion (MITIGATION_KEYS); 0 = off
    # learner_dropout: rate p; each minibatch, L_ens averages a random subset of learners
    learner_dropout: float = 0.0
    debiasing_penalty: float = 0.0  # strength λ of λ Σ_j w_j ‖bias_j‖² (raw-output averaging only)
    beta_warmup: int = 0  # periods over which β rises linearly (per minibatch) from 0 to its target
    # gncl: train on GNCL's objective L_ind − λ (1/2) Σ_j w_j d_jᵀ H d_j at λ = the run's β
    # instead of L_β (objective.gncl_objective; score averaging and regression only)
    gncl: bool = False
    # the selections also recorded restricted to the first E periods, for each E here (each below
    # epochs): one long run answers every shorter budget, when the schedule does not depend on epochs
    selection_horizons: list[int] = field(default_factory=list)

    @property
    def mitigated(self) -> bool:
        """Whether any mitigation is on."""
        return any(getattr(self, key) for key in MITIGATION_KEYS)

    @property
    def selections(self) -> list[str]:
        """The selections a run of this recipe records, in predictions.npz and its outcome."""
        return list(SELECTIONS) + [
            horizon_selection(name, horizon)
            for horizon in self.selection_horizons
            for name in SELECTIONS
        ]


def horizon_selection(name: str, horizon: int) -> str:
    """``best_val`` restricted to the first 5 periods: ``best_val@5``."""
    return f"{name}@{horizon}"


def parse_selection(selection: str) -> tuple[str, int | None]:
    """``best_val@5`` -> (``best_val``, 5); ``last`` -> (``last``, None)."""
    name, _, horizon = selection.partition("@")
    if name not in SELECTIONS or (horizon and not horizon.isdigit()):
        raise ValueError(
            f"unknown selection {selection!r}; allowed: {', '.join(SELECTIONS)}, or one of them "
            "at a horizon of E periods, e.g. best_val@5"
        )
    return name, int(horizon) if horizon else None


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

    @classmethod
    def from_dict(cls, spec: dict) -> RunSpec:
        return cls(**{**spec, "recipe": Recipe(**spec["recipe"])})

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


def check_recipe(recipe: Recipe, aggregation: str) -> None:
    """The mitigation options' ranges (the debiasing penalty only where it is defined) and the
    selection horizons; raises ValueError naming the option and the fix."""
    if not 0.0 <= recipe.learner_dropout < 1.0:
        raise ValueError(f"learner_dropout is a rate in [0, 1), got {recipe.learner_dropout}")
    if not recipe.debiasing_penalty >= 0:
        raise ValueError(f"debiasing_penalty must be >= 0, got {recipe.debiasing_penalty}")
    if recipe.debiasing_penalty and aggregation not in DEBIASABLE:
        raise ValueError(
            f"debiasing_penalty needs an ensemble that averages raw outputs "
            f"({', '.join(DEBIASABLE)}), not aggregation {aggregation!r} (a learner's "
            "logit offset is no offset from a probability average): set debiasing_penalty: 0 or "
            "use score averaging"
        )
    if isinstance(recipe.beta_warmup, bool) or not (
        float(recipe.beta_warmup).is_integer() and recipe.beta_warmup >= 0
    ):
        raise ValueError(
            f"beta_warmup is a whole number of periods >= 0, got {recipe.beta_warmup!r}"
        )
    check_gncl(recipe, aggregation)
    horizons = recipe.selection_horizons
    if any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in horizons):
        raise ValueError(f"selection_horizons are whole numbers of periods >= 1, got {horizons}")
    if len(set(horizons)) != len(horizons):
        raise ValueError(f"selection_horizons must be distinct, got {horizons}")
    too_long = [h for h in horizons if h >= recipe.epochs]
    if too_long:
        raise ValueError(
            f"selection_horizons {too_long} are not below epochs ({recipe.epochs}): a horizon "
            "restricts the selections to the first E periods of a longer run; the full run's "
            "selections are best_val and last already, so drop them or raise epochs"
        )


def check_gncl(recipe: Recipe, aggregation: str) -> None:
    """GNCL replaces L_β: defined where the loss is one of the averaged raw outputs, and not with
    learner dropout (whose subset average is a term of L_β that GNCL's objective does not have)."""
    if not isinstance(recipe.gncl, bool):
        raise ValueError(f"gncl is true or false, got {recipe.gncl!r}")
    if not recipe.gncl:
        return
    if aggregation not in GNCL_AGGREGATIONS:
        raise ValueError(
            f"gncl needs a loss of the averaged raw outputs ({', '.join(GNCL_AGGREGATIONS)}), not "
            f"aggregation {aggregation!r} (GNCL's diversity term is the second-order expansion "
            "of that loss around the average): set gncl: false or use score averaging"
        )
    if recipe.learner_dropout:
        raise ValueError(
            "gncl replaces L_β, whose ensemble term learner_dropout averages over a subset: "
            "GNCL's objective has no such term; set learner_dropout: 0 or gncl: false"
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


@dataclass(frozen=True)
class Part:
    """The runs of one seed that train together (``specs``: RunSpec.to_dict, β in order), their
    ``split``, each run's output directory, and the pack directory of their checkpoint and lock
    when trained on their own."""

    specs: list[dict]
    split: dict
    run_dirs: list[str]
    pack_dir: str


@dataclass(frozen=True)
class TrainingJob:
    """One training job: the value the workflow builds (plan.py) and job.train runs. Its parts
    are its seeds' runs, seed by seed."""

    parts: list[Part]
    data: str  # the prepared data file
    job_dir: str | None = (
        None  # a job of several seeds: its record, and its one program's checkpoint
    )
    threads: int = 1  # CPU results are bit-reproducible per thread count
    keep_checkpoint: bool = True
    checkpoint_seconds: float = 30.0  # 0: after every period
    device: str | None = None  # None: CUDA where there is one
    one_program: bool = True  # several seeds may train as one program
    origin: dict = field(default_factory=dict)  # the rule and log that run the job (provenance)
    name: str = ""  # what its progress lines call it: experiment, model, aggregation, M

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, job: dict) -> TrainingJob:
        return cls(**{**job, "parts": [Part(**part) for part in job["parts"]]})

    @classmethod
    def of_run(cls, spec: dict, split: dict, data: str, run_dir: str, **how) -> TrainingJob:
        """One run, its checkpoint in its own directory."""
        return cls([Part([spec], split, [str(run_dir)], str(run_dir))], str(data), **how)
