"""The paper-level outputs: the registries of figures and paper tables, and one module per figure.

``FIGURES`` and ``PAPER_TABLES`` are what workflow/rules/common.smk, the adapters
(workflow/scripts/figure.py, paper_table.py) and the tests iterate over: name -> builder, the
tables it reads, the paper figure it corresponds to, the claims it supports and its report section.
Captions are workflow/report/figure_<name>.rst and table_<name>.rst. ``drawn_figures(config)`` and
``drawn_tables(config)`` are the ones a configuration can draw (each entry's ``drawn_when``): the
pipeline's default target builds, and the report shows, only those. Each figure module has
``draw(tables) -> Figure`` and reads tidy tables only; the table builders are functions of
collusion.tables. This module imports neither (the Snakefile reads it at every start).

Inputs are named by kind: a per-experiment analysis (``runs``, ``debias``, ``learner_dropout``, ``gen_gap``,
``dynamics``, ``curves``, ``calibration``: results/tables/<experiment>/<name>.csv over every sweep experiment),
``divergence`` (results/tables/divergence.csv), ``claims`` (results/paper/claims.csv),
``mitigation_claims`` (results/paper/mitigation_claims.csv) or
``table:<name>`` (the paper table results/paper/tables/<name>.csv).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

# Report sections (categories), in the paper's order; named by topic, never by a result a run could
# contradict.
SECTIONS = {
    "about": "0 · About this run and the claims",
    "generalisation": "1 · Generalisation: independent vs joint training (claims 1, 3, 7)",
    "diversity": "2 · Diversity, pseudo-diversity and collusion (claims 2, 4, 5)",
    "dynamics": "3 · Training dynamics (claim 6)",
    "divergence": "4 · β > 1: the unbounded objective",
    "mitigations": "5 · Mitigations: does a remedy recover β = 1's loss?",
}


# When a figure or table is drawn: each predicate's docstring is the README's "built when" cell.
def always(config: dict) -> bool:
    """always"""
    return True


def has_classification(config: dict) -> bool:
    """a sweep experiment classifies"""
    from ..pipeline import sweep_runs

    return any(
        run.aggregation != "regression"
        for experiment in config["experiments"]
        for run in sweep_runs(config, experiment)
    )


def has_beta_above_one(config: dict) -> bool:
    """an experiment has a β > 1"""
    from ..pipeline import divergent_runs

    return bool(divergent_runs(config))


def has_mitigations(config: dict) -> bool:
    """an experiment has a baseline (a mitigation)"""
    from ..pipeline import mitigation_baselines

    return bool(mitigation_baselines(config))


def varies_size(config: dict) -> bool:
    """an experiment varies M"""
    return bool(size_study_partners(config))


def varies_width(config: dict) -> bool:
    """an experiment varies the member width"""
    return bool(capacity_studies(config))


def shares_test_set(config: dict) -> bool:
    """an experiment's seeds share one test set"""
    from ..data.own import uses_stored_split
    from ..pipeline import sweep_runs

    for name, experiment in config["experiments"].items():
        # a split stored in the prepared file, or one split seed for every run
        one_test_set = uses_stored_split(experiment, config.get("datasets")) or (
            experiment["split"]["seed"] != "run"
        )
        if one_test_set and len(experiment["seeds"]) > 1 and sweep_runs(config, name):
            return True
    return False


def has_budget_study(config: dict) -> bool:
    """an experiment's recipe records selections at shorter horizons (a budget study)"""
    return bool(budget_studies(config))


@dataclass(frozen=True)
class Figure:
    """``claims``: the claims the figure bears on (the claims table gives their verdicts);
    ``drawn_when(config)``: whether the configuration has the experiments the figure draws;
    ``options(config)``: keyword arguments of its ``draw`` taken from the configuration."""

    inputs: tuple[str, ...]
    paper: str
    claims: tuple[int, ...]
    section: str
    drawn_when: Callable[[dict], bool] = always
    options: Callable[[dict], dict] = field(default=lambda config: {})


FIGURES = {
    "beta_sweep": Figure(
        ("runs",),
        "Fig. 6 (left): test accuracy vs β",
        (1, 7),
        "generalisation",
        has_classification,
    ),
    "beta_sweep_detail": Figure(
        ("runs",), "detail of Fig. 6 and the tabular figures", (1, 6, 7), "generalisation"
    ),
    "gen_gap": Figure(("gen_gap", "runs"), "generalisation-gap figure", (3,), "generalisation"),
    "ensemble_size": Figure(
        ("table:ensemble_size",),
        "ensemble-size study (no paper figure)",
        (1,),
        "generalisation",
        varies_size,
    ),
    "diversity": Figure(("runs",), "tabular figures: test MSE and DIV vs β", (1, 2), "diversity"),
    "pseudo_diversity": Figure(
        ("curves", "runs"),
        "none (the data behind “pseudo-diversity does not generalise”)",
        (2, 3),
        "diversity",
    ),
    "debias": Figure(("debias", "runs"), "tabular debiasing figure", (4,), "diversity"),
    "learner_dropout": Figure(
        ("learner_dropout", "runs"), "tabular learner-dropout figure", (5,), "diversity"
    ),
    "dynamics": Figure(("dynamics",), "training-dynamics figure (ImageNet)", (6,), "dynamics"),
    "divergence": Figure(
        ("divergence",),
        "none (β > 1 is the paper's argument, not a figure)",
        (),
        "divergence",
        has_beta_above_one,
    ),
    "regime_map": Figure(
        ("claims",),
        "none (new: where each claim holds)",
        (1, 2, 3, 4, 5, 6, 7),
        "about",
        options=lambda config: {"studies": capacity_studies(config)},  # the capacity axis
    ),
    "mitigations": Figure(
        ("mitigation_claims", "runs"),
        "none (new: test error vs β per mitigation)",
        (),
        "mitigations",
        has_mitigations,
    ),
    "capacity_map": Figure(
        ("table:capacity",),
        "none (new: the cost of joint training over width × M)",
        (1, 2),
        "generalisation",
        varies_width,
    ),
    "wood": Figure(
        ("table:wood",),
        "none (new: Wood et al.'s bias / variance / diversity vs β)",
        (2,),
        "diversity",
        shares_test_set,
    ),
    "budget": Figure(
        ("table:budget",),
        "none (new: every primary verdict at training budgets B/2, B, 2B, 4B)",
        (1, 2, 3, 4, 5, 6, 7),
        "about",
        has_budget_study,
    ),
}


@dataclass(frozen=True)
class PaperTable:
    """``builder``: a function of collusion.tables; ``options(config)``: its keyword arguments
    taken from the configuration; ``drawn_when`` as for figures. Sources are named like figure
    inputs."""

    builder: str
    sources: tuple[str, ...]
    claims: tuple[int, ...]
    section: str
    options: Callable[[dict], dict] = field(default=lambda config: {})
    drawn_when: Callable[[dict], bool] = always


def size_study_partners(config: dict) -> dict[str, list[str]]:
    """For each experiment that varies the ensemble size: the experiments whose runs it shares.

    A partner trains the same dataset with the same recipe and split, so its runs at a size the
    study leaves out (e.g. cifar10's M = 5) are exactly the runs the study would train; the study
    reads them instead of training and counting them twice.
    """
    experiments = config["experiments"]
    studies = {}
    for name, study in experiments.items():
        if len(study["ensemble_sizes"]) < 2:
            continue
        studies[name] = [
            other
            for other, experiment in experiments.items()
            if other != name
            and all(experiment.get(key) == study.get(key) for key in ("dataset", "recipe", "split"))
            and set(experiment["models"]) & set(study["models"])
            and set(experiment["aggregations"]) & set(study["aggregations"])
        ]
    return studies


def model_width(model: dict) -> int | None:
    """A model's width, for the capacity map: an MLP's first hidden layer, a 1-D CNN's ``channels``
    option where the config sets it, else its ``width`` option (CIFAR ResNets, VGG); None for a
    model without one."""
    if model.get("arch") == "mlp":
        hidden = model.get("hidden", [64, 64])  # build_mlp's default
        return int(hidden[0]) if hidden else None
    if model.get("arch") == "cnn1d" and "channels" in model:
        return int(model["channels"])
    return int(model["width"]) if "width" in model else None


def capacity_studies(config: dict) -> dict[str, dict[str, int]]:
    """For each experiment that varies the member width: its models and their widths.

    A capacity study is an experiment with at least two models of distinct widths and β = 0 and
    β = 1 among its betas (the map shows their paired difference)."""
    studies = {}
    for name, experiment in config["experiments"].items():
        widths = {m: model_width(config["models"][m]) for m in experiment["models"]}
        widths = {m: w for m, w in widths.items() if w is not None}
        if len(set(widths.values())) >= 2 and {0.0, 1.0} <= {float(b) for b in experiment["betas"]}:
            studies[name] = widths
    return studies


def budget_studies(config: dict) -> dict[str, dict]:
    """For each experiment whose recipe records its selections at shorter horizons
    (``selection_horizons``): its budgets (the horizons and its epochs) and its epochs. One run of
    the longest budget answers every shorter one when the schedule does not depend on the total
    epochs (collusion.budget)."""
    studies = {}
    for name, experiment in config["experiments"].items():
        recipe = config["recipes"][experiment["recipe"]]
        horizons = recipe.get("selection_horizons") or []
        if horizons:
            budgets = sorted({*map(int, horizons), int(recipe["epochs"])})
            studies[name] = {"budgets": budgets, "epochs": int(recipe["epochs"])}
    return studies


PAPER_TABLES = {
    "beta_sweep": PaperTable("beta_sweep", ("runs", "calibration"), (1, 7), "generalisation"),
    "independent_vs_joint": PaperTable("independent_vs_joint", ("runs",), (1,), "generalisation"),
    "gen_gap": PaperTable("gen_gap_summary", ("runs",), (3,), "generalisation"),
    "ensemble_size": PaperTable(
        "ensemble_size",
        ("runs",),
        (1,),
        "generalisation",
        lambda config: {"studies": size_study_partners(config)},
        varies_size,
    ),
    "debias": PaperTable("debias_summary", ("debias",), (4,), "diversity"),
    "learner_dropout": PaperTable(
        "learner_dropout_summary", ("learner_dropout",), (5,), "diversity"
    ),
    "pseudo_diversity": PaperTable("pseudo_diversity", ("runs",), (2, 3), "diversity"),
    "diversity": PaperTable("diversity", ("runs", "calibration"), (2,), "diversity"),
    "capacity": PaperTable(
        "capacity",
        ("runs",),
        (1, 2),
        "generalisation",
        lambda config: {
            "studies": capacity_studies(config),
            "alpha": config["analysis"]["significance"],
        },
        varies_width,
    ),
    "capacity_flip": PaperTable(
        "capacity_flip",
        ("runs",),
        (1,),
        "generalisation",
        lambda config: {
            "studies": capacity_studies(config),
            "alpha": config["analysis"]["significance"],
        },
        varies_width,
    ),
    "divergence": PaperTable(
        "divergence_summary",
        ("divergence",),
        (),
        "divergence",
        drawn_when=has_beta_above_one,
    ),
    "wood": PaperTable(
        "wood_decomposition", ("calibration",), (2,), "diversity", drawn_when=shares_test_set
    ),
    "budget": PaperTable(
        "budget",
        ("runs", "debias", "learner_dropout", "gen_gap"),
        (1, 2, 3, 4, 5, 6, 7),
        "about",
        lambda config: {
            "studies": budget_studies(config),
            "alpha": config["analysis"]["significance"],
        },
        has_budget_study,
    ),
}


def drawn_figures(config: dict) -> list[str]:
    """The figures this configuration can draw (the others would only say why they are empty)."""
    return [name for name, entry in FIGURES.items() if entry.drawn_when(config)]


def drawn_tables(config: dict) -> list[str]:
    return [name for name, entry in PAPER_TABLES.items() if entry.drawn_when(config)]


def build_table(name: str, tables: dict, config: dict):
    """Paper table ``name`` from its sources (a dict: source name -> DataFrame)."""
    from .. import tables as builders

    entry = PAPER_TABLES[name]
    frames = [tables[input_name(source)] for source in entry.sources]
    return getattr(builders, entry.builder)(*frames, **entry.options(config))


def draw(name: str, tables: dict, **options):
    """Figure ``name`` drawn from its tables (a dict: input name -> DataFrame) and its
    ``options`` (its entry's ``options(config)``)."""
    if name not in FIGURES:
        raise KeyError(f"unknown figure {name!r}; the figures are {sorted(FIGURES)}")
    return importlib.import_module(f"{__name__}.{name}").draw(tables, **options)


def source_paths(source: str, experiments: list[str], root: str = "results") -> list[str]:
    """The files (relative to the working directory) behind a figure or table input, for the sweep
    experiments ``experiments``, under the results root ``root``."""
    if source == "divergence":
        return [f"{root}/tables/divergence.csv"]
    if source == "claims":
        return [f"{root}/paper/claims.csv"]
    if source == "mitigation_claims":
        return [f"{root}/paper/mitigation_claims.csv"]
    if source.startswith("table:"):
        return [f"{root}/paper/tables/{input_name(source)}.csv"]
    return [f"{root}/tables/{experiment}/{source}.csv" for experiment in experiments]


def read_inputs(paths):
    """One input's tables (a path or a list of paths) as one frame. An experiment's table without
    rows (e.g. learner dropout where no fraction drops a learner at its M) adds none: its header
    alone would turn every column of the whole frame into objects."""
    import pandas as pd

    paths = [paths] if isinstance(paths, str) else paths
    frames = [pd.read_csv(path) for path in paths]
    return pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True)


def input_name(source: str) -> str:
    """The name under which an input reaches ``draw`` (and the Snakemake rule): ``table:x`` -> ``x``."""
    return source.split(":")[-1]
