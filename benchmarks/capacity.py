"""Size the capacity grid: one pack (all β of a seed) per (model, M) of an experiment, timed in
this process at one thread, plus one process start-up per job. Writes benchmarks/capacity.csv.

    PYTHONPATH=src .venv/bin/python benchmarks/capacity.py [--experiment capacity] [--epochs 5]

Each pack trains ``--epochs`` epochs and is scaled to the recipe's; a job's estimated CPU cost is
that plus one start-up (a fresh Python importing collusion.job, measured here). The last row
(model ``all``) is the experiment's estimated training CPU time over all its seeds. CPU time
(process_time) is reported next to wall time because other jobs may share the cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from pack import startup_seconds, timed_fit  # noqa: E402

from collusion import pipeline  # noqa: E402
from collusion.config_errors import load_config  # noqa: E402
from collusion.data.offline import prepare_offline  # noqa: E402
from collusion.data.prepared import load_dataset  # noqa: E402
from collusion.io import write_csv  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "config" / "open_questions.yaml"))
    parser.add_argument("--experiment", default="capacity")
    parser.add_argument("--epochs", type=int, default=5, help="epochs timed per pack")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "capacity.csv"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = load_config(args.config)  # validated, defaults filled in, as the workflow sees it
    pipeline.normalise_grid(config)
    exp = config["experiments"][args.experiment]
    startup = startup_seconds()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        prepared = Path(scratch) / f"{exp['dataset']}.npz"
        prepare_offline(exp["dataset"], prepared)
        for model in exp["models"]:
            for members in exp["ensemble_sizes"]:
                runs = [
                    pipeline.Run(
                        args.experiment,
                        exp["dataset"],
                        model,
                        exp["aggregations"][0],
                        members,
                        beta,
                        exp["seeds"][0],
                    )
                    for beta in exp["betas"]
                ]
                specs = [pipeline.run_spec(config, run) for run in runs]
                epochs = specs[0].recipe.epochs
                timed = min(epochs, args.epochs)
                for spec in specs:
                    spec.recipe.epochs = timed
                split = pipeline.split_config(config, runs[0])
                data = load_dataset(
                    prepared, split["fractions"], split["seed"], "cpu", split["fixed"]
                )
                wall, cpu = timed_fit(specs, data)
                scale = epochs / timed
                rows.append(
                    {
                        "experiment": args.experiment,
                        "model": model,
                        "hidden": "x".join(map(str, config["models"][model].get("hidden", []))),
                        "members": members,
                        "betas": len(specs),
                        "epochs": epochs,
                        "timed_epochs": timed,
                        "train_wall_s": round(wall * scale, 2),
                        "train_cpu_s": round(cpu * scale, 2),
                        "startup_s": round(startup, 2),
                        "job_cpu_estimate_s": round(cpu * scale + startup, 2),
                        "load_average_1min": round(os.getloadavg()[0], 2),
                    }
                )
                print(rows[-1], flush=True)
    seeds = len(exp["seeds"])
    rows.append(
        {
            "experiment": args.experiment,
            "model": "all",
            "hidden": "",
            "members": "all",
            "betas": len(exp["betas"]),
            "epochs": rows[0]["epochs"],
            "timed_epochs": rows[0]["timed_epochs"],
            "train_wall_s": round(seeds * sum(r["train_wall_s"] for r in rows), 1),
            "train_cpu_s": round(seeds * sum(r["train_cpu_s"] for r in rows), 1),
            "startup_s": round(startup, 2),
            "job_cpu_estimate_s": round(seeds * sum(r["job_cpu_estimate_s"] for r in rows), 1),
            "load_average_1min": round(os.getloadavg()[0], 2),
        }
    )
    print(f"{seeds} seeds, {seeds * (len(rows) - 1)} jobs: {rows[-1]}")
    write_csv(args.out, rows)


if __name__ == "__main__":
    main()
