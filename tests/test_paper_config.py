"""config/paper.yaml: the paper's whole grid plans from download to claims (a dry run, no data)."""

from __future__ import annotations

import itertools
import re
import time

import pytest
import yaml

from collusion.data.paper_datasets import PAPER_DATASETS
from collusion.data.sources import SOURCES
from collusion.figures import size_study_partners
from pipeline_helpers import REPO, copy_workflow, snakemake

PAPER = REPO / "config" / "paper.yaml"
TINY_PAPER_DATA = REPO / "tests" / "configs" / "tiny_paper_data.yaml"
CONFIG = yaml.safe_load(PAPER.read_text())
ROOT = CONFIG["results_root"]  # its own results folder
IMAGENET_ARCHS = {
    "tv_resnet18",
    "tv_resnet34",
    "squeezenet1_1",
    "densenet121",
    "shufflenet_v2_x1_0",
    "mobilenet_v3_small",
    "mobilevit_xs",
}
BETA_GRID = [round(0.1 * i, 1) for i in range(11)]


def expected_run_dirs(config: dict) -> list[str]:
    """Every run of the grid, computed from the YAML alone (path layout: config/README.md)."""
    return [
        f"{ROOT}/runs/{name}/{exp['dataset']}/{model}/{aggregation}/M{members}/"
        f"beta{float(beta):g}/seed{seed}"
        for name, exp in config["experiments"].items()
        for model, aggregation, members, beta, seed in itertools.product(
            exp["models"], exp["aggregations"], exp["ensemble_sizes"], exp["betas"], exp["seeds"]
        )
    ]


def job_counts(stdout: str) -> dict[str, int]:
    """The first 'Job stats' table of a dry run: rule -> number of jobs."""
    table = stdout.split("Job stats:", 1)[1].split("total", 1)[0]
    counts = {}
    for line in table.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    return counts


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    workdir = copy_workflow(tmp_path_factory.mktemp("paper"))
    started = time.perf_counter()
    result = snakemake(workdir, "-n", "--configfile", "config/paper.yaml", timeout=600)
    seconds = time.perf_counter() - started
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    print(f"dry run of config/paper.yaml: {seconds:.1f} s, {job_counts(result.stdout)}")
    return workdir, result.stdout, seconds


@pytest.mark.slow
def test_dry_run_plans_exactly_the_grid(dry_run):
    _, stdout, _ = dry_run
    # a train job's output line names one run, a train_pack_<experiment> job's all β of one seed
    planned = [
        run
        for line in re.findall(r"output: (.*)", stdout)
        for run in re.findall(rf"({ROOT}/runs/\S+?)/history\.csv", line)
    ]
    expected = expected_run_dirs(CONFIG)
    assert len(expected) == len(set(expected))
    counts = job_counts(stdout)
    # train_pack_<experiment>_<model>_<aggregation>_M<m>_seed<s> holds all β of one seed,
    # …_seeds<s>_<t>… those of s, t, …: one job, one rule, each
    seeds_in_packs = {}
    for name in CONFIG["experiments"]:
        for rule, count in counts.items():
            found = re.fullmatch(rf"train_pack_{re.escape(name)}_.+_M\d+_seeds?([\d_]+)", rule)
            if found:
                seeds = len(found.group(1).split("_"))
                seeds_in_packs[name] = seeds_in_packs.get(name, 0) + count * seeds
    packed = {name: exp for name, exp in CONFIG["experiments"].items() if name in seeds_in_packs}
    assert {exp["dataset"] for exp in packed.values()} <= {
        "bioconcentration",
        "weather",
        "facebook",
        "abalone",
    }
    runs_in_packs = sum(seeds_in_packs[name] * len(exp["betas"]) for name, exp in packed.items())
    assert counts["train"] + runs_in_packs == len(expected)
    assert sorted(planned) == sorted(expected)  # every run once, nothing from config/config.yaml


@pytest.mark.slow
def test_every_paper_dataset_is_downloaded_and_prepared(dry_run):
    counts = job_counts(dry_run[1])
    for source in SOURCES:
        assert counts.get(f"download_{source}") == 1, f"no download_{source} job"
    for dataset in PAPER_DATASETS:
        assert counts.get(f"prepare_{dataset}") == 1, f"no prepare_{dataset} job"
    assert counts.get("check_imagenet") == 1
    assert "prepare_offline" not in counts  # no scikit-learn dataset in the paper grid


@pytest.mark.slow
def test_every_table_figure_and_claim_is_planned(dry_run):
    _, stdout, _ = dry_run
    counts = job_counts(stdout)
    targets = re.search(r"rule all:\n\s+input: (.*)\n", stdout).group(1).split(", ")
    figures = {
        re.fullmatch(rf"{ROOT}/paper/figures/(\w+)\.pdf", t).group(1)
        for t in targets
        if t.endswith(".pdf")
    }
    tables = {
        re.fullmatch(rf"{ROOT}/paper/tables/(\w+)\.csv", t).group(1)
        for t in targets
        if t.startswith(f"{ROOT}/paper/tables/") and t.endswith(".csv")
    }
    assert {
        "beta_sweep",
        "diversity",
        "gen_gap",
        "debias",
        "learner_dropout",
        "dynamics",
        "divergence",
    } <= figures
    assert {
        "beta_sweep",
        "independent_vs_joint",
        "debias",
        "learner_dropout",
        "gen_gap",
        "divergence",
    } <= tables
    for name in figures:
        assert counts.get(f"figure_{name}") == 1
    for name in tables:
        assert counts.get(f"table_{name}") == 1
    assert counts["claims"] == 1 and f"{ROOT}/paper/claims.md" in targets
    sweeps = [e for e in CONFIG["experiments"].values() if min(e["betas"]) <= 1]
    for table in ("runs", "debias", "learner_dropout", "gen_gap", "dynamics", "calibration"):
        assert counts[f"analyse_{table}"] == len(sweeps)


@pytest.mark.slow
def test_dry_run_writes_nothing_and_is_quick(dry_run):
    workdir, _, seconds = dry_run
    assert not (workdir / "results").exists()
    assert not (workdir / "resources").exists()
    # the target is < 15 s on an idle machine; the bound leaves room for a loaded CI box
    # and still catches a planning step that grows out of proportion with the 1,520 runs
    assert seconds < 120, f"dry run took {seconds:.0f} s"


def test_grid_covers_the_paper():
    """The experiments of docs/paper.md#experiments and issue 4, as configured."""
    experiments = CONFIG["experiments"].values()
    models = CONFIG["models"]
    assert {e["dataset"] for e in experiments} == set(PAPER_DATASETS)
    by_dataset = {}
    for exp in experiments:
        by_dataset.setdefault(exp["dataset"], []).append(exp)
    archs = {
        d: {models[m]["arch"] for e in exps for m in e["models"]} for d, exps in by_dataset.items()
    }
    assert archs["cifar10"] == archs["cifar100"] == {"resnet18", "resnet34"}
    assert archs["svhn"] == {"vgg16_bn", "cnn"}
    assert archs["tiny_imagenet"] == {"vit", "simple_vit"}
    assert archs["imagenet"] == IMAGENET_ARCHS
    for dataset in ("bioconcentration", "weather", "facebook", "abalone"):
        assert archs[dataset] == {"mlp"}
    for dataset in ("cifar10", "cifar100", "svhn", "tiny_imagenet", "imagenet"):
        assert any({"score", "probability"} <= set(e["aggregations"]) for e in by_dataset[dataset])
    assert any("probability_double_softmax" in e["aggregations"] for e in by_dataset["cifar10"])
    # the size study trains M ∈ {2, 3, 10}; its M = 5 are cifar10's runs, read from there (issue 10)
    assert CONFIG["experiments"]["cifar10_ensemble_size"]["ensemble_sizes"] == [2, 3, 10]
    assert size_study_partners(CONFIG) == {"cifar10_ensemble_size": ["cifar10"]}
    assert 5 in CONFIG["experiments"]["cifar10"]["ensemble_sizes"]
    (imagenet,) = by_dataset["imagenet"]
    assert (
        imagenet["ensemble_sizes"] == [3]
        and imagenet["betas"] == [0, 1]
        and len(imagenet["seeds"]) == 1
    )
    for dataset, exps in by_dataset.items():
        if dataset == "imagenet":
            continue
        for exp in exps:
            assert [b for b in exp["betas"] if b <= 1] == BETA_GRID
            assert len(exp["seeds"]) >= (3 if dataset == "tiny_imagenet" else 5)
            if len(exp["ensemble_sizes"]) == 1:
                assert exp["ensemble_sizes"] == [5]
    recipes = CONFIG["recipes"]
    assert {
        k: recipes["cifar"][k]
        for k in (
            "optimizer",
            "lr",
            "momentum",
            "weight_decay",
            "batch_size",
            "epochs",
            "milestones",
            "gamma",
            "augment",
        )
    } == {
        "optimizer": "sgd",
        "lr": 0.1,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "batch_size": 128,
        "epochs": 80,
        "milestones": [30, 50, 70],
        "gamma": 0.2,
        "augment": "cifar",
    }
    assert {
        k: recipes["imagenet"][k]
        for k in (
            "optimizer",
            "lr",
            "weight_decay",
            "batch_size",
            "schedule",
            "plateau_patience",
            "early_stopping",
            "eval_every_steps",
            "augment",
        )
    } == {
        "optimizer": "sgd",
        "lr": 0.5,
        "weight_decay": 1e-7,
        "batch_size": 32,
        "schedule": "plateau",
        "plateau_patience": 6,
        "early_stopping": 15,
        "eval_every_steps": 2000,
        "augment": "imagenet",
    }
    assert CONFIG["keep_checkpoints"] is False


def test_imagenet_size_fits_every_imagenet_architecture():
    """The prepared ImageNet copy (data.imagenet_size) must be an input size all 7 models take
    (the others accept any size: collusion.models.imagenet)."""
    from collusion.models import build_model

    size = CONFIG["data"]["imagenet_size"]
    for arch in ("mobilevit_xs", "squeezenet1_1", "densenet121"):
        build_model(arch, (3, size, size), 1000)  # raises, naming the valid sizes, if not


def test_tiny_data_config_mirrors_the_paper_config():
    """tests/configs/tiny_paper_data.yaml trains paper.yaml's architectures with its augmentations."""
    tiny = yaml.safe_load(TINY_PAPER_DATA.read_text())
    paper_augment = {
        e["dataset"]: CONFIG["recipes"][e["recipe"]].get("augment", "none")
        for e in CONFIG["experiments"].values()
    }
    paper_archs = {m["arch"] for m in CONFIG["models"].values()}
    datasets = set()
    for name, exp in tiny["experiments"].items():
        datasets.add(exp["dataset"])
        augment = tiny["recipes"][exp["recipe"]].get("augment", "none")
        assert augment == paper_augment[exp["dataset"]], f"{name}: augment {augment}"
        assert {tiny["models"][m]["arch"] for m in exp["models"]} <= paper_archs
    assert datasets == set(PAPER_DATASETS) - {"imagenet"}
