"""Candidate MNIST-1D recipes side by side: how soon the β = 0 ensembles converge, and at what cost.

``train`` trains the runs of config/budget_recipes.yaml through the pipeline (``snakemake`` with
their history.csv as targets: the training rules only).

``convergence`` reads those runs and appends to benchmarks/budget_recipes.csv: per candidate
(experiment), model, aggregation, β and budget E, the mean over seeds at the best-validation epoch
within the first E epochs (the schedules do not depend on the total epochs, so these are the
E-epoch runs' selections) of the ensemble's and the learners' test accuracy and test NLL, the
median selected epoch, the share of seeds whose selected epoch lies in the last 10 % of E, and the
paired test-error difference β = 1 − β = 0 (points).

``cost`` trains, in this process at one thread (as the pipeline's jobs do), one seed's pack of the
default's five β for each model and batch size, and appends to benchmarks/budget_cost.csv: the CPU
seconds of a training epoch and of an evaluation (train subset, validation, test), the minimum over
``--repeat`` turns taken in turn.

    .venv/bin/python benchmarks/budget_recipes.py train [--cores 2]
    .venv/bin/python benchmarks/budget_recipes.py convergence [--budgets 5 10 15 20 30 40 60]
    .venv/bin/python benchmarks/budget_recipes.py cost [--batch-sizes 25 50 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from collusion import pipeline  # noqa: E402
from collusion.analysis import read_history  # noqa: E402
from collusion.budget import late_epoch  # noqa: E402
from collusion.config_errors import load_config  # noqa: E402
from collusion.provenance import cpu_model  # noqa: E402

CONFIG = ROOT / "config" / "budget_recipes.yaml"
DEFAULT = ROOT / "config" / "config.yaml"


def stamp() -> dict:
    commit = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit,
        "load_1min": round(os.getloadavg()[0], 2),
        "machine": f"{cpu_model()}, {os.cpu_count()} cores",
    }


def append(path: Path, rows: list[dict]) -> None:
    old = pd.read_csv(path) if path.exists() else pd.DataFrame()
    pd.concat([old, pd.DataFrame(rows)], ignore_index=True).to_csv(path, index=False)


def best_within(history: pd.DataFrame, budget: int) -> pd.Series:
    """The history row of lowest validation L_ens among epochs 1..budget (the first such)."""
    upto = history[history["epoch"] <= budget]
    return upto.loc[upto["val_L_ens"].idxmin()]


def train(cores: int) -> None:
    config = load_config(str(CONFIG))
    targets = [
        f"{run.dir}/history.csv"
        for experiment in config["experiments"]
        for run in pipeline.experiment_runs(config, experiment)
    ]
    command = [sys.executable, "-m", "snakemake", "--cores", str(cores), *targets]
    subprocess.run([*command, "--configfile", str(CONFIG)], cwd=ROOT, check=True)


def convergence(budgets: list[int]) -> None:
    os.chdir(ROOT)  # run directories are relative to the repository
    config = load_config(str(CONFIG))
    rows = []
    for experiment, spec in config["experiments"].items():
        recipe = config["recipes"][spec["recipe"]]
        for run in pipeline.experiment_runs(config, experiment):
            history = read_history(run.dir)
            learners = [f"test_acc_member{j}" for j in range(run.members)]
            for budget in (b for b in budgets if b <= recipe["epochs"]):
                best = best_within(history, budget)
                rows.append(
                    {
                        "candidate": experiment,
                        "batch_size": recipe["batch_size"],
                        "lr": recipe["lr"],
                        "milestones": " ".join(str(m) for m in recipe["milestones"]),
                        "gamma": recipe["gamma"],
                        "model": run.model,
                        "aggregation": run.aggregation,
                        "beta": run.beta,
                        "seed": run.seed,
                        "budget": budget,
                        "epoch": int(best["epoch"]),
                        "acc": best["test_acc"],
                        "learner_acc": best[learners].mean(),
                        "nll": best["test_L_ens"],
                    }
                )
    runs = pd.DataFrame(rows)
    runs["late"] = [late_epoch(e, b) for e, b in zip(runs["epoch"], runs["budget"])]
    keys = ["candidate", "batch_size", "lr", "milestones", "gamma", "model", "aggregation"]
    by = keys + ["beta", "budget"]
    table = runs.groupby(by).agg(
        seeds=("seed", "nunique"),
        acc=("acc", "mean"),
        learner_acc=("learner_acc", "mean"),
        nll=("nll", "mean"),
        epoch=("epoch", "median"),
        late=("late", "mean"),
    )
    wide = runs.pivot_table(index=keys + ["budget", "seed"], columns="beta", values="acc")
    error_cost = (100 * (wide[0.0] - wide[1.0])).groupby(level=keys + ["budget"]).mean()
    table = table.reset_index().merge(
        error_cost.rename("error_beta1_minus_beta0_pts").reset_index(), on=keys + ["budget"]
    )
    table = table.assign(**stamp())
    append(ROOT / "benchmarks" / "budget_recipes.csv", table.to_dict("records"))
    print(table.round(3).to_string())


def cost(batch_sizes: list[int], repeat: int) -> None:
    import torch

    from collusion.job import load_split
    from collusion.spec import Recipe, RunSpec
    from collusion.train import Trainer

    torch.set_num_threads(1)
    config = load_config(str(DEFAULT))
    experiment = config["experiments"]["mnist1d"]
    base = config["recipes"][experiment["recipe"]]
    data = load_split(
        str(ROOT / pipeline.prepared_path("mnist1d")),
        {"fractions": [0.6, 0.15, 0.25], "seed": 0, "fixed": True},
        "cpu",
    )
    best: dict[tuple, dict] = {}
    for _ in range(repeat):
        for model in experiment["models"]:
            options = {k: v for k, v in config["models"][model].items() if k != "arch"}
            for batch_size in batch_sizes:
                recipe = Recipe(**{**base, "batch_size": batch_size, "epochs": 100})
                specs = [
                    RunSpec(config["models"][model]["arch"], options, "score", 5, b, 0, recipe)
                    for b in experiment["betas"]
                ]
                trainer = Trainer(specs, data, ROOT / "results" / "budget_cost", "cpu")
                trainer.train_period()  # warm-up
                started = time.process_time()
                trainer.train_period()
                train_s = time.process_time() - started
                started = time.process_time()
                trainer.evaluate()
                evaluate_s = time.process_time() - started
                key = (model, batch_size)
                old = best.get(key, {"train_epoch_cpu_s": np.inf, "evaluation_cpu_s": np.inf})
                best[key] = {
                    "model": model,
                    "batch_size": batch_size,
                    "betas": len(specs),
                    "train_epoch_cpu_s": min(old["train_epoch_cpu_s"], train_s),
                    "evaluation_cpu_s": min(old["evaluation_cpu_s"], evaluate_s),
                    "repeat": repeat,
                    **stamp(),
                }
                print(best[key], flush=True)
    append(ROOT / "benchmarks" / "budget_cost.csv", list(best.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parts = parser.add_subparsers(dest="part", required=True)
    parts.add_parser("train").add_argument("--cores", type=int, default=2)
    part = parts.add_parser("convergence")
    part.add_argument("--budgets", type=int, nargs="+", default=[5, 10, 15, 20, 25, 30, 40, 60])
    part = parts.add_parser("cost")
    part.add_argument("--batch-sizes", type=int, nargs="+", default=[25, 50, 100])
    part.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.part == "train":
        train(args.cores)
    elif args.part == "convergence":
        convergence(args.budgets)
    else:
        cost(args.batch_sizes, args.repeat)


if __name__ == "__main__":
    main()
