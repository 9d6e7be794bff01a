"""The configuration's cross-checks: what the schema (src/collusion/config.schema.yaml) cannot
express. Each raises ConfigError naming the key, the value and what is allowed. Torch-free: the
Snakefile runs them at every start (config_errors.check)."""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

from . import plan
from .data.catalog import DATASET_DRAWS, DATASET_ROWS, DATASET_TASKS, split_sizes
from .data.own import TABLES, DatasetError, summary
from .models import ARCHITECTURES, ArchitectureWarning, check_options, is_own, source_module
from .pipeline import MAX_BETA_LABEL, beta_label, is_mitigated
from .spec import AGGREGATIONS, MITIGATION_KEYS, Recipe, check_recipe, parse_selection


class ConfigError(ValueError):
    pass


def resolve_files(config: dict, paths=()) -> None:
    """In place: the files of your own that the configuration names (``arch: "file.py:Name"``, a
    dataset's ``file`` or ``loader: "file.py:function"``), each found beside one of the
    configuration files ``paths`` (in their
    order), else in the working directory, and rewritten relative to the working directory, where
    every job runs (a moved checkout keeps its runs), or absolute when outside it. A file found
    nowhere is left as it is, for the checks to name."""
    folders = [Path(path).parent for path in paths] + [Path(".")]

    def found(name: str) -> str:
        if Path(name).is_absolute():
            return name
        for folder in folders:
            if (folder / name).is_file():
                return working_path(folder / name)
        return name

    def found_function(named: str) -> str:  # "file.py:Name", its file found
        target, _, name = named.rpartition(":")
        return f"{found(target)}:{name}" if target.endswith(".py") else named

    for model in config["models"].values():
        if is_own(model["arch"]):
            model["arch"] = found_function(model["arch"])
    for dataset in config["datasets"].values():
        if "file" in dataset:
            dataset["file"] = found(dataset["file"])
        if "loader" in dataset:
            dataset["loader"] = found_function(dataset["loader"])


def working_path(path: str | Path) -> str:
    """``path`` relative to the working directory, or absolute (resolved) when outside it."""
    relative = os.path.relpath(path)
    return str(Path(path).resolve()) if relative.startswith("..") else relative


def check_config(config: dict) -> None:
    """Cross-references the schema cannot express; raises ConfigError naming key and allowed values."""
    check_models(config["models"])
    check_datasets(config["datasets"])
    for name in config["experiments"]:
        check_experiment(config, name)
    check_packs(config)
    check_selections(config)


def check_models(models: dict) -> None:
    for name, model in models.items():
        arch = model["arch"]
        if arch not in ARCHITECTURES and not is_own(arch):
            raise ConfigError(
                f"models.{name}.arch: unknown architecture {arch!r}; "
                f"allowed: {', '.join(sorted(ARCHITECTURES))}, or a constructor of your own: "
                "'package.module:Name' or 'file.py:Name' (a file beside the configuration)"
            )
        if callable(ARCHITECTURES.get(arch)) and source_module(arch) is None:
            raise ConfigError(
                f"models.{name}.arch: {arch!r} was registered in this process "
                "(collusion.models.register), which the training jobs (other processes) never "
                "see: name its constructor in the configuration instead, "
                "arch: 'package.module:Name' or 'file.py:Name'"
            )
        options = {key: value for key, value in model.items() if key != "arch"}
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ArchitectureWarning)
                check_options(arch, options)
        except (ValueError, SyntaxError, OSError) as error:
            raise ConfigError(f"models.{name}: {error}") from None
        for warning in caught:
            warnings.warn(f"models.{name}: {warning.message}", ArchitectureWarning, stacklevel=2)


def own_dataset(name: str, spec: dict) -> tuple[str, int, bool]:
    """An own dataset's task, rows and whether it stores a fixed split (data.own.summary)."""
    try:
        return summary(name, spec)[:3]
    except DatasetError as error:
        raise ConfigError(str(error)) from None


def check_datasets(datasets: dict) -> None:
    """The datasets of your own: new names, a file or a loader, and data that reads and checks
    (data.own.read_own)."""
    for name, spec in datasets.items():
        if name in DATASET_TASKS:
            raise ConfigError(
                f"datasets.{name}: {name!r} is a built-in dataset; give yours another name"
            )
        if ("file" in spec) == ("loader" in spec):
            raise ConfigError(
                f"datasets.{name}: give its data as a file (file: data.csv, .npz or .parquet) or "
                "a loader (loader: 'file.py:function' or 'package.module:function'), one of them"
            )
        if spec["split_column"] is not None and not spec.get("file", "").endswith(TABLES):
            raise ConfigError(
                f"datasets.{name}.split_column: for a .csv or .parquet file only; a .npz file or "
                "a loader gives its fixed split as train_idx, val_idx and test_idx"
            )
        own_dataset(name, spec)


def dataset_task(config: dict, dataset: str) -> str:
    own = config["datasets"].get(dataset)
    return own["task"] if own else DATASET_TASKS[dataset]


def check_experiment(config: dict, name: str) -> None:
    """An experiment's names resolve, its aggregations fit its data, its split leaves no part
    empty, its recipe's options hold, its βs have labels, and its baseline (if any) pairs."""
    models, recipes, exp = config["models"], config["recipes"], config["experiments"][name]
    where = f"experiments.{name}"
    if exp["dataset"] not in DATASET_TASKS and exp["dataset"] not in config["datasets"]:
        raise ConfigError(
            f"{where}.dataset: unknown dataset {exp['dataset']!r}; "
            f"allowed: {', '.join(sorted(DATASET_TASKS))}, or one of your own defined under "
            f"datasets: ({', '.join(sorted(config['datasets'])) or 'none defined'})"
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
    task = dataset_task(config, exp["dataset"])
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
        try:
            check_recipe(Recipe(**recipes[exp["recipe"]]), aggregation)
        except ValueError as error:
            raise ConfigError(f"{where}: recipe {exp['recipe']!r}: {error}") from None
    check_split(exp, where, config["datasets"])
    if exp["dataset"] in DATASET_DRAWS:
        check_draws(exp, where)
    check_betas(exp["betas"], where)
    if "baseline" in exp:
        check_baseline(config, name)


def check_split(exp: dict, where: str, own: dict | None = None) -> None:
    fractions = exp["split"]["fractions"]
    if abs(sum(fractions) - 1) > 1e-6:
        raise ConfigError(f"{where}.split.fractions must sum to 1, got {fractions}")
    rows = DATASET_ROWS.get(exp["dataset"])
    if own and exp["dataset"] in own:
        _, rows, fixed = own_dataset(exp["dataset"], own[exp["dataset"]])
        rows = None if fixed and exp["split"]["fixed"] else rows
    if rows is not None:
        sizes = split_sizes(rows, fractions)
        if min(sizes) < 1:
            empty = ("train", "val", "test")[sizes.index(min(sizes))]
            raise ConfigError(
                f"{where}.split.fractions: {fractions} of {exp['dataset']}'s {rows} examples "
                f"leave the {empty} part empty (train/val/test sizes {sizes[0]}/{sizes[1]}/"
                f"{sizes[2]}); every part needs at least one example: raise its fraction"
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


def check_betas(betas: list, where: str) -> None:
    for beta in betas:
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


def check_packs(config: dict) -> None:
    for name, exp in config["experiments"].items():
        if exp["pack_seeds"] not in ("auto", 1) and not plan.packs_betas(config, name):
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


def check_selections(config: dict) -> None:
    """A selection at a horizon (``best_val@E``) in analysis.selections needs E among the
    selection_horizons of every experiment's recipe (each of its runs records it)."""
    for selection in config["analysis"]["selections"]:
        _, horizon = parse_selection(selection)
        if horizon is None:
            continue
        lacking = sorted(
            name
            for name, exp in config["experiments"].items()
            if horizon not in config["recipes"][exp["recipe"]]["selection_horizons"]
        )
        if lacking:
            raise ConfigError(
                f"analysis.selections: {selection} needs the runs to record their selections at "
                f"{horizon} epochs, but the recipes of {', '.join(lacking)} do not: add {horizon} "
                "to their selection_horizons, or remove the selection"
            )
