"""The paper's datasets end to end through the real Snakefile, offline: tiny files in the real raw
formats (tests/data/raw_formats.py) served by file:// URLs -> download, verify, extract -> prepare
-> train (config/paper.yaml's architectures at tiny widths) -> every table, figure and claim."""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from collusion.data.sources import SOURCES
from data.raw_formats import TINY_WNIDS, make_cifar10, make_cifar100, make_svhn, make_uci
from pipeline_helpers import REPO, copy_workflow, snakemake

pytestmark = pytest.mark.slow

CONFIG_PATH = REPO / "tests" / "configs" / "tiny_paper_data.yaml"
CONFIG = yaml.safe_load(CONFIG_PATH.read_text())
SELECTIONS = ["best_val", "last"]  # the schema's default for analysis.selections
FIGURES = [
    "beta_sweep",
    "diversity",
    "gen_gap",
    "debias",
    "learner_dropout",
    "dynamics",
    "divergence",
]
TABLES = [
    "beta_sweep",
    "independent_vs_joint",
    "debias",
    "learner_dropout",
    "gen_gap",
    "divergence",
]


@pytest.fixture(scope="module")
def tiny_sources(tmp_path_factory):
    """What tests/data/raw_formats.py builds, rebuilt here to know the truth: dataset -> facts."""
    root = tmp_path_factory.mktemp("truth")
    cifar10, cifar100 = make_cifar10(root)[1], make_cifar100(root)[1]
    svhn_train, svhn_test = make_svhn(root, "train", 40)[1], make_svhn(root, "test", 20, seed=5)[1]
    uci = {
        name: make_uci(root, name)[1]
        for name in ("bioconcentration", "weather", "facebook", "abalone")
    }
    return {
        "cifar10": {
            "n_train": len(cifar10["y_train"]),
            "n_test": len(cifar10["y_test"]),
            "classes": 10,
        },
        "cifar100": {
            "n_train": len(cifar100["y_train"]),
            "n_test": len(cifar100["y_test"]),
            "classes": 100,
        },
        "svhn": {
            "n_train": svhn_train["y"].shape[0],
            "n_test": svhn_test["y"].shape[0],
            "classes": 10,
        },
        "uci": uci,
    }


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("paper_data")
    workdir = copy_workflow(root / "workflow")
    # the documented CLI: python tests/data/raw_formats.py DIR > data.yaml
    data = subprocess.run(
        [sys.executable, str(REPO / "tests" / "data" / "raw_formats.py"), str(root / "served")],
        capture_output=True,
        text=True,
        check=True,
    )
    (root / "data.yaml").write_text(data.stdout)
    result = snakemake(
        workdir,
        "--cores",
        "2",
        "--configfile",
        str(CONFIG_PATH),
        str(root / "data.yaml"),
        timeout=1500,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return workdir


def load(path) -> dict:
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def split_sizes(n: int, fractions: list[float]) -> tuple[int, int, int]:
    """Sizes of collusion.data.prepared.random_split (UCI tables are split at train time)."""
    n_train, n_val = round(fractions[0] * n), round(fractions[1] * n)
    return n_train, n_val, n - n_train - n_val


def run_dirs(config: dict) -> list[tuple[str, dict, str]]:
    return [
        (
            name,
            exp,
            f"results/runs/{name}/{exp['dataset']}/{model}/{agg}/M{m}/beta{float(b):g}/seed{s}",
        )
        for name, exp in config["experiments"].items()
        for model, agg, m, b, s in itertools.product(
            exp["models"], exp["aggregations"], exp["ensemble_sizes"], exp["betas"], exp["seeds"]
        )
    ]


def test_every_source_is_downloaded_verified_and_recorded(workdir):
    data = yaml.safe_load((workdir.parent / "data.yaml").read_text())["data"]
    assert set(data["urls"]) == set(SOURCES)
    for name, url in data["urls"].items():
        source = SOURCES[name]
        served = Path(url[len("file://") :]).read_bytes()
        local = (workdir / source.path()).read_bytes()
        assert local == served
        digest = hashlib.sha256(local).hexdigest()
        assert (workdir / source.record()).read_text() == f"{digest}  {source.filename}\n"
        if source.archive:
            assert any((workdir / source.extracted()).iterdir())


def test_prepared_images_have_the_authors_splits(workdir, tiny_sources):
    prepared = workdir / "resources" / "prepared"
    for dataset in ("cifar10", "cifar100", "svhn"):
        facts = tiny_sources[dataset]
        p = load(prepared / f"{dataset}.npz")
        n = facts["n_train"] + facts["n_test"]
        assert p["X"].shape == (n, 3, 32, 32) and p["X"].dtype == np.uint8
        assert p["y"].shape == (n,) and 0 <= p["y"].min() and p["y"].max() < facts["classes"]
        assert int(p["n_classes"]) == facts["classes"]
        if dataset == "svhn":  # official train; official test halved into test (first) and val
            sizes = (facts["n_train"], facts["n_test"] - facts["n_test"] // 2, facts["n_test"] // 2)
        else:  # val = first 20 % of the training images
            sizes = (
                facts["n_train"] - facts["n_train"] // 5,
                facts["n_train"] // 5,
                facts["n_test"],
            )
        parts = [p["train_idx"], p["val_idx"], p["test_idx"]]
        assert tuple(map(len, parts)) == sizes
        assert len(np.unique(np.concatenate(parts))) == n
    tiny = load(prepared / "tiny_imagenet.npz")  # per class 4 training and 4 labelled val images
    classes = len(TINY_WNIDS)
    assert tiny["X"].shape == (8 * classes, 3, 64, 64) and tiny["X"].dtype == np.uint8
    sizes = (len(tiny["train_idx"]), len(tiny["val_idx"]), len(tiny["test_idx"]))
    assert sizes == (4 * classes, 2 * classes, 2 * classes)  # labelled val halved per class
    assert int(tiny["n_classes"]) == classes


def test_prepared_uci_tables(workdir, tiny_sources):
    for name, truth in tiny_sources["uci"].items():
        p = load(workdir / "resources" / "prepared" / f"{name}.npz")
        assert str(p["task"]) == "regression" and "train_idx" not in p  # split per run seed
        assert p["X"].dtype == np.float32 and p["X"].shape[1] == truth["n_features"]
        assert np.isfinite(p["X"]).all() and np.isfinite(p["y"]).all()
    uci = tiny_sources["uci"]
    prepared = workdir / "resources" / "prepared"
    np.testing.assert_allclose(load(prepared / "abalone.npz")["y"], uci["abalone"]["rings"])
    np.testing.assert_allclose(
        load(prepared / "weather.npz")["y"], uci["weather"]["Next_Tmax"], rtol=1e-6
    )
    np.testing.assert_allclose(
        load(prepared / "facebook.npz")["y"], uci["facebook"]["Lifetime Post Total Impressions"]
    )
    np.testing.assert_allclose(
        load(prepared / "bioconcentration.npz")["y"], uci["bioconcentration"]["logBCF"], rtol=1e-6
    )


def test_every_run_is_complete_and_well_formed(workdir):
    found = sorted(p.parent for p in (workdir / "results" / "runs").rglob("history.csv"))
    expected = run_dirs(CONFIG)
    assert sorted(workdir / d for _, _, d in expected) == found
    for _, exp, run_dir in expected:
        run_dir = workdir / run_dir
        recipe = CONFIG["recipes"][exp["recipe"]]
        history = pd.read_csv(run_dir / "history.csv")
        provenance = json.loads((run_dir / "provenance.json").read_text())
        run = provenance["config"]["run"]
        assert len(history) == recipe["epochs"] == provenance["outcome"]["epochs_run"]
        assert provenance["outcome"]["status"] == "completed"
        assert run["recipe"]["augment"] == recipe.get("augment", "none")
        for split in ("train", "val", "test"):
            for metric in ("L_ens", "L_ind", "DIV"):
                assert history[f"{split}_{metric}"].notna().all(), (run_dir, split, metric)
            if run["aggregation"] != "regression":
                assert history[f"{split}_acc"].between(0, 1).all()
        assert not (run_dir / "checkpoint.pt").exists()  # keep_checkpoints: false
        predictions = load(run_dir / "predictions.npz")
        members, n_test, out_dim = predictions["last_test"].shape
        assert members == run["n_members"] and n_test == len(predictions["y_test"])
        if run["aggregation"] == "regression":
            n = len(load(workdir / "resources" / "prepared" / f"{exp['dataset']}.npz")["y"])
            assert (out_dim, n_test) == (1, split_sizes(n, exp["split"]["fractions"])[2])
        else:
            prepared = load(workdir / "resources" / "prepared" / f"{exp['dataset']}.npz")
            assert (out_dim, n_test) == (int(prepared["n_classes"]), len(prepared["test_idx"]))
        assert np.isfinite(predictions["best_val_test"]).all()


def test_every_analysis_table_covers_its_runs(workdir):
    for name, exp in CONFIG["experiments"].items():
        sweep = [d for e, x, d in run_dirs({"experiments": {name: exp}}) if "beta1.5" not in d]
        tables = workdir / "results" / "tables" / name
        runs = pd.read_csv(tables / "runs.csv")
        assert len(runs) == len(sweep) * len(SELECTIONS)
        assert set(runs["selection"]) == set(SELECTIONS)
        assert len(pd.read_csv(tables / "debias.csv")) == len(sweep) * len(SELECTIONS)
        fractions = CONFIG["analysis"]["learner_dropout"]["fractions"]
        assert len(pd.read_csv(tables / "learner_dropout.csv")) == len(sweep) * len(
            SELECTIONS
        ) * len(fractions)
        epochs = CONFIG["recipes"][exp["recipe"]]["epochs"]
        assert len(pd.read_csv(tables / "gen_gap.csv")) == len(sweep) * epochs
        dynamics = pd.read_csv(tables / "dynamics.csv")
        assert set(dynamics["beta"]) == {0.0, 1.0} and set(dynamics["seed"]) == {exp["seeds"][0]}
    divergence = pd.read_csv(workdir / "results" / "tables" / "divergence.csv")
    assert set(divergence["beta"]) == {1.5} and set(divergence["dataset"]) == {"abalone"}


def test_every_paper_target_is_built(workdir):
    paper = workdir / "results" / "paper"
    for name in FIGURES:
        for ext in ("pdf", "png"):
            assert (paper / "figures" / f"{name}.{ext}").stat().st_size > 1000
    for name in TABLES:
        for ext in ("csv", "md", "tex"):
            assert (paper / "tables" / f"{name}.{ext}").stat().st_size > 0
    sweep = pd.read_csv(paper / "tables" / "beta_sweep.csv")
    assert set(sweep["experiment"]) == set(CONFIG["experiments"])
    claims = pd.read_csv(paper / "claims.csv")
    assert set(claims["claim"]) == set(range(1, 8))
    assert set(claims["experiment"].dropna()) == set(CONFIG["experiments"])
    assert "| 1 |" in (paper / "claims.md").read_text()


def test_rerun_has_nothing_to_do(workdir):
    data = workdir.parent / "data.yaml"
    result = snakemake(workdir, "-n", "--configfile", str(CONFIG_PATH), str(data), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Nothing to be done" in result.stdout + result.stderr
