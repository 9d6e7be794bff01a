"""The command ``python -m collusion.bench``: arguments, one model's rows, the CSV files."""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import traceback
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from ..ensemble import EXECUTIONS
from ..provenance import git_version
from ..spec import Recipe, RunSpec
from . import __doc__ as OVERVIEW
from . import authors_loop, ours
from .cases import CASES, REPO, data_file
from .measure import (
    PeakMemory,
    device_name,
    extrapolated_job_seconds,
    resolve_executions,
    throughput,
)

RESULT_COLUMNS = [
    "date",
    "commit",
    "device",
    "threads",
    "load_1min",
    "torch",
    "cuda",  # the CUDA torch was built with, on CUDA rows
    "model",
    "arch",
    "dataset",
    "M",
    "batch_size",
    "n_train",
    "epochs",  # periods: epochs, or with --steps periods of `steps` minibatches
    "steps",  # minibatches per period (empty: whole epochs)
    "implementation",
    "execution",
    "auto_choice",
    "compile",
    "precision",  # bf16 (autocast, CUDA only) or fp32
    "images_per_s",
    "first_epoch_s",  # the first period, the warm-up: not in images_per_s when there are more
    "train_s",
    "peak_memory_mb",
    "ratio_vs_authors",
    "test_accuracy",
    "eval_images_per_s",  # evaluation (forward only) on the test split
    "extrapolated_job_s",  # the paper's job at these rates (Case.job): an extrapolation
]
PRECISIONS = ("bf16", "fp32")
IMPLEMENTATIONS = {"authors_loop": authors_loop.run, "ours": ours.run}


def append_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    new = not path.exists()
    if not new:
        with open(path, newline="") as handle:
            header = next(csv.reader(handle), [])
        if header != columns:
            raise SystemExit(
                f"{path} has other columns than this version writes ({sorted(set(columns) ^ set(header))} "
                "differ): write to another --out, or add the columns to the file"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        if new:
            writer.writeheader()
        writer.writerows(rows)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m collusion.bench", description=OVERVIEW.split("\n\n")[0]
    )
    parser.add_argument(
        "--models", default=",".join(CASES), help=f"comma-separated, of: {', '.join(CASES)}"
    )
    parser.add_argument(
        "--epochs",
        type=int,
        help="epochs (periods, with --steps) for every model (default: per model)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        help="time periods of this many minibatches instead of whole epochs (the first period of "
        "each run is its warm-up); --epochs counts the periods",
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--executions",
        default="auto,loop,vmapped",
        help=f"comma-separated executions of ours, of: {', '.join(EXECUTIONS)} "
        "(default auto,loop,vmapped); each measured once, auto's pick first",
    )
    parser.add_argument(
        "--precisions",
        default="bf16",
        help="comma-separated precisions of ours, of: bf16 (autocast; CUDA only: CPU runs fp32), "
        "fp32 (default bf16)",
    )
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile our ensemble's forward"
    )
    parser.add_argument("--members", type=int, default=5, help="M (default 5)")
    parser.add_argument(
        "--model-options",
        type=json.loads,
        default={},
        help="JSON merged into every model's learner options, e.g. '{\"width\": 4}'",
    )
    parser.add_argument("--beta", type=float, default=0.5, help="β of the objective (default 0.5)")
    parser.add_argument("--aggregation", default="score")
    parser.add_argument("--train-size", type=int, help="training images (default: per model)")
    parser.add_argument(
        "--cifar", help="a prepared CIFAR-10 .npz to use instead of synthetic images"
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="torch threads (default on CPU: 1, as the pipeline's training jobs run; "
        "on CUDA: torch's default)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="time each run this often, keep the fastest"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke test: 1 epoch, 256 digits / 64 CIFAR-shaped training images",
    )
    parser.add_argument(
        "--commit", help="the commit to record (default: git's; for copies without .git)"
    )
    parser.add_argument("--no-authors", action="store_true", help="skip the authors' loop")
    parser.add_argument("--no-pipeline", action="store_true", help="skip the pipeline overhead")
    parser.add_argument(
        "--out", default=str(REPO / "benchmarks"), help="folder of results.csv, pipeline.csv"
    )
    args = parser.parse_args(argv)
    args.models = [name for name in args.models.split(",") if name]  # "": the pipeline only
    args.executions = args.executions.split(",")
    args.precisions = args.precisions.split(",")
    unknown = (
        [m for m in args.models if m not in CASES]
        + [e for e in args.executions if e not in EXECUTIONS]
        + [p for p in args.precisions if p not in PRECISIONS]
    )
    if unknown:
        parser.error(
            f"unknown {unknown}; models: {', '.join(CASES)}; executions: {', '.join(EXECUTIONS)}; "
            f"precisions: {', '.join(PRECISIONS)}"
        )
    if args.steps is not None and args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}")
    return args


def measure_model(
    name: str, args, device: torch.device, workdir: Path, common: dict, failures: list
):
    """The rows of one model, each yielded once measured: the authors' loop, then ours under each
    execution and precision. With --repeat, the implementations take turns (so a change of machine
    load hits all of them) and each keeps its fastest run; the seeds are fixed, so a repeat is the
    same training timed again. A run that raises is reported, added to ``failures`` and not run
    again; the others are measured."""
    case = CASES[name]
    options = {**case.options, **args.model_options}
    epochs = args.epochs or (1 if args.quick else case.epochs.get(device.type, case.epochs["cpu"]))
    path, n_train = data_file(case, workdir, device, args.quick, args.cifar, args.train_size)
    executions = resolve_executions(case, options, path, device, args.executions)
    # bf16 autocast exists on CUDA only: elsewhere every precision asked for runs fp32, once
    precisions = list(
        dict.fromkeys(p if device.type == "cuda" else "fp32" for p in args.precisions)
    )
    runs = [("authors_loop", "loop", "fp32")] * (not args.no_authors) + [
        ("ours", execution, precision) for execution in executions for precision in precisions
    ]
    if not args.no_authors:
        import torchvision.transforms  # noqa: F401  imported here, outside the measurements
    specs = {
        run: RunSpec(
            case.arch,
            options,
            args.aggregation,
            args.members,
            args.beta,
            0,
            Recipe(
                epochs=epochs,
                augment=case.augment,
                execution=run[1],
                mixed_precision=run[2] == "bf16",
                compile=args.compile and run[0] == "ours",
                **case.recipe,
            ),
        )
        for run in runs
    }
    if args.steps is not None:
        with np.load(path) as archive:
            available = len(archive["train_idx"]) if n_train is None else n_train
        needed = epochs * args.steps * case.recipe["batch_size"]
        if needed > available:
            raise SystemExit(
                f"{name}: --epochs {epochs} × --steps {args.steps} × batch "
                f"{case.recipe['batch_size']} = {needed} images, more than the {available} "
                "training images (a period must not reach the end of an epoch): pass a larger "
                "--train-size or fewer --steps"
            )
    best, authors_rate = {}, None
    for round_ in range(args.repeat):
        for run in runs:
            implementation, execution, precision = run
            if run in failures:
                continue
            load_1min = os.getloadavg()[0]
            try:
                with PeakMemory(device) as peak:
                    result = IMPLEMENTATIONS[implementation](
                        case, path, n_train, specs[run], device, epochs, args.steps
                    )
            except Exception:  # reported; the next run is measured (its rows are not lost)
                print(f"{name} {' '.join(run)} FAILED:", flush=True)
                traceback.print_exc()
                failures.append(run)
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                continue
            rate = throughput(result["period_seconds"], result["images_per_period"])
            if run not in best or rate > best[run][0]:
                best[run] = (rate, result, peak.mb, load_1min)
            if round_ < args.repeat - 1:
                continue
            rate, result, peak_mb, load_1min = best[run]
            if implementation == "authors_loop":
                authors_rate = rate
            extrapolated = extrapolated_job_seconds(case, rate, result["eval_images_per_s"])
            recipe = specs[run].recipe
            row = {
                **common,
                "threads": torch.get_num_threads(),
                "load_1min": round(load_1min, 2),
                "torch": torch.__version__,
                "cuda": torch.version.cuda if device.type == "cuda" else "",
                "model": name,
                "arch": case.arch,
                "dataset": (
                    case.dataset
                    if case.dataset == "digits"
                    else ("cifar10" if args.cifar else "synthetic_cifar_shaped")
                ),
                "M": args.members,
                "batch_size": recipe.batch_size,
                "n_train": result["n_train"],
                "epochs": epochs,
                "steps": args.steps if args.steps is not None else "",
                "implementation": implementation,
                "execution": execution,
                # what a pipeline job runs: auto's execution in the recipe's default precision
                "auto_choice": implementation == "ours"
                and "auto" in args.executions
                and execution == executions[0]
                and precision == ("bf16" if device.type == "cuda" else "fp32"),
                "compile": recipe.compile,
                "precision": precision,
                "images_per_s": round(rate, 1),
                "first_epoch_s": round(result["period_seconds"][0], 3),
                "train_s": round(sum(result["period_seconds"]), 3),
                "peak_memory_mb": round(peak_mb, 1),
                "ratio_vs_authors": round(rate / authors_rate, 3) if authors_rate else "",
                "test_accuracy": round(result["test_accuracy"], 4),
                "eval_images_per_s": round(result["eval_images_per_s"], 1),
                "extrapolated_job_s": round(extrapolated, 1) if extrapolated else "",
            }
            ratio = f"{row['ratio_vs_authors']:7.2f}x" if authors_rate else " " * 8
            auto = " (auto)" if row["auto_choice"] else ""
            job = (
                f"  -> extrapolated {case.job['epochs']}-epoch job {extrapolated:.0f} s"
                if extrapolated
                else ""
            )
            print(
                f"{name:9s} {implementation:12s} {execution:8s}{auto:7s} {row['precision']} "
                f"compile={row['compile']!s:5s} {row['images_per_s']:9.1f} img/s {ratio} "
                f"peak {row['peak_memory_mb']:7.1f} MB  test acc {row['test_accuracy']:.4f}"
                f"{job}  (load {row['load_1min']})",
                flush=True,
            )
            yield row


def main(argv=None) -> None:
    args = parse_args(argv)
    device = torch.device(args.device)
    threads = torch.get_num_threads()
    if args.threads or device.type == "cpu":
        torch.set_num_threads(args.threads or 1)
    try:
        run_benchmark(args, device)
    finally:
        torch.set_num_threads(threads)


def run_benchmark(args, device: torch.device) -> None:
    """Rows are appended as each is measured, so a run stopped midway keeps what it measured."""
    out = Path(args.out)
    code = git_version()
    common = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": args.commit or code["commit"][:12] + ("+dirty" if code["dirty"] else ""),
        "device": device_name(device),
    }
    print(
        f"{common['device']}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        written, failures = 0, []
        for name in args.models:
            for row in measure_model(name, args, device, workdir, common, failures):
                append_csv(out / "results.csv", RESULT_COLUMNS, [row])
                written += 1
        if written:
            print(f"appended {written} rows to {out / 'results.csv'}")
        if not args.no_pipeline:
            from .pipeline_overhead import PIPELINE_COLUMNS, pipeline_rows

            load_1min = round(os.getloadavg()[0], 2)
            prows = [{**common, "load_1min": load_1min, **row} for row in pipeline_rows(workdir)]
            for row in prows:
                print(f"{row['measurement']:40s} {row['seconds']:8.2f} s  {row['note']}")
            append_csv(out / "pipeline.csv", PIPELINE_COLUMNS, prows)
            print(f"appended {len(prows)} rows to {out / 'pipeline.csv'}")
    if failures:
        raise SystemExit(f"{len(failures)} runs failed (tracebacks above): {failures}")
