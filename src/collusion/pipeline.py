"""The experiment grid: run enumeration, run paths and labels, each run's spec and split, and the
pairing of mitigation experiments with their baselines. Torch-free (the Snakefile reads it at
every start). Beside it: checks.py (the configuration's cross-checks), plan.py (which runs need
training, in which jobs) and costs.py (what a training job asks of a cluster)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from .spec import MITIGATION_KEYS, RUN_OUTPUTS, Recipe, RunSpec

RUN_KEY = "{experiment}/{dataset}/{model}/{aggregation}/M{members}/beta{beta}/seed{seed}"
# every output of a configuration is under its results root (config key results_root)
RESULTS = "results"  # the default root
RUN_DIR = f"{{root}}/runs/{RUN_KEY}"
# What the labels below produce, and all the wildcards accept (common.smk's wildcard_constraints)
LABEL_PATTERNS = {"members": r"\d+", "beta": r"\d+(\.\d+)?", "seed": r"\d+"}
MAX_BETA_LABEL = 40  # characters; a β needing more (1e-50) is refused at start
# a pack (all β of one setting and seed, trained as one job) keeps its checkpoint and lock here
PACK_KEY = "{experiment}/{dataset}/{model}/{aggregation}/M{members}/pack/seed{seed}"


def beta_label(beta: float) -> str:
    """β as it appears in paths: the shortest decimal that reads back as the same float, never an
    exponent (0, 0.25, 1, 1.5, 0.00001, 1000000)."""
    beta = float(beta) + 0.0  # -0.0 -> 0.0
    if not (math.isfinite(beta) and beta >= 0):
        raise ValueError(f"β = {beta} has no path label: β must be a finite number ≥ 0")
    text = format(Decimal(repr(beta)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def count_label(value) -> str:
    """M and seeds in paths: 3, never 3.0."""
    if isinstance(value, bool) or not float(value).is_integer() or value < 0:
        raise ValueError(f"{value!r} is not a whole number ≥ 0")
    return str(int(value))


@dataclass(frozen=True)
class Run:
    experiment: str
    dataset: str
    model: str
    aggregation: str
    members: int
    beta: float
    seed: int
    # the configuration's results root: where the run is, not which run it is (not compared)
    root: str = field(default=RESULTS, compare=False)

    @property
    def dir(self) -> str:
        return RUN_DIR.format(
            **{
                **self.__dict__,
                "members": count_label(self.members),
                "beta": beta_label(self.beta),
                "seed": count_label(self.seed),
            }
        )

    @property
    def pack_dir(self) -> str:
        """Where the pack of this run's β (its seed's, when packed) keeps its checkpoint."""
        return f"{self.root}/runs/" + PACK_KEY.format(
            **{
                **self.__dict__,
                "members": count_label(self.members),
                "seed": count_label(self.seed),
            }
        )

    def path(self, name: str) -> str:
        return f"{self.dir}/{name}"

    @property
    def setting(self) -> tuple:
        """Everything but β and seed: one curve of a β sweep."""
        return (self.experiment, self.dataset, self.model, self.aggregation, self.members)


def normalise_grid(config: dict) -> None:
    """Whole numbers the schema accepts as integers (seeds: [0.0], ensemble_sizes: [3.0]) become
    ints, and β floats, so runs, paths and wildcards agree on one label."""
    for exp in config["experiments"].values():
        for key in ("ensemble_sizes", "seeds"):
            exp[key] = [int(v) if isinstance(v, float) and v.is_integer() else v for v in exp[key]]
        exp["betas"] = [float(v) if isinstance(v, (int, float)) else v for v in exp["betas"]]


def is_mitigated(recipe: dict) -> bool:
    return any(recipe.get(key) for key in MITIGATION_KEYS)


def mitigation_baselines(config: dict) -> dict[str, str]:
    """Each mitigation experiment (one with a ``baseline``) -> the unmitigated experiment whose
    runs its runs are paired with."""
    return {
        name: exp["baseline"] for name, exp in config["experiments"].items() if "baseline" in exp
    }


def mitigation_experiments(config: dict) -> dict[str, dict]:
    """Each mitigation experiment -> its baseline and a label of its mitigation (the options on)."""
    out = {}
    for name, baseline in mitigation_baselines(config).items():
        recipe = config["recipes"][config["experiments"][name]["recipe"]]
        label = ", ".join(
            mitigation_label(key, recipe[key]) for key in MITIGATION_KEYS if recipe.get(key)
        )
        out[name] = {"baseline": baseline, "mitigation": label}
    return out


def mitigation_label(key: str, value) -> str:
    """``learner_dropout 0.5``; an option that is on or off (gncl) by its name and what it means."""
    return "gncl (λ = β)" if key == "gncl" else f"{key} {value:g}"


def run_output_pattern(root: str, name: str) -> str:
    """A run's file ``name`` under ``root``, its labels as wildcards (the training rules' outputs)."""
    return f"{RUN_DIR.replace('{root}', root)}/{name}"


def results_root(config: dict) -> str:
    """The folder every output of this configuration is written under (config key
    ``results_root``; a configuration built in Python without the schema: the default)."""
    return config.get("results_root", RESULTS)


def experiment_runs(config: dict, experiment: str) -> list[Run]:
    exp, root = config["experiments"][experiment], results_root(config)
    return [
        Run(experiment, exp["dataset"], model, aggregation, members, float(beta), seed, root)
        for model in exp["models"]
        for aggregation in exp["aggregations"]
        for members in exp["ensemble_sizes"]
        for beta in exp["betas"]
        for seed in exp["seeds"]
    ]


def all_runs(config: dict) -> list[Run]:
    return [
        run for experiment in config["experiments"] for run in experiment_runs(config, experiment)
    ]


def sweep_runs(config: dict, experiment: str) -> list[Run]:
    """The runs of the β ∈ [0, 1] sweep (β > 1 runs are divergence demonstrations)."""
    return [run for run in experiment_runs(config, experiment) if run.beta <= 1]


def divergent_runs(config: dict) -> list[Run]:
    return [run for run in all_runs(config) if run.beta > 1]


def dynamics_runs(config: dict, experiment: str) -> list[Run]:
    """β = 0 and β = 1 of the first seed of every setting: the training-dynamics figure."""
    exp = config["experiments"][experiment]
    first_seed = exp["seeds"][0]
    return [
        run
        for run in experiment_runs(config, experiment)
        if run.seed == first_seed and run.beta in (0.0, 1.0)
    ]


# the fields of a run that its path labels (RUN_KEY)
LABELS = ("experiment", "dataset", "model", "aggregation", "members", "beta", "seed")


def _from_labels(labels: dict[str, str], where: str, root: str) -> Run:
    """A run from its path labels (the keys of RUN_KEY), each checked against LABEL_PATTERNS."""
    for key, pattern in LABEL_PATTERNS.items():
        if not re.fullmatch(pattern, labels[key]):
            raise ValueError(f"{where}: {key} label {labels[key]!r} does not match {pattern}")
    kinds = {"members": int, "beta": float, "seed": int}
    return Run(**{key: kinds.get(key, str)(labels[key]) for key in LABELS}, root=root)


def run_from_wildcards(wildcards, root: str = RESULTS) -> Run:
    return _from_labels({key: getattr(wildcards, key) for key in LABELS}, "wildcards", root)


def run_spec(config: dict, run: Run) -> RunSpec:
    model = dict(config["models"][run.model])
    arch = model.pop("arch")
    return RunSpec(
        arch=arch,
        model_options=model,
        aggregation=run.aggregation,
        n_members=run.members,
        beta=run.beta,
        seed=run.seed,
        recipe=Recipe(**config["recipes"][config["experiments"][run.experiment]["recipe"]]),
    )


def split_config(config: dict, run: Run) -> dict:
    split = config["experiments"][run.experiment]["split"]
    return {
        "fractions": split["fractions"],
        "seed": run.seed if split["seed"] == "run" else int(split["seed"]),
        "fixed": split["fixed"],
    }


def one_of(names) -> str:
    """A wildcard constraint matching exactly these names (none: a pattern that never matches)."""
    return "|".join(re.escape(str(name)) for name in names) or "(?!)"


def prepared_path(dataset: str) -> str:
    return f"resources/prepared/{dataset}.npz"


def run_outputs(runs: list[Run], names=RUN_OUTPUTS) -> list[str]:
    return [run.path(name) for run in runs for name in names]


def parse_run_dir(path: str | Path) -> Run:
    """Inverse of Run.dir, for tables built from run directories."""
    parts = Path(path).parts
    i = parts.index("runs")
    experiment, dataset, model, aggregation, members, beta, seed = parts[i + 1 : i + 8]
    prefixes = {"M": members, "beta": beta, "seed": seed}
    for prefix, part in prefixes.items():
        if not part.startswith(prefix):
            raise ValueError(f"{path}: {part!r} should start with {prefix!r} (layout {RUN_KEY})")
    labels = dict(experiment=experiment, dataset=dataset, model=model, aggregation=aggregation)
    labels |= {"members": members[1:], "beta": beta[4:], "seed": seed[4:]}
    return _from_labels(labels, str(path), Path(*parts[:i]).as_posix() if i else ".")
