"""One training job of five seeds' packs against five one-seed jobs, side by side: the job-seconds
that pack_seeds saves (each job starts Python and imports torch once). Writes
benchmarks/pack_seeds.csv.

    PYTHONPATH=src .venv/bin/python benchmarks/pack_seeds.py [--experiment diabetes] [--repeat 1]

The packs are config/config.yaml's (the experiment's first model, aggregation and M, seeds 0-4,
every β, the full recipe), trained at one thread in fresh processes through runner.train_seeds /
runner.train_pack as the pipeline's jobs do; the two ways take turns ``--repeat`` times. CPU time
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

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from collusion import pipeline  # noqa: E402

JOB = """
import json, sys
from collusion.runner import run_paths, train_seeds
packs = json.loads(sys.argv[1])
outputs = [run_paths(f"{pack['pack_dir']}/beta{spec['beta']}") for pack in packs for spec in pack["specs"]]
train_seeds(packs, sys.argv[2], outputs, threads=1, job_dir=sys.argv[3] if len(packs) > 1 else None)
"""


def timed(packs: list[dict], data: Path, job_dir: Path) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one job process."""
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    subprocess.run(
        [sys.executable, "-c", JOB, json.dumps(packs), str(data), str(job_dir)],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiment", default="diabetes")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "pack_seeds.csv"))
    args = parser.parse_args()
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    exp = config["experiments"][args.experiment]
    wildcards = SimpleNamespace(
        model=exp["models"][0], aggregation=exp["aggregations"][0], members=exp["ensemble_sizes"][0]
    )
    from collusion.data.offline import prepare_offline

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / f"{exp['dataset']}.npz"
        prepare_offline(exp["dataset"], data)

        def packs(seeds, where):
            return [
                {
                    "specs": [pipeline.run_spec(config, run).to_dict() for run in runs],
                    "split": pipeline.split_config(config, runs[0]),
                    "pack_dir": str(tmp / where / f"seed{seed}"),
                }
                for seed in seeds
                for runs in [pipeline.pack_runs(config, args.experiment, wildcards, seed)]
            ]

        seeds = exp["seeds"][: args.seeds]
        rows = []
        for repeat in range(args.repeat):
            load = os.getloadavg()[0]
            together = timed(
                packs(seeds, f"together{repeat}"), data, tmp / f"together{repeat}" / "job"
            )
            apart = [timed(packs([seed], f"apart{repeat}"), data, tmp / "unused") for seed in seeds]
            for way, jobs, (cpu, wall) in (
                ("one job of all seeds", 1, together),
                ("one job per seed", len(seeds), tuple(map(sum, zip(*apart)))),
            ):
                rows.append(
                    {
                        "date": time.strftime("%Y-%m-%d"),
                        "experiment": args.experiment,
                        "model": wildcards.model,
                        "seeds": len(seeds),
                        "betas": len(exp["betas"]),
                        "way": way,
                        "jobs": jobs,
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
