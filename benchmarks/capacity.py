"""Size a grid of config/open_questions.yaml: one real training job per (experiment, model, M), as
the pipeline plans it (``pack_seeds`` seeds' β packs: stacked MLPs as one program, other learners
seed after seed; collusion.job.train), timed in fresh processes at one thread with the recipe's
epochs cut to e1 and e2 (``--epochs``, default 1 and 3). Appends rows to benchmarks/capacity.csv.

    PYTHONPATH=src .venv/bin/python benchmarks/capacity.py [--experiments capacity capacity_cnn]
        [--epochs 1 3] [--models mlp_w4 ...] [--members 2 16]

A job's CPU time is its process's (user + system), so the figure holds on a shared machine; the
load is beside it. A job costs a fixed part (Python and torch start-up, data, models) and a part
per epoch, so the two timings give the recipe's E epochs: job = c1 + (c2 − c1) / (e2 − e1) ×
(E − e1). One aggregation is timed (the first; the objective's cost hardly depends on it); the
experiment's estimate multiplies by its aggregations and by its jobs per (model, M) (seeds /
pack_seeds). The row of model ``all`` is that estimate, in CPU seconds, over every (model, M) of
the experiment that was timed. Every row carries the date, the commit (``+dirty`` when the working
tree differs from it), the machine (CPU model and cores) and the 1-minute load it was measured at.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from pack_seeds import job_packs, timed  # noqa: E402

from collusion import pipeline, plan  # noqa: E402
from collusion.config_errors import load_config  # noqa: E402
from collusion.data.offline import prepare_offline  # noqa: E402
from collusion.io import write_csv  # noqa: E402
from collusion.provenance import cpu_model  # noqa: E402


def commit() -> str:
    """This checkout's short commit, ``+dirty`` when its tracked files differ from it."""

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)

    head = git("rev-parse", "--short", "HEAD").stdout.strip() or "unknown"
    return head + ("+dirty" if git("diff", "--quiet", "HEAD").returncode else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "config" / "open_questions.yaml"))
    parser.add_argument("--experiments", nargs="+", default=["capacity"])
    parser.add_argument("--models", nargs="+", help="only these models (default: all)")
    parser.add_argument("--members", nargs="+", type=int, help="only these M (default: all)")
    parser.add_argument(
        "--epochs", type=int, nargs=2, default=[1, 3], help="the two epoch counts timed per job"
    )
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "capacity.csv"))
    args = parser.parse_args()
    config = load_config(args.config)  # validated, defaults filled in, as the workflow sees it
    pipeline.normalise_grid(config)
    e1, e2 = args.epochs
    measured = {
        "date": time.strftime("%Y-%m-%d"),
        "commit": commit(),
        "machine": f"{cpu_model()}, {os.cpu_count()} cores",
    }
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        for experiment in args.experiments:
            exp = config["experiments"][experiment]
            recipe = config["recipes"][exp["recipe"]]
            epochs = recipe["epochs"]
            data = scratch / f"{exp['dataset']}.npz"
            if not data.exists():
                prepare_offline(exp["dataset"], data)
            per_job = plan.pack_seeds(config, experiment)
            seeds = exp["seeds"][:per_job]
            jobs_per_cell = -(-len(exp["seeds"]) // per_job)
            total = 0.0
            for model in exp["models"]:
                if args.models and model not in args.models:
                    continue
                for members in exp["ensemble_sizes"]:
                    if args.members and members not in args.members:
                        continue
                    wildcards = SimpleNamespace(
                        model=model, aggregation=exp["aggregations"][0], members=members
                    )
                    load = os.getloadavg()[0]
                    cpu = {}
                    for timed_epochs in (e1, e2):
                        recipe["epochs"] = timed_epochs  # the packs' specs read it
                        where = scratch / f"{experiment}-{model}-M{members}-e{timed_epochs}"
                        packs = job_packs(config, experiment, wildcards, seeds, where)
                        cpu[timed_epochs], _ = timed(packs, data, where / "job", "one program")
                    per_epoch = (cpu[e2] - cpu[e1]) / (e2 - e1)
                    job_cpu = cpu[e1] + per_epoch * (epochs - e1)
                    total += job_cpu * jobs_per_cell * len(exp["aggregations"])
                    rows.append(
                        {
                            **measured,
                            "experiment": experiment,
                            "model": model,
                            "options": str(config["models"][model]),
                            "members": members,
                            "seeds_per_job": len(seeds),
                            "betas": len(exp["betas"]),
                            "epochs": epochs,
                            "timed_epochs": f"{e1} {e2}",
                            "cpu_s": f"{cpu[e1]:.2f} {cpu[e2]:.2f}",
                            "fixed_cpu_s": round(cpu[e1] - per_epoch * e1, 2),
                            "epoch_cpu_s": round(per_epoch, 3),
                            "job_cpu_estimate_s": round(job_cpu, 1),
                            "load_1min": round(load, 2),
                        }
                    )
                    print(rows[-1], flush=True)
            recipe["epochs"] = epochs
            rows.append(
                {
                    **measured,
                    "experiment": experiment,
                    "model": "all",
                    "options": f"{len(exp['aggregations'])} aggregations × {jobs_per_cell} jobs",
                    "members": "all",
                    "seeds_per_job": len(seeds),
                    "betas": len(exp["betas"]),
                    "epochs": epochs,
                    "timed_epochs": f"{e1} {e2}",
                    "job_cpu_estimate_s": round(total, 1),
                    "load_1min": round(os.getloadavg()[0], 2),
                }
            )
            print(rows[-1], flush=True)
    out = Path(args.out)
    previous = []
    if out.exists():
        with open(out, newline="") as handle:
            previous = list(csv.DictReader(handle))
    # rows measured before a column existed keep it empty: not recorded
    write_csv(out, previous + rows, fieldnames=list(rows[0]))


if __name__ == "__main__":
    main()
