"""The experiment grid: config checks beyond the schema, run enumeration, run paths and specs."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from .data.catalog import DATASET_DRAWS, DATASET_ROWS, DATASET_TASKS

# torch-free at import: the analysis and figure jobs use Run and parse_run_dir only; the model
# registry and the run spec (which import torch) are imported where they are needed

RUN_KEY = "{experiment}/{dataset}/{model}/{aggregation}/M{members}/beta{beta}/seed{seed}"
RUN_DIR = f"results/runs/{RUN_KEY}"
RUN_OUTPUTS = ("history.csv", "predictions.npz", "provenance.json")
# What the labels below produce, and all the wildcards accept (common.smk's wildcard_constraints)
LABEL_PATTERNS = {"members": r"\d+", "beta": r"\d+(\.\d+)?", "seed": r"\d+"}
MAX_BETA_LABEL = 40  # characters; a β needing more (1e-50) is refused at start
# a pack (all β of one setting and seed, trained as one job) keeps its checkpoint and lock here
PACK_KEY = "{experiment}/{dataset}/{model}/{aggregation}/M{members}/pack/seed{seed}"
# seeds one packed job trains by default (pack_seeds: auto, CPU-sized datasets): each job starts
# Python and imports torch once (~6 s) for five seeds' packs, stacked MLPs as one program
PACK_SEEDS_AUTO = 5


# the recipe options that mitigate learner collusion (collusion.train.Recipe; 0 = off)
MITIGATION_KEYS = ("learner_dropout", "debiasing_penalty", "beta_warmup")


class ConfigError(ValueError):
    pass


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
        return "results/runs/" + PACK_KEY.format(
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


def check_config(config: dict) -> None:
    """Cross-references the schema cannot express; raises ConfigError naming key and allowed values."""
    from .models import ARCHITECTURES, check_options
    from .objective import AGGREGATIONS
    from .train import Recipe, check_mitigations

    models, recipes = config["models"], config["recipes"]
    for name, model in models.items():
        if model["arch"] not in ARCHITECTURES:
            raise ConfigError(
                f"models.{name}.arch: unknown architecture {model['arch']!r}; "
                f"allowed: {', '.join(sorted(ARCHITECTURES))}"
            )
        options = {key: value for key, value in model.items() if key != "arch"}
        try:
            check_options(model["arch"], options)
        except ValueError as error:
            raise ConfigError(f"models.{name}: {error}") from None
    for name, exp in config["experiments"].items():
        where = f"experiments.{name}"
        if exp["dataset"] not in DATASET_TASKS:
            raise ConfigError(
                f"{where}.dataset: unknown dataset {exp['dataset']!r}; "
                f"allowed: {', '.join(sorted(DATASET_TASKS))}"
            )
        for model in exp["models"]:
            if model not in models:
                raise ConfigError(
                    f"{where}.models: {model!r} is not defined under models:; "
                    f"defined: {', '.join(sorted(models))}"
                )
        if exp["recipe"] not in recipes:
            raise ConfigError(
                f"{where}.recipe: {exp['recipe']!r} is not defined under recipes:; "
                f"defined: {', '.join(sorted(recipes))}"
            )
        task = DATASET_TASKS[exp["dataset"]]
        for aggregation in exp["aggregations"]:
            if (aggregation == "regression") != (task == "regression"):
                allowed = (
                    "regression"
                    if task == "regression"
                    else ", ".join(a for a in AGGREGATIONS if a != "regression")
                )
                raise ConfigError(
                    f"{where}.aggregations: {aggregation!r} does not fit {exp['dataset']}, a "
                    f"{task} dataset; allowed: {allowed}"
                )
        fractions = exp["split"]["fractions"]
        if abs(sum(fractions) - 1) > 1e-6:
            raise ConfigError(f"{where}.split.fractions must sum to 1, got {fractions}")
        if exp["dataset"] in DATASET_ROWS:
            from .data.prepared import split_sizes

            rows = DATASET_ROWS[exp["dataset"]]
            sizes = split_sizes(rows, fractions)
            if min(sizes) < 1:
                empty = ("train", "val", "test")[sizes.index(min(sizes))]
                raise ConfigError(
                    f"{where}.split.fractions: {fractions} of {exp['dataset']}'s {rows} examples "
                    f"leave the {empty} part empty (train/val/test sizes {sizes[0]}/{sizes[1]}/"
                    f"{sizes[2]}); every part needs at least one example: raise its fraction"
                )
        if exp["dataset"] in DATASET_DRAWS:
            check_draws(exp, where)
        for aggregation in exp["aggregations"]:
            try:
                check_mitigations(Recipe(**recipes[exp["recipe"]]), aggregation)
            except ValueError as error:
                raise ConfigError(f"{where}: recipe {exp['recipe']!r}: {error}") from None
        if "baseline" in exp:
            check_baseline(config, name)
        for beta in exp["betas"]:
            if not (isinstance(beta, (int, float)) and math.isfinite(beta) and beta >= 0):
                raise ConfigError(
                    f"{where}.betas: β must be a finite number ≥ 0, got {beta}: it is a weight in "
                    "the objective and names the run's directory (for a divergence demonstration "
                    "use a finite β > 1, e.g. 2)"
                )
            if len(beta_label(beta)) > MAX_BETA_LABEL:
                raise ConfigError(
                    f"{where}.betas: β = {beta!r} would be written {beta_label(beta)} in its "
                    f"run's path, over {MAX_BETA_LABEL} characters; choose a β with fewer "
                    "decimal digits"
                )


def check_draws(exp: dict, where: str) -> None:
    """A dataset of independently drawn training sets: the split seed picks the draw, so the seeds
    (split.seed: run) or the fixed split seed must name a draw the file holds."""
    draws, split = DATASET_DRAWS[exp["dataset"]], exp["split"]
    if not split["fixed"]:
        raise ConfigError(
            f"{where}.split.fixed: false would split {exp['dataset']}'s draws and test set together "
            "at random; its training sets are drawn independently: set split.fixed: true"
        )
    seeds = exp["seeds"] if split["seed"] == "run" else [split["seed"]]
    beyond = [seed for seed in seeds if seed >= draws]
    if beyond:
        key = "seeds" if split["seed"] == "run" else "split.seed"
        raise ConfigError(
            f"{where}.{key}: {exp['dataset']} holds {draws} training sets (draws 0–{draws - 1}) "
            f"and seed k trains on draw k; {beyond} name no draw: use seeds below {draws}"
        )


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
        label = ", ".join(f"{key} {recipe[key]:g}" for key in MITIGATION_KEYS if recipe.get(key))
        out[name] = {"baseline": baseline, "mitigation": label}
    return out


def check_baseline(config: dict, name: str) -> None:
    """A mitigation experiment pairs its runs with its baseline's: same data, split, learners and
    seeds, the baseline's recipe without the mitigation, and β = 0 and every β of its own there."""
    experiments, recipes = config["experiments"], config["recipes"]
    exp, where = experiments[name], f"experiments.{name}.baseline"
    baseline = exp["baseline"]
    if baseline not in experiments or baseline == name:
        others = sorted(set(experiments) - {name})
        raise ConfigError(
            f"{where}: {baseline!r} is not another experiment; defined: {', '.join(others)}"
        )
    base = experiments[baseline]
    recipe, base_recipe = recipes[exp["recipe"]], recipes[base["recipe"]]
    if not is_mitigated(recipe):
        raise ConfigError(
            f"{where}: recipe {exp['recipe']!r} has no mitigation on ({', '.join(MITIGATION_KEYS)} "
            "all 0): a baseline pairs a mitigated experiment with an unmitigated one; drop baseline "
            "or set a mitigation"
        )
    if is_mitigated(base_recipe):
        raise ConfigError(
            f"{where}: {baseline!r} is mitigated itself (recipe {base['recipe']!r}); "
            "a baseline must train with every mitigation off"
        )
    differing = sorted(
        key
        for key in set(recipe) | set(base_recipe)
        if key not in MITIGATION_KEYS and recipe.get(key) != base_recipe.get(key)
    )
    if differing:
        raise ConfigError(
            f"{where}: recipes {exp['recipe']!r} and {base['recipe']!r} may differ in "
            f"the mitigation options only; these differ too: {', '.join(differing)}"
        )
    for key in ("dataset", "split"):
        if exp.get(key) != base.get(key):
            raise ConfigError(
                f"{where}: {key} must be the baseline's ({base.get(key)!r}), got {exp.get(key)!r}"
            )
    for key in ("models", "aggregations", "ensemble_sizes", "seeds"):
        missing = [value for value in exp[key] if value not in base[key]]
        if missing:
            raise ConfigError(
                f"{where}: {key} {missing} are not in {baseline!r}'s {key} "
                f"{base[key]}: every mitigated run needs its unmitigated partner"
            )
    missing = [beta for beta in sorted({0.0, *exp["betas"]}) if beta not in base["betas"]]
    if missing:
        raise ConfigError(
            f"{where}: {baseline!r} lacks β = {', '.join(f'{b:g}' for b in missing)}: "
            "the comparison needs the unmitigated runs at β = 0 and at every β here"
        )


def experiment_runs(config: dict, experiment: str) -> list[Run]:
    exp = config["experiments"][experiment]
    return [
        Run(experiment, exp["dataset"], model, aggregation, members, float(beta), seed)
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


def _from_labels(experiment, dataset, model, aggregation, members, beta, seed, where) -> Run:
    labels = {"members": members, "beta": beta, "seed": seed}
    for key, label in labels.items():
        if not re.fullmatch(LABEL_PATTERNS[key], label):
            raise ValueError(f"{where}: {key} label {label!r} does not match {LABEL_PATTERNS[key]}")
    return Run(experiment, dataset, model, aggregation, int(members), float(beta), int(seed))


def run_from_wildcards(wildcards) -> Run:
    return _from_labels(
        wildcards.experiment,
        wildcards.dataset,
        wildcards.model,
        wildcards.aggregation,
        wildcards.members,
        wildcards.beta,
        wildcards.seed,
        where="wildcards",
    )


def run_spec(config: dict, run: Run):
    from .train import Recipe, RunSpec

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


# Resources of a training job (read by the SLURM profile). Rough, deliberately generous: minutes per
# learner-epoch of a ResNet-18-sized model on one current GPU, times the architecture's relative
# cost; CPU datasets (tables, the offline data) get CPU minutes. Override single rules with
# --set-resources when your hardware differs.
GPU_DATASETS = {"cifar10", "cifar100", "svhn", "tiny_imagenet", "imagenet"}
MINUTES_PER_LEARNER_EPOCH = {
    "cifar10": 0.15,
    "cifar100": 0.15,
    "svhn": 0.2,
    "tiny_imagenet": 0.6,
    "imagenet": 0.3,  # per period of eval_every_steps minibatches (the authors' ImageNet recipe)
}
CPU_MINUTES_PER_LEARNER_EPOCH = 0.002
ARCH_COST = {
    "mlp": 0.05,
    "cnn": 0.2,
    "cnn1d": 0.1,
    "resnet18": 1.0,
    "resnet34": 2.0,
    "vgg16_bn": 1.0,
    "vit": 2.0,
    "simple_vit": 1.5,
    "tv_resnet18": 1.0,
    "tv_resnet34": 2.0,
    "squeezenet1_1": 0.5,
    "densenet121": 3.0,
    "shufflenet_v2_x1_0": 0.7,
    "mobilenet_v3_small": 0.5,
    "mobilevit_xs": 2.0,
}


def train_resources(config: dict, run: Run, runs_in_job: int = 1) -> dict:
    """gpu (count), runtime (whole minutes, before the attempt factor) of one training job (a run,
    or a pack of ``runs_in_job`` runs), and ``minutes``, the estimate unrounded: the training rules'
    priority, so that the longest jobs start first and no long one is left to run alone at the end."""
    spec = run_spec(config, run)
    gpu = int(run.dataset in GPU_DATASETS)
    per_epoch = (
        MINUTES_PER_LEARNER_EPOCH[run.dataset] * ARCH_COST.get(spec.arch, 2.0)
        if gpu
        else CPU_MINUTES_PER_LEARNER_EPOCH * ARCH_COST.get(spec.arch, 1.0)
    )
    minutes = (10 if gpu else 2) + 1.5 * spec.recipe.epochs * run.members * runs_in_job * per_epoch
    return {"gpu": gpu, "runtime": int(math.ceil(minutes)), "minutes": minutes}


def training_jobs(config: dict) -> list[tuple[Run, int]]:
    """Every training job of the grid: (its first run, how many runs it trains)."""
    jobs = []
    for name in config["experiments"]:
        runs = experiment_runs(config, name)
        if packs_betas(config, name):  # one job per (model, aggregation, M, seed)
            first: dict = {}
            for run in runs:
                first.setdefault((run.model, run.aggregation, run.members, run.seed), run)
            jobs += [(run, len(config["experiments"][name]["betas"])) for run in first.values()]
        else:
            jobs += [(run, 1) for run in runs]
    return jobs


# -- packs: every β of one (experiment, model, aggregation, M, seed) trained as one job --------------
def packs_betas(config: dict, experiment: str) -> bool:
    """``pack_betas``: true, false, or auto (on for CPU-sized datasets with several β and a
    schedule that packs; off for the GPU datasets, which keep one job per run)."""
    exp = config["experiments"][experiment]
    setting = exp["pack_betas"]
    if setting != "auto":
        return bool(setting)
    schedule = config["recipes"][exp["recipe"]]["schedule"]
    return exp["dataset"] not in GPU_DATASETS and len(exp["betas"]) > 1 and schedule != "plateau"


def packed_experiments(config: dict) -> list[str]:
    return [name for name in config["experiments"] if packs_betas(config, name)]


def check_packs(config: dict) -> None:
    for name, exp in config["experiments"].items():
        if exp["pack_seeds"] not in ("auto", 1) and not packs_betas(config, name):
            raise ConfigError(
                f"experiments.{name}.pack_seeds: {exp['pack_seeds']}, but the experiment trains one "
                "job per run (pack_betas is off for it): seeds are packed only with their betas; "
                "remove pack_seeds or set pack_betas: true"
            )
        schedule = config["recipes"][exp["recipe"]]["schedule"]
        if exp["pack_betas"] is True and schedule == "plateau" and len(exp["betas"]) > 1:
            raise ConfigError(
                f"experiments.{name}.pack_betas: true, but its recipe {exp['recipe']!r} uses "
                "schedule 'plateau', which lowers one lr from one run's validation loss and "
                "cannot train several betas together; set pack_betas: false (or auto)"
            )


def one_of(names) -> str:
    """A wildcard constraint matching exactly these names (none: a pattern that never matches)."""
    return "|".join(re.escape(str(name)) for name in names) or "(?!)"


def pack_seeds(config: dict, experiment: str) -> int:
    """``pack_seeds``: how many seeds' packs one packed job trains (runner.train_seeds; auto:
    PACK_SEEDS_AUTO on the CPU-sized datasets, 1 on the GPU datasets and for unpacked experiments)."""
    exp = config["experiments"][experiment]
    setting = exp["pack_seeds"]
    if setting != "auto":
        return int(setting)
    return (
        PACK_SEEDS_AUTO
        if packs_betas(config, experiment) and exp["dataset"] not in GPU_DATASETS
        else 1
    )


def seed_jobs(config: dict, experiment: str) -> list[list[int] | None]:
    """The seeds of each training job of a packed experiment: ``[None]`` when every job holds one
    seed (one rule whose ``seed`` is a wildcard), else consecutive groups of ``pack_seeds`` seeds
    (one rule per group, the seeds written into its paths)."""
    seeds, size = config["experiments"][experiment]["seeds"], pack_seeds(config, experiment)
    if size == 1 or len(seeds) == 1:
        return [None]
    return [list(seeds[i : i + size]) for i in range(0, len(seeds), size)]


def seeds_label(seeds: list[int]) -> str:
    """A group of seeds in rule names and paths: seeds0_1_2."""
    return "seeds" + "_".join(count_label(seed) for seed in seeds)


def pack_job_key(config: dict, experiment: str, seeds: list[int] | None = None) -> str:
    """A packed job's key (its log, benchmark and, for a group of seeds, its job directory)."""
    key = pack_pattern(config, experiment, PACK_KEY)
    return key if seeds is None else f"{key.rsplit('/', 1)[0]}/{seeds_label(seeds)}"


def pack_functions(config: dict, experiment: str, seeds: list[int] | None = None) -> dict:
    """Params and resources of one packed experiment's jobs (those of ``seeds``, or of the
    ``seed`` wildcard), as functions of their wildcards. ``packs``: each seed's β pack (its specs,
    split and directory), in the order of the job's outputs."""

    def runs(wc):
        return [pack_runs(config, experiment, wc, seed) for seed in (seeds or [int(wc.seed)])]

    def resources(wc):
        packs = runs(wc)
        return train_resources(config, packs[0][0], sum(len(pack) for pack in packs))

    def packs(wc):
        return [
            {
                "specs": [run_spec(config, run).to_dict() for run in pack],
                "split": split_config(config, pack[0]),
                "pack_dir": pack[0].pack_dir,
            }
            for pack in runs(wc)
        ]

    return {
        "packs": packs,
        "resources": resources,  # expected minutes and GPUs (collusion.cluster turns them into requests)
    }


def pack_runs(config: dict, experiment: str, wildcards, seed: int) -> list[Run]:
    """The runs of one seed's pack, in the experiment's β order; ``wildcards`` has model,
    aggregation and members."""
    exp = config["experiments"][experiment]
    return [
        Run(
            experiment,
            exp["dataset"],
            wildcards.model,
            wildcards.aggregation,
            int(wildcards.members),
            float(beta),
            int(seed),
        )
        for beta in exp["betas"]
    ]


def pack_pattern(
    config: dict, experiment: str, key: str, beta: float = 0.0, seed: int | None = None
) -> str:
    """``key`` (RUN_KEY or PACK_KEY) of one packed experiment: model, aggregation, members (and
    seed, unless given) stay wildcards."""
    wildcards = {name: f"{{{name}}}" for name in ("model", "aggregation", "members", "seed")}
    if seed is not None:
        wildcards["seed"] = count_label(seed)
    dataset = config["experiments"][experiment]["dataset"]
    return key.format(experiment=experiment, dataset=dataset, beta=beta_label(beta), **wildcards)


def pack_outputs(config: dict, experiment: str, seeds: list[int] | None = None) -> dict[str, str]:
    """Named outputs of a packed job: ``history_<k>``, ``predictions_<k>``, ``provenance_<k>`` for
    its k-th run (seed by seed, each seed's β in the experiment's order), at exactly the paths the
    run would have on its own."""
    outputs, k = {}, 0
    for seed in seeds or [None]:
        for beta in config["experiments"][experiment]["betas"]:
            run_dir = f"results/runs/{pack_pattern(config, experiment, RUN_KEY, beta, seed)}"
            for name in RUN_OUTPUTS:
                outputs[f"{name.split('.')[0]}_{k}"] = f"{run_dir}/{name}"
            k += 1
    return outputs


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
    return _from_labels(
        experiment, dataset, model, aggregation, members[1:], beta[4:], seed[4:], where=str(path)
    )
