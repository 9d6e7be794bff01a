"""The default configuration from nothing: wall and CPU time of a whole pipeline run in a fresh clone.

Clones this checkout's HEAD (committed code only) into a temporary directory, links the project's
virtual environment into it, runs ``snakemake --cores N`` there (every job: data preparation,
training, analyses, figures, tables, claims) and appends one row to
benchmarks/default_runtime.csv: date, commit, CPU, cores, configuration, jobs, wall seconds, the
children's user and system CPU seconds, and the machine's 1-minute load before the run and its mean
and maximum during it (sampled every 10 s, the run's own load included: ~2 on an idle 2-core machine).

    .venv/bin/python benchmarks/default_runtime.py [--cores 2] [--configfile config/config.yaml]
        [--keep DIR] [--out CSV]

A smoke test of the script itself: ``--configfile tests/configs/tiny.yaml --out /tmp/x.csv``.
On a shared machine the wall time depends on the load: read it beside the load columns.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from collusion.provenance import cpu_model  # noqa: E402

OUT = ROOT / "benchmarks" / "default_runtime.csv"
FIELDS = [
    "date",
    "commit",
    "cpu",
    "cores",
    "configfile",
    "jobs",
    "wall_s",
    "user_s",
    "system_s",
    "load_before",
    "load_mean",
    "load_max",
    "note",
]


class LoadSampler(threading.Thread):
    """The 1-minute load average every ``seconds`` until stopped."""

    def __init__(self, seconds: float = 10.0):
        super().__init__(daemon=True)
        self.seconds, self.samples, self.done = seconds, [], threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.seconds):
            self.samples.append(os.getloadavg()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--configfile", default="config/config.yaml")
    parser.add_argument("--keep", help="clone into this (new) directory and keep it")
    parser.add_argument("--note", default="")
    parser.add_argument("--out", type=Path, default=OUT, help=f"append here (default {OUT})")
    args = parser.parse_args()

    commit = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="default_runtime."))
    subprocess.run(["git", "clone", "--quiet", "--local", str(ROOT), str(workdir)], check=True)
    venv = Path(sys.prefix)
    (workdir / ".venv").symlink_to(venv)
    command = [
        str(venv / "bin" / "python"),
        "-m",
        "snakemake",
        "--cores",
        str(args.cores),
        "--configfile",
        args.configfile,
    ]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the clone's own code
    sampler = LoadSampler()
    load_before = os.getloadavg()[0]
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    sampler.start()
    result = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    sampler.done.set()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    (workdir / "default_runtime.log").write_text(result.stdout + result.stderr)
    if result.returncode:
        sys.exit(f"snakemake failed (exit {result.returncode}); see {workdir}/default_runtime.log")
    jobs = sum(line.startswith("Finished jobid") for line in result.stderr.splitlines())
    samples = sampler.samples or [os.getloadavg()[0]]
    row = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit,
        "cpu": cpu_model(),
        "cores": args.cores,
        "configfile": args.configfile,
        "jobs": jobs,
        "wall_s": round(wall, 1),
        "user_s": round(after.ru_utime - before.ru_utime, 1),
        "system_s": round(after.ru_stime - before.ru_stime, 1),
        "load_before": round(load_before, 2),
        "load_mean": round(sum(samples) / len(samples), 2),
        "load_max": round(max(samples), 2),
        "note": args.note,
    }
    new = not args.out.exists()
    with args.out.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        writer.writerow(row)
    print(row)
    if not args.keep:
        subprocess.run(["rm", "-rf", str(workdir)], check=True)


if __name__ == "__main__":
    main()
