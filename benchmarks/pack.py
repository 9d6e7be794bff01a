"""Packed vs per-β training jobs of the default configuration, side by side in one process, and
the start-up of a training job. Writes benchmarks/pack.csv and benchmarks/pack_importtime.txt.

    PYTHONPATH=src .venv/bin/python benchmarks/pack.py [--epochs-scale 1.0]

For each job kind of config/config.yaml (dataset, model, aggregation; seed 0), the same few epochs
are trained as one pack (all the experiment's β) and as one trainer per β, alternately in this
process at one thread; a job's estimated cost adds one process start-up (measured below) per job.
CPU time (process_time) is reported next to wall time because other jobs may share the cores.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from collusion import pipeline  # noqa: E402
from collusion.config_errors import load_config  # noqa: E402
from collusion.data.offline import prepare_offline  # noqa: E402
from collusion.data.prepared import load_dataset  # noqa: E402
from collusion.io import write_csv  # noqa: E402
from collusion.train import Trainer  # noqa: E402

SHORT_EPOCHS = {"mnist1d": 3, "diabetes": 100}  # epochs timed per job kind (scaled to the recipe's)


def startup_seconds(repeats: int = 3) -> float:
    """Wall time of a fresh Python that imports what a training job imports."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import collusion.job"], check=True, env=env)
        times.append(time.perf_counter() - started)
    return min(times)


def importtime(path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import collusion.job"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    rows = [
        line.split("|") for line in result.stderr.splitlines() if line.startswith("import time:")
    ]
    top = sorted(
        ((int(r[1]), r[2].rstrip()) for r in rows[1:] if r[1].strip().isdigit()), reverse=True
    )
    lines = [
        f"{us / 1e6:8.3f} s  {name}" for us, name in top if len(name) - len(name.lstrip()) <= 3
    ][:15]
    path.write_text(
        "cumulative import time of `import collusion.job` (a training job), top modules\n"
        + "\n".join(lines)
        + "\n"
    )


def timed_fit(specs, data) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(specs, data, run_dir, checkpoint_seconds=1e9)
        wall, cpu = time.perf_counter(), time.process_time()
        trainer.fit(log=lambda message: None)
        return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "config" / "config.yaml"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "pack.csv"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = load_config(args.config)  # validated, defaults filled in, as the workflow sees it
    startup = startup_seconds()
    importtime(Path(args.out).with_name("pack_importtime.txt"))
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, exp in config["experiments"].items():
            prepared = Path(scratch) / f"{exp['dataset']}.npz"
            if not prepared.exists():
                prepare_offline(exp["dataset"], prepared)
            for model in exp["models"]:
                for aggregation in exp["aggregations"][:1]:
                    runs = [
                        pipeline.Run(
                            name,
                            exp["dataset"],
                            model,
                            aggregation,
                            exp["ensemble_sizes"][0],
                            float(beta),
                            exp["seeds"][0],
                        )
                        for beta in exp["betas"]
                    ]
                    specs = [pipeline.run_spec(config, run) for run in runs]
                    epochs = specs[0].recipe.epochs
                    short = min(epochs, SHORT_EPOCHS.get(exp["dataset"], 3))
                    for spec in specs:
                        spec.recipe.epochs = short
                    split = pipeline.split_config(config, runs[0])
                    data = load_dataset(
                        prepared, split["fractions"], split["seed"], "cpu", split["fixed"]
                    )
                    packed = timed_fit(specs, data)
                    alone = [timed_fit([spec], data) for spec in specs]
                    scale = epochs / short
                    per_beta_job = sum(a[0] for a in alone) * scale + len(specs) * startup
                    packed_job = packed[0] * scale + startup
                    rows.append(
                        {
                            "experiment": name,
                            "model": model,
                            "aggregation": aggregation,
                            "betas": len(specs),
                            "members": specs[0].n_members,
                            "epochs": epochs,
                            "timed_epochs": short,
                            "packed_train_wall_s": round(packed[0], 3),
                            "packed_train_cpu_s": round(packed[1], 3),
                            "per_beta_train_wall_s": round(sum(a[0] for a in alone), 3),
                            "per_beta_train_cpu_s": round(sum(a[1] for a in alone), 3),
                            "startup_s": round(startup, 3),
                            "packed_job_estimate_s": round(packed_job, 1),
                            "per_beta_jobs_estimate_s": round(per_beta_job, 1),
                            "ratio_packed_over_per_beta": round(packed_job / per_beta_job, 3),
                            "load_average_1min": round(os.getloadavg()[0], 2),
                        }
                    )
                    print(rows[-1], flush=True)
    write_csv(args.out, rows)


if __name__ == "__main__":
    main()
