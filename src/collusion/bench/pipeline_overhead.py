"""The pipeline's own overhead: ``snakemake -n`` on config/paper.yaml (config/config.yaml if there
is none), and the wall time of trivial training jobs (1 epoch) through Snakemake against the same
job in-process (``collusion.job.train``)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

from ..config_errors import validate
from .cases import REPO, digits_file

PIPELINE_COLUMNS = [
    "date",
    "commit",
    "device",
    "load_1min",
    "measurement",
    "configfile",
    "jobs",
    "seconds",
    "note",
]


PIPELINE_CONFIG = """\
experiments:
  bench:
    dataset: digits
    models: [mlp]
    aggregations: [score]
    ensemble_sizes: [2]
    betas: [0]
    seeds: {seeds}
    recipe: one_epoch
    split: {{fractions: [0.6, 0.15, 0.25], seed: run}}
models:
  mlp: {{arch: mlp, hidden: [16]}}
recipes:
  one_epoch: {{optimizer: adam, lr: 0.001, batch_size: 64, epochs: 1}}
"""


def snakemake_command() -> list[str]:
    beside = Path(sys.executable).with_name("snakemake")
    if beside.exists():
        return [str(beside)]
    if shutil.which("snakemake"):
        return ["snakemake"]
    raise FileNotFoundError(
        "snakemake is not installed here: run with --no-pipeline, or install it"
    )


def timed(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({result.returncode}):\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
    return seconds, result.stdout + result.stderr


def fresh_workdir(path: Path) -> Path:
    """An empty Snakemake working directory (nothing done yet) that sees the package's sources,
    which some rules name as inputs, and the prepared digits."""
    (path / "resources" / "prepared").mkdir(parents=True)
    os.symlink(REPO / "src", path / "src")
    os.symlink(digits_file(path.parent), path / "resources" / "prepared" / "digits.npz")
    return path


def pipeline_rows(workdir: Path) -> list[dict]:
    """Dry-run time of the paper's grid; the start-up cost of a training job under Snakemake."""
    import yaml

    from .. import pipeline
    from ..job import train
    from ..spec import TrainingJob

    snakemake = snakemake_command() + ["-s", str(REPO / "Snakefile")]
    configfile = REPO / "config" / "paper.yaml"
    note = "fresh working directory: every job of the grid still to run"
    if not configfile.exists():
        configfile = REPO / "config" / "config.yaml"
        note = "config/paper.yaml does not exist yet; " + note
    dry = fresh_workdir(workdir / "dry")
    seconds, output = timed(snakemake + ["-d", str(dry), "--configfile", str(configfile), "-n"])
    jobs = re.findall(r"^total\s+(\d+)", output, flags=re.MULTILINE)
    rows = [
        {
            "measurement": "snakemake -n",
            "configfile": configfile.relative_to(REPO).as_posix(),
            "jobs": jobs[-1] if jobs else "",
            "seconds": seconds,
            "note": note,
        }
    ]

    # trivial training jobs (M=2 MLP, 1 epoch on digits): 1 and 3 of them through Snakemake
    # (one core, one after the other), and one in-process
    seconds_of = {}
    for n_jobs in (1, 3):
        job = fresh_workdir(workdir / f"jobs{n_jobs}")
        config_text = PIPELINE_CONFIG.format(seeds=list(range(n_jobs)))
        (job / "bench.yaml").write_text(config_text)
        targets = [
            run.path("history.csv") for run in pipeline.all_runs(yaml.safe_load(config_text))
        ]
        seconds_of[n_jobs], _ = timed(
            snakemake
            + targets
            + [
                "-d",
                str(job),
                "--configfile",
                str(job / "bench.yaml"),
                "--cores",
                "1",
                "--allowed-rules",
                "train",
            ]
        )
        rows.append(
            {
                "measurement": f"snakemake: {n_jobs} train job{'s' * (n_jobs > 1)}",
                "configfile": "(each: 1 epoch, M=2 MLP, digits)",
                "jobs": n_jobs,
                "seconds": seconds_of[n_jobs],
                "note": "snakemake start and DAG once, then per job a fresh Python running "
                "the job script",
            }
        )
    seconds, _ = timed([sys.executable, "-c", "import collusion.job"])
    rows.append(
        {
            "measurement": "python -c 'import collusion.job'",
            "configfile": "",
            "jobs": "",
            "seconds": seconds,
            "note": "a job script's imports (torch), in a fresh process",
        }
    )

    config = validate(yaml.safe_load(PIPELINE_CONFIG.format(seeds=[0])))
    run = pipeline.all_runs(config)[0]
    threads, seconds = torch.get_num_threads(), []
    for attempt in range(2):  # the first call also pays one-time imports and initialisations
        out = workdir / f"in_process{attempt}"
        out.mkdir()
        job = TrainingJob.of_run(
            pipeline.run_spec(config, run).to_dict(),
            pipeline.split_config(config, run),
            workdir / "jobs1" / "resources" / "prepared" / "digits.npz",
            out,
            device="cpu",
        )
        started = time.perf_counter()
        with open(os.devnull, "w") as log:
            train(job, log)
        seconds.append(time.perf_counter() - started)
    in_process = seconds[-1]
    torch.set_num_threads(threads)
    rows.append(
        {
            "measurement": "train job in-process",
            "configfile": "(the same job)",
            "jobs": 1,
            "seconds": in_process,
            "note": "collusion.job.train, torch already imported, second call",
        }
    )
    rows.append(
        {
            "measurement": "per-job start-up under snakemake",
            "configfile": "",
            "jobs": "",
            "seconds": (seconds_of[3] - seconds_of[1]) / 2 - in_process,
            "note": "(3 jobs - 1 job) / 2 - the job's own in-process time",
        }
    )
    return rows
