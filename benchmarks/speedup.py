"""The training code of this checkout against that of an earlier commit, on the packed training
jobs of the default configuration, side by side in one process. Writes benchmarks/speedup.csv.

    PYTHONPATH=src .venv/bin/python benchmarks/speedup.py --base <commit> [--repeat 3] [--models cnn1d]

The earlier commit's package is extracted (``git archive``) into a temporary folder and imported
under another name (``collusion_base``; the package uses relative imports only), so both versions
train the same pack (seed 0, the experiment's β, a few epochs as in pack.py) alternately, at one
thread, on the same prepared data; each keeps its fastest of ``--repeat`` runs. CPU time
(process_time) is the figure to read on a shared machine; wall time and the load are beside it.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from collusion import pipeline  # noqa: E402
from collusion.config_errors import load_config  # noqa: E402
from collusion.data.offline import prepare_offline  # noqa: E402
from collusion.io import write_csv  # noqa: E402

SHORT_EPOCHS = {"mnist1d": 2, "diabetes": 60}  # epochs timed per job kind


def rev(name: str) -> str:
    """A git revision's short hash."""
    return subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", name],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def import_base(commit: str, folder: Path):
    """The package ``src/collusion`` of ``commit`` as the module ``collusion_base``."""
    archive = folder / "base.tar"
    with open(archive, "wb") as handle:
        subprocess.run(
            ["git", "-C", str(ROOT), "archive", commit, "src/collusion"], stdout=handle, check=True
        )
    with tarfile.open(archive) as tar:
        tar.extractall(folder, filter="data")
    (folder / "src" / "collusion").rename(folder / "collusion_base")
    sys.path.insert(0, str(folder))
    return importlib.import_module("collusion_base.train"), importlib.import_module(
        "collusion_base.data.prepared"
    )


def timed_fit(
    train, prepared_module, specs: list[dict], split: dict, prepared: Path
) -> tuple[float, float]:
    data = prepared_module.load_dataset(
        prepared, split["fractions"], split["seed"], "cpu", split["fixed"]
    )
    # Recipe and RunSpec: in spec.py since the training core's split, in train.py before it
    package = train.__name__.rpartition(".")[0]
    types = train if hasattr(train, "Recipe") else importlib.import_module(f"{package}.spec")
    known = {f.name for f in dataclasses.fields(types.Recipe)}
    runs = [
        types.RunSpec(
            **{**s, "recipe": types.Recipe(**{k: v for k, v in s["recipe"].items() if k in known})}
        )
        for s in specs
    ]
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = train.Trainer(runs, data, run_dir, checkpoint_seconds=1e9)
        wall, cpu = time.perf_counter(), time.process_time()
        trainer.fit(log=lambda message: None)
        for split_name in ("val", "test"):
            trainer.last_outputs(split_name)
        return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the earlier commit (any git revision)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--config", default=str(ROOT / "config" / "config.yaml"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "speedup.csv"))
    parser.add_argument(
        "--models", help="only these models (comma-separated names of config models)"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = load_config(args.config)  # validated, defaults filled in, as the workflow sees it

    head = rev("HEAD") + (
        "+dirty"
        if subprocess.run(
            ["git", "-C", str(ROOT), "diff", "--quiet", "HEAD", "--", "src"]
        ).returncode
        else ""
    )
    import collusion.data.prepared as new_prepared
    import collusion.train as new_train

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        base_train, base_prepared = import_base(args.base, Path(scratch))
        for name, exp in config["experiments"].items():
            prepared = Path(scratch) / f"{exp['dataset']}.npz"
            if not prepared.exists():
                prepare_offline(exp["dataset"], prepared)
            for model in exp["models"]:
                if args.models and model not in args.models.split(","):
                    continue
                aggregation = exp["aggregations"][0]
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
                specs = [pipeline.run_spec(config, run).to_dict() for run in runs]
                epochs = min(specs[0]["recipe"]["epochs"], SHORT_EPOCHS.get(exp["dataset"], 2))
                for spec in specs:
                    spec["recipe"]["epochs"] = epochs
                split = pipeline.split_config(config, runs[0])
                load_before = os.getloadavg()[0]
                times = {"base": [], "new": []}
                for _ in range(args.repeat):
                    times["base"].append(
                        timed_fit(base_train, base_prepared, specs, split, prepared)
                    )
                    times["new"].append(timed_fit(new_train, new_prepared, specs, split, prepared))
                best = {k: (min(w for w, _ in v), min(c for _, c in v)) for k, v in times.items()}
                rows.append(
                    {
                        "experiment": name,
                        "model": model,
                        "aggregation": aggregation,
                        "betas": len(specs),
                        "epochs": epochs,
                        "repeat": args.repeat,
                        "base": rev(args.base),
                        "new": head,
                        "base_cpu_s": round(best["base"][1], 3),
                        "new_cpu_s": round(best["new"][1], 3),
                        "cpu_ratio_new_over_base": round(best["new"][1] / best["base"][1], 3),
                        "base_wall_s": round(best["base"][0], 3),
                        "new_wall_s": round(best["new"][0], 3),
                        "wall_ratio_new_over_base": round(best["new"][0] / best["base"][0], 3),
                        "load_1min_before": round(load_before, 2),
                        "load_1min_after": round(os.getloadavg()[0], 2),
                    }
                )
                print(rows[-1], flush=True)
    write_csv(args.out, rows)


if __name__ == "__main__":
    main()
