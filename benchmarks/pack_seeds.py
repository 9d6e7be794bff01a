"""A training job of five seeds' packs, side by side, trained in the ways ``--ways`` names:

    one program       one job, every (seed, β) as one program of stacked MLPs (collusion.job.train)
    seed after seed   one job, the seeds' packs one after the other (train_seeds, seed_pack=False)
    one job per seed  five one-seed jobs (pack_seeds: 1; each job starts Python and imports torch)

Appends a row per experiment and way to benchmarks/pack_seeds.csv.

    PYTHONPATH=src .venv/bin/python benchmarks/pack_seeds.py [--experiments diabetes mnist1d]
        [--ways "one program" "seed after seed"] [--repeat 1]

The packs are config/config.yaml's (the experiment's first model, aggregation and M, seeds 0-4,
every β, the full recipe), trained at one thread in fresh processes through collusion.job.train as the pipeline's jobs
do; the ways take turns ``--repeat`` times. CPU time
(the children's user + system) is the figure to read on a shared machine; wall time and the load
are beside it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from collusion import plan  # noqa: E402
from collusion.config_errors import load_config  # noqa: E402

JOB = """
import json, sys
from collusion.job import train
from collusion.spec import Part, TrainingJob
parts = [Part(**part) for part in json.loads(sys.argv[1])]
train(TrainingJob(parts, sys.argv[2], job_dir=sys.argv[3] if len(parts) > 1 else None,
                  one_program=sys.argv[4] == "one program"))
"""
WAYS = ("one program", "seed after seed", "one job per seed")


def timed(packs: list[dict], data: Path, job_dir: Path, way: str) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one job process."""
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    subprocess.run(
        [sys.executable, "-c", JOB, json.dumps(packs), str(data), str(job_dir), way],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, time.perf_counter() - started


def job_packs(config: dict, experiment: str, wildcards, seeds: list[int], root: Path) -> list:
    """A job's parts, as the pipeline plans them (collusion.plan): one per seed, every β, under
    ``root``."""
    exp = config["experiments"][experiment]
    setting = (experiment, exp["dataset"], wildcards.model, wildcards.aggregation)
    slot = plan.Slot(*setting, wildcards.members, tuple(seeds))
    job = plan.training_job(config, slot.runs(config))
    return [
        {
            "specs": part.specs,
            "split": part.split,
            "run_dirs": [str(root / f"seed{seed}" / Path(d).name) for d in part.run_dirs],
            "pack_dir": str(root / f"seed{seed}"),
        }
        for seed, part in zip(seeds, job.parts)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiments", nargs="+", default=["diabetes", "mnist1d"])
    parser.add_argument("--ways", nargs="+", choices=WAYS, default=list(WAYS[:2]))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "pack_seeds.csv"))
    parser.add_argument(
        "--keep", help="train under this folder and keep the runs (default: a temp)"
    )
    args = parser.parse_args()
    config = load_config(
        ROOT / "config" / "config.yaml"
    )  # as the workflow sees it: defaults filled
    from collusion.data.offline import prepare_offline

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(args.keep or tmp)
        for experiment in args.experiments:
            exp = config["experiments"][experiment]
            wildcards = SimpleNamespace(
                model=exp["models"][0],
                aggregation=exp["aggregations"][0],
                members=exp["ensemble_sizes"][0],
            )
            data = tmp / f"{exp['dataset']}.npz"
            prepare_offline(exp["dataset"], data)

            def packs(seeds, where, experiment=experiment, wildcards=wildcards):
                return job_packs(config, experiment, wildcards, seeds, tmp / where)

            seeds = exp["seeds"][: args.seeds]
            for repeat in range(args.repeat):
                for way in args.ways:
                    where = f"{experiment}-{way.replace(' ', '_')}-{repeat}"
                    load = os.getloadavg()[0]
                    if way == "one job per seed":
                        jobs = [timed(packs([s], where), data, tmp / "unused", way) for s in seeds]
                        cpu, wall = map(sum, zip(*jobs))
                    else:
                        cpu, wall = timed(packs(seeds, where), data, tmp / where / "job", way)
                    rows.append(
                        {
                            "date": time.strftime("%Y-%m-%d"),
                            "experiment": experiment,
                            "model": wildcards.model,
                            "seeds": len(seeds),
                            "betas": len(exp["betas"]),
                            "way": way,
                            "jobs": len(seeds) if way == "one job per seed" else 1,
                            "cpu_s": round(cpu, 2),
                            "wall_s": round(wall, 2),
                            "load_1min": round(load, 2),
                        }
                    )
                    print(rows[-1], flush=True)
    out = Path(args.out)
    new = not out.exists()
    with open(out, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        if new:
            writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
