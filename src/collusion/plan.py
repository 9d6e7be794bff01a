"""Which runs need training, and the jobs that train them. Torch-free: the Snakefile plans at
every start (workflow/rules/train.smk).

A run is *done* when its three outputs exist, its provenance.json records the identity that the
configuration and the code give it now (fingerprint.run_identity: its spec, its split and the code
it trains with) and its prepared data is not newer than its provenance. The jobs of a packed
experiment are planned from the runs that are not done: adding a β, a seed or an M trains only the
new runs. A done run is no pack job's output, so Snakemake, which deletes a job's outputs before
running it, never touches it; the rule ``train`` holds it (a target needs a rule), and retrains it
alone (exactly as in its pack) when the command forces it (``-R train``, ``--forcerun <its file>``,
``-F``). A run whose outputs exist but are not done (an edit to its recipe or to the code it uses)
is planned again.

Snakemake records a job's params with each of its outputs, and reruns an output whose producer's
params now differ: every training job has one visible param, ``identity``, and hides the others
(``hidden``). A job of a pack's is ``job_identity``, of its runs' identities of today, so a stale
run's job runs; the job writes it into each run's provenance (``job.identity``), and ``train``,
holding a finished packed run, gives the one recorded there (``held_identity``): the same value,
so Snakemake leaves the run alone. ``train`` for an unpacked experiment's run gives the run's
identity. The plan depends on the files only, never on the command line, so a SLURM job step,
which parses the workflow again before it removes its job's outputs, plans the same jobs.

Packing: an experiment with pack_betas (auto: the CPU-sized datasets with several β and a schedule
that packs) trains the β of one (model, aggregation, M, seed) together, and pack_seeds such packs
(auto: five on the CPU-sized datasets) in one job: one job, and one rule, per (model, aggregation,
M, group of seeds), ``train_pack_<experiment>_<model>_<aggregation>_M<m>_seed<s>[_<t>…]``. Every
other experiment trains one job per run: the rule ``train``, whose wildcards are the run's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from . import costs
from .fingerprint import run_identity as identity_of
from .pipeline import (
    PACK_KEY,
    RUN_OUTPUTS,
    Run,
    count_label,
    experiment_runs,
    prepared_path,
    results_root,
    run_spec,
    split_config,
)
from .spec import Part, TrainingJob, canonical_hash

# seeds one packed job trains by default (pack_seeds: auto, CPU-sized datasets): each job starts
# Python and imports torch once (~6 s) for five seeds' packs, stacked MLPs as one program
PACK_SEEDS_AUTO = 5


def packs_betas(config: dict, experiment: str) -> bool:
    """``pack_betas``: true, false, or auto (on for CPU-sized datasets with several β and a
    schedule that packs; off for the GPU datasets, a dataset of your own with ``gpu: true`` among
    them, which keep one job per run)."""
    exp = config["experiments"][experiment]
    setting = exp["pack_betas"]
    if setting != "auto":
        return bool(setting)
    schedule = config["recipes"][exp["recipe"]]["schedule"]
    return (
        not costs.needs_gpu(config, exp["dataset"])
        and len(exp["betas"]) > 1
        and schedule != "plateau"
    )


def packed_experiments(config: dict) -> list[str]:
    return [name for name in config["experiments"] if packs_betas(config, name)]


def pack_seeds(config: dict, experiment: str) -> int:
    """``pack_seeds``: how many seeds' packs one packed job trains (auto: PACK_SEEDS_AUTO on the
    CPU-sized datasets, 1 on the GPU datasets and for unpacked experiments)."""
    exp = config["experiments"][experiment]
    setting = exp["pack_seeds"]
    if setting != "auto":
        return int(setting)
    cpu_sized = not costs.needs_gpu(config, exp["dataset"])
    return PACK_SEEDS_AUTO if packs_betas(config, experiment) and cpu_sized else 1


def seed_groups(config: dict, experiment: str) -> list[list[int]]:
    """The seeds of each job of a packed experiment: consecutive groups of pack_seeds seeds."""
    seeds, size = config["experiments"][experiment]["seeds"], pack_seeds(config, experiment)
    return [list(seeds[i : i + size]) for i in range(0, len(seeds), size)]


def seeds_label(seeds: list[int]) -> str:
    """A group of seeds in rule names and paths: seed3, seeds0_1_12."""
    labels = [count_label(seed) for seed in seeds]
    return f"seed{labels[0]}" if len(labels) == 1 else "seeds" + "_".join(labels)


@dataclass(frozen=True)
class Slot:
    """One job of a packed experiment's full grid: a (model, aggregation, M) and a group of seeds."""

    experiment: str
    dataset: str
    model: str
    aggregation: str
    members: int
    seeds: tuple[int, ...]

    @property
    def rule(self) -> str:
        return (
            f"train_pack_{self.experiment}_{self.model}_{self.aggregation}_M{self.members}_"
            f"{seeds_label(list(self.seeds))}"
        )

    @property
    def key(self) -> str:
        """The job's log, benchmark and (several seeds) job directory:
        <experiment>/<dataset>/<model>/<aggregation>/M<m>/pack/seed<s…>."""
        return PACK_KEY.replace("seed{seed}", seeds_label(list(self.seeds))).format(
            experiment=self.experiment,
            dataset=self.dataset,
            model=self.model,
            aggregation=self.aggregation,
            members=count_label(self.members),
        )

    def runs(self, config: dict) -> list[Run]:
        """Its runs, seed by seed, each seed's β in the experiment's order."""
        setting = (self.experiment, self.dataset, self.model, self.aggregation, self.members)
        betas = config["experiments"][self.experiment]["betas"]
        root = results_root(config)
        return [Run(*setting, float(beta), seed, root) for seed in self.seeds for beta in betas]


def slots(config: dict, experiment: str) -> list[Slot]:
    exp = config["experiments"][experiment]
    return [
        Slot(experiment, exp["dataset"], model, aggregation, members, tuple(seeds))
        for model in exp["models"]
        for aggregation in exp["aggregations"]
        for members in exp["ensemble_sizes"]
        for seeds in seed_groups(config, experiment)
    ]


def run_identity(config: dict, run: Run) -> str:
    return identity_of(run_spec(config, run).to_dict(), split_config(config, run))


def recorded(run: Run) -> dict | None:
    """The run's provenance.json, if it can be read."""
    try:
        return json.loads(Path(run.path("provenance.json")).read_text())
    except (OSError, ValueError):
        return None


def held_identity(config: dict, run: Run) -> str:
    """The identity param of ``train`` holding a packed run: that of the job that trained it
    (recorded in its provenance), so that Snakemake sees no change; the run's own when none is."""
    job = (recorded(run) or {}).get("job") or {}
    return job.get("identity") or run_identity(config, run)


def is_done(config: dict, run: Run, script: str | Path | None = None) -> bool:
    """Its outputs exist, its provenance records its identity of today, and neither its prepared
    data nor the training ``script`` is newer than it (what Snakemake would rerun it for)."""
    if not all(Path(run.path(name)).exists() for name in RUN_OUTPUTS):
        return False
    record = recorded(run)
    if record is None:
        return False
    data = Path(prepared_path(run.dataset))
    written = Path(run.path("provenance.json")).stat().st_mtime
    older = [data] + ([Path(script)] if script else [])
    fresh = all(path.exists() and path.stat().st_mtime <= written for path in older)
    return fresh and record.get("identity") == run_identity(config, run)


@dataclass(frozen=True)
class PlannedJob:
    """A training job to run: its rule, key, runs and the TrainingJob it hands the script."""

    slot: Slot
    runs: tuple[Run, ...]
    job: TrainingJob

    @property
    def outputs(self) -> list[str]:
        return [run.path(name) for run in self.runs for name in RUN_OUTPUTS]

    def identity(self, config: dict) -> str:
        """The job's identity: its runs' identities of today (its visible param)."""
        return canonical_hash([run_identity(config, run) for run in self.runs])


def hidden(value) -> SimpleNamespace:
    """A rule's param that Snakemake does not record, nor compare between runs: it records only
    the values it can represent (builtin types); the script reads ``.value``."""
    return SimpleNamespace(value=value)


def training_job(config: dict, runs: list[Run], job_dir: str | None = None) -> TrainingJob:
    """The job that trains ``runs`` (seed by seed): a part per seed."""
    parts = []
    for seed in dict.fromkeys(run.seed for run in runs):
        own = [run for run in runs if run.seed == seed]
        parts.append(
            Part(
                specs=[run_spec(config, run).to_dict() for run in own],
                split=split_config(config, own[0]),
                run_dirs=[run.dir for run in own],
                pack_dir=own[0].pack_dir,
            )
        )
    keep = config["keep_checkpoints"]
    data, job_dir = prepared_path(runs[0].dataset), job_dir if len(parts) > 1 else None
    return TrainingJob(parts, data, job_dir, keep_checkpoint=keep, name=job_name(runs[0]))


def job_name(run: Run) -> str:
    """A training job in its progress lines: its experiment, model, aggregation and M."""
    return f"{run.experiment} {run.model} {run.aggregation} M{run.members}"


def run_job(config: dict, run: Run) -> TrainingJob:
    """The job of one run alone (the rule ``train``): its checkpoint in its own directory."""
    spec, split = run_spec(config, run).to_dict(), split_config(config, run)
    keep = config["keep_checkpoints"]
    return TrainingJob.of_run(
        spec, split, prepared_path(run.dataset), run.dir, keep_checkpoint=keep, name=job_name(run)
    )


def pack_jobs(config: dict, script=None, everything: bool = False) -> list[PlannedJob]:
    """The jobs of the packed experiments: each slot's runs that are not done (``is_done``, with
    the training ``script``; ``everything``: all, as on a fresh checkout), slots with none left
    out."""
    jobs = []
    for experiment in packed_experiments(config):
        for slot in slots(config, experiment):
            runs = slot.runs(config)
            if not everything:
                runs = [run for run in runs if not is_done(config, run, script)]
            if runs:
                job_dir = f"{results_root(config)}/runs/{slot.key}"
                jobs.append(PlannedJob(slot, tuple(runs), training_job(config, runs, job_dir)))
    return jobs


def job_sizes(config: dict) -> list[tuple[Run, int]]:
    """Every training job of the full grid: (its first run, how many runs it trains)."""
    packed = [(job.runs[0], len(job.runs)) for job in pack_jobs(config, everything=True)]
    return packed + [
        (run, 1)
        for name in config["experiments"]
        if not packs_betas(config, name)
        for run in experiment_runs(config, name)
    ]
