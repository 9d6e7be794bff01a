"""Speed benchmark: our ensemble training against a faithful re-implementation of the authors' loop.

    python -m collusion.bench [--quick] [--models mlp,cnn,resnet18] [--epochs N] [--device cpu|cuda]
                              [--executions auto,loop,stacked,vmapped] [--compile] [--out benchmarks]

In one process and on the same data (the same prepared file, the same split, the same initial
weights, the same objective ``objective.beta_objective``), each model is trained for the same
number of epochs by

- ``authors_loop``: the authors' training loop as their code runs it: a Python loop over the M
  members, fp32, one optimiser over all members, a torch ``DataLoader`` (``num_workers=0``) whose
  dataset turns each stored image into a PIL image and applies torchvision transforms one image at
  a time (CIFAR: ``RandomCrop(32, padding=4)``, ``RandomHorizontalFlip()``, ``RandomRotation(15)``,
  then ``ToTensor()`` and ``Normalize``), moving each batch to the device and reading
  ``loss.item()`` every step;
- ``ours``: ``collusion.train.Trainer`` (data resident on the device, augmentation on the device,
  the ensemble executed as ``--executions`` says, bf16 autocast on CUDA).

Each row of ``<out>/results.csv`` holds the training throughput (images/s; epochs after the first
when there are several, so one-time costs stay out; the first epoch's seconds are a column), the
peak memory, the ratio to the authors' loop of the same invocation, and the test accuracy of the
ensemble after the last epoch, so speed is never bought with a different result. Peak memory: on
CUDA ``torch.cuda.max_memory_allocated``; on CPU the peak resident memory above the resident memory
when the implementation started (``VmHWM`` after resetting it through ``/proc/self/clear_refs``),
each implementation's own copy of the data included.

``<out>/pipeline.csv`` gets the pipeline's overhead: the time of ``snakemake -n`` on
config/paper.yaml (config/config.yaml if there is none), and the wall time of one trivial training
job (1 epoch) through Snakemake against the same job in-process. Rows are appended; every row has
the date, the commit, the device and the machine load when it started.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import ctypes
import gc
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import types
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from . import objective
from .data.prepared import Dataset, Split, load_dataset, save_prepared
from .ensemble import EXECUTIONS, StackedMLP, build_members, choose_execution
from .provenance import device_description, git_version
from .train import Recipe, RunSpec, Trainer, make_optimizer, predict

REPO = Path(__file__).resolve().parents[2]
RESULT_COLUMNS = [
    "date",
    "commit",
    "device",
    "threads",
    "load_1min",
    "torch",
    "model",
    "arch",
    "dataset",
    "M",
    "batch_size",
    "n_train",
    "epochs",
    "implementation",
    "execution",
    "auto_choice",
    "compile",
    "images_per_s",
    "first_epoch_s",
    "train_s",
    "peak_memory_mb",
    "ratio_vs_authors",
    "test_accuracy",
]
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
CIFAR_MEAN = np.array([125.3, 123.0, 113.9]) / 255
CIFAR_STD = np.array([63.0, 62.1, 66.7]) / 255


@dataclass
class Case:
    """One benchmarked model: its learner, data and recipe (the default config's or the paper's)."""

    arch: str
    options: dict
    dataset: str  # "digits" (real, scikit-learn's) or "cifar_shaped" (synthetic unless --cifar)
    recipe: dict
    augment: str = "none"
    epochs: dict = field(default_factory=lambda: {"cpu": 5})  # device type -> epochs
    n_train: dict = field(default_factory=dict)  # device type -> training images (CIFAR-shaped)


CASES = {
    # the default config's digits models and recipe
    "mlp": Case(
        "mlp",
        {"hidden": [32, 32]},
        "digits",
        {"optimizer": "adam", "lr": 1e-3, "batch_size": 64},
        epochs={"cpu": 10},
    ),
    "cnn": Case(
        "cnn", {}, "digits", {"optimizer": "adam", "lr": 1e-3, "batch_size": 64}, epochs={"cpu": 5}
    ),
    # the paper's CIFAR recipe; ResNet-18 × 5 trains at a few images per second on two CPU cores
    "resnet18": Case(
        "resnet18",
        {},
        "cifar_shaped",
        {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "batch_size": 128},
        augment="cifar",
        epochs={"cpu": 1, "cuda": 3},
        n_train={"cpu": 128, "cuda": 40000},
    ),
}


# -- data ------------------------------------------------------------------------------------------
def digits_file(workdir: Path) -> Path:
    """The prepared digits file, or one prepared now from scikit-learn's copy (same function)."""
    path = REPO / "resources" / "prepared" / "digits.npz"
    if path.exists():
        return path
    from .data.offline import prepare_offline

    path = workdir / "digits.npz"
    prepare_offline("digits", path)
    return path


def synthetic_cifar(path: Path, n_train: int, n_test: int, seed: int = 0) -> Path:
    """CIFAR-shaped uint8 images that can be learnt: each class is a smooth random colour
    pattern, each image its class pattern shifted by up to 4 pixels plus pixel noise."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    coarse = rng.uniform(0, 255, size=(10, 3, 5, 5))
    templates = np.kron(coarse, np.ones((1, 1, 8, 8)))  # (10, 3, 40, 40)
    y = rng.integers(0, 10, n)
    top, left = rng.integers(0, 9, n), rng.integers(0, 9, n)
    X = np.empty((n, 3, 32, 32), np.uint8)
    for i in range(n):
        window = templates[y[i], :, top[i] : top[i] + 32, left[i] : left[i] + 32]
        X[i] = np.clip(window + rng.normal(0, 40, window.shape), 0, 255)
    # no validation images are needed: the first test image stands in for the split
    save_prepared(
        path,
        X=X,
        y=y,
        task="classification",
        n_classes=10,
        scale=255.0,
        mean=CIFAR_MEAN,
        std=CIFAR_STD,
        train_idx=np.arange(n_train),
        val_idx=np.arange(n_train, n_train + 1),
        test_idx=np.arange(n_train, n),
    )
    return path


def data_file(
    case: Case,
    workdir: Path,
    device: torch.device,
    quick: bool,
    cifar: str | None,
    n_train: int | None,
) -> tuple[Path, int | None]:
    """(prepared file, training images to use: None = the whole training split)."""
    if case.dataset == "digits":
        return digits_file(workdir), n_train or (256 if quick else None)
    n = n_train or (64 if quick else case.n_train.get(device.type, case.n_train["cpu"]))
    if cifar:
        return Path(cifar), n
    path = workdir / f"cifar_shaped_{n}.npz"
    return (path if path.exists() else synthetic_cifar(path, n, max(256, n // 4))), n


def load(path: Path, device, n_train: int | None) -> Dataset:
    data = load_dataset(path, [0.6, 0.15, 0.25], split_seed=0, device=device)
    if n_train is not None and n_train < len(data.train):
        data.train = Split(data.train.x[:n_train], data.train.y[:n_train])
    return data


def normalisation(path: Path) -> tuple[float, np.ndarray, np.ndarray]:
    with np.load(path) as archive:
        return float(archive["scale"]), archive["mean"], archive["std"]


# -- measuring -------------------------------------------------------------------------------------
def device_name(device: torch.device) -> str:
    """The GPU's name, or the processor's model and core count."""
    if device.type != "cpu":
        return device_description(device)
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as cpuinfo:
            names = [
                line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")
            ]
            model = names[0] if names else model
    return f"cpu ({model}, {os.cpu_count()} cores)"


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _resident_kb(field_name: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field_name):
                return int(line.split()[1])
    raise OSError(f"/proc/self/status has no {field_name}")


class PeakMemory:
    """Peak memory of what runs inside ``with PeakMemory(device) as peak:``; ``peak.mb`` after."""

    def __init__(self, device: torch.device):
        self.device, self.mb = device, float("nan")

    def __enter__(self):
        gc.collect()
        with contextlib.suppress(OSError, AttributeError):  # glibc: hand freed heap pages back
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        if self.device.type == "cuda":
            synchronise(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            return self
        try:
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")  # resets VmHWM, the peak resident set, to the current one
            self.base_kb, self.reset = _resident_kb("VmRSS:"), True
        except OSError:  # no /proc: the process-wide peak, not resettable
            self.base_kb, self.reset = 0, False
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            synchronise(self.device)
            self.mb = torch.cuda.max_memory_allocated(self.device) / 2**20
        elif self.reset:
            self.mb = (_resident_kb("VmHWM:") - self.base_kb) / 1024
        else:
            self.mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return False


def throughput(epoch_seconds: list[float], images_per_epoch: int) -> float:
    """Images per second over the epochs after the first (all of them if there is one)."""
    steady = epoch_seconds[1:] or epoch_seconds
    return images_per_epoch * len(steady) / sum(steady)


def ensemble_accuracy(outputs: torch.Tensor, y: torch.Tensor, aggregation: str) -> float:
    prediction, _ = objective.predictions(outputs.float(), aggregation)
    return (prediction == y.to(prediction.device)).float().mean().item()


def resolve_executions(case: Case, path: Path, device: torch.device, asked: list[str]) -> list[str]:
    """The distinct executions to measure, "auto" resolved (and first), those the architecture
    cannot run left out."""
    with np.load(path) as archive:
        in_shape, n_classes = archive["X"].shape[1:], int(archive["n_classes"])
    members = build_members(case.arch, in_shape, n_classes, 1, 0, case.options)
    resolved = []
    for execution in sorted(asked, key=lambda e: e != "auto"):
        if execution == "auto":
            execution = choose_execution(members, device)
        if execution == "stacked" and not StackedMLP.supports(members):
            print(f"{case.arch}: skipped execution 'stacked', it runs plain MLPs only", flush=True)
        elif execution not in resolved:
            resolved.append(execution)
    return resolved


# -- (a) the authors' loop -------------------------------------------------------------------------
class PerImageDataset(torch.utils.data.Dataset):
    """As torchvision's CIFAR10 dataset: uint8 HWC arrays, each item a PIL image run through the
    transform one at a time."""

    def __init__(self, x: np.ndarray, y: np.ndarray, transform):
        self.x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))  # (N, H, W, C)
        if self.x.shape[-1] == 1:
            self.x = self.x[..., 0]  # greyscale: PIL mode "L"
        self.y, self.transform = y, transform

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: int):
        from PIL import Image

        return self.transform(Image.fromarray(self.x[index])), int(self.y[index])


def authors_transforms(augment: str, scale: float, mean: np.ndarray, std: np.ndarray):
    import torchvision.transforms as T

    # ToTensor divides by 255: express our normalisation (x / scale - mean) / std in those units
    normalise = [T.ToTensor(), T.Normalize(mean * scale / 255, std * scale / 255)]
    if augment == "none":
        return T.Compose(normalise), T.Compose(normalise)
    if augment != "cifar":
        raise ValueError(
            f"the benchmark re-implements the authors' 'cifar' augmentation only, not {augment!r}"
        )
    train = [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.RandomRotation(15)]
    return T.Compose(train + normalise), T.Compose(normalise)


def run_authors(
    case: Case, path: Path, n_train, spec: RunSpec, device: torch.device, epochs: int
) -> dict:
    data = load(path, "cpu", n_train)
    train_tf, test_tf = authors_transforms(case.augment, *normalisation(path))
    loader_generator = torch.Generator().manual_seed(spec.seed)
    train_loader = torch.utils.data.DataLoader(
        PerImageDataset(data.train.x.numpy(), data.train.y.numpy(), train_tf),
        batch_size=spec.recipe.batch_size,
        shuffle=True,
        num_workers=0,
        generator=loader_generator,
    )
    test_loader = torch.utils.data.DataLoader(
        PerImageDataset(data.test.x.numpy(), data.test.y.numpy(), test_tf),
        batch_size=spec.recipe.batch_size,
        shuffle=False,
        num_workers=0,
    )
    torch.manual_seed(spec.seed)
    members = torch.nn.ModuleList(
        build_members(
            spec.arch, data.in_shape, data.out_dim, spec.n_members, spec.seed, spec.model_options
        )
    ).to(device)
    optimizer = make_optimizer(members.parameters(), spec.recipe)  # one optimiser over all members

    epoch_seconds = []
    for _ in range(epochs):
        synchronise(device)
        started = time.perf_counter()
        running_loss = 0.0
        for x, y in train_loader:
            members.train()
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            outputs = torch.stack([member(x) for member in members])
            loss = objective.beta_objective(outputs, y, spec.aggregation, spec.beta)
            loss.backward()
            optimizer.step()
            running_loss += loss.item() * x.shape[0]
        synchronise(device)
        epoch_seconds.append(time.perf_counter() - started)

    members.eval()
    with torch.no_grad():
        outputs = torch.cat(
            [torch.stack([member(x.to(device)) for member in members]) for x, _ in test_loader],
            dim=1,
        )
    return {
        "epoch_seconds": epoch_seconds,
        "n_train": len(data.train),
        "test_accuracy": ensemble_accuracy(outputs, data.test.y, spec.aggregation),
    }


# -- (b) ours --------------------------------------------------------------------------------------
def run_ours(
    case: Case, path: Path, n_train, spec: RunSpec, device: torch.device, epochs: int
) -> dict:
    if spec.recipe.compile:
        torch._dynamo.reset()  # forget the earlier ensembles' graphs (a job compiles only one)
    data = load(path, device, n_train)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(spec, data, run_dir, device)
        epoch_seconds = []
        for _ in range(epochs):
            synchronise(device)
            started = time.perf_counter()
            trainer.train_period()
            synchronise(device)
            epoch_seconds.append(time.perf_counter() - started)
        outputs = predict(trainer.ensemble, data, data.test, spec.recipe.eval_batch_size)
    return {
        "epoch_seconds": epoch_seconds,
        "n_train": len(data.train),
        "test_accuracy": ensemble_accuracy(outputs, data.test.y, spec.aggregation),
    }


# -- pipeline overhead -----------------------------------------------------------------------------
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
    result = subprocess.run(command, capture_output=True, text=True)
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

    from . import pipeline
    from .runner import train_run

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
    seconds, _ = timed([sys.executable, "-c", "import collusion.runner"])
    rows.append(
        {
            "measurement": "python -c 'import collusion.runner'",
            "configfile": "",
            "jobs": "",
            "seconds": seconds,
            "note": "a job script's imports (torch), in a fresh process",
        }
    )

    config = yaml.safe_load(PIPELINE_CONFIG.format(seeds=[0]))
    run = pipeline.all_runs(config)[0]
    threads, seconds = torch.get_num_threads(), []
    for attempt in range(2):  # the first call also pays one-time imports and initialisations
        out = workdir / f"in_process{attempt}"
        out.mkdir()
        outputs = types.SimpleNamespace(
            history=str(out / "history.csv"),
            predictions=str(out / "predictions.npz"),
            provenance=str(out / "provenance.json"),
        )
        started = time.perf_counter()
        with open(os.devnull, "w") as log:
            train_run(
                pipeline.run_spec(config, run).to_dict(),
                pipeline.split_config(config, run),
                str(workdir / "jobs1" / "resources" / "prepared" / "digits.npz"),
                outputs,
                threads=1,
                log_file=log,
                device="cpu",
            )
        seconds.append(time.perf_counter() - started)
    in_process = seconds[-1]
    torch.set_num_threads(threads)
    rows.append(
        {
            "measurement": "train job in-process",
            "configfile": "(the same job)",
            "jobs": 1,
            "seconds": in_process,
            "note": "collusion.runner.train_run, torch already imported, second call",
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


# -- the command -----------------------------------------------------------------------------------
def append_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    new = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        if new:
            writer.writeheader()
        writer.writerows(rows)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m collusion.bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--models", default=",".join(CASES), help=f"comma-separated, of: {', '.join(CASES)}"
    )
    parser.add_argument("--epochs", type=int, help="epochs for every model (default: per model)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--executions",
        default="auto,loop,vmapped",
        help=f"comma-separated executions of ours, of: {', '.join(EXECUTIONS)} "
        "(default auto,loop,vmapped); each measured once, auto's pick first",
    )
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile our ensemble's forward"
    )
    parser.add_argument("--members", type=int, default=5, help="M (default 5)")
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
    unknown = [m for m in args.models if m not in CASES] + [
        e for e in args.executions if e not in EXECUTIONS
    ]
    if unknown:
        parser.error(
            f"unknown {unknown}; models: {', '.join(CASES)}; executions: {', '.join(EXECUTIONS)}"
        )
    return args


def measure_model(name: str, args, device: torch.device, workdir: Path, common: dict) -> list[dict]:
    """The rows of one model: the authors' loop, then ours under each execution. With --repeat,
    the implementations take turns (so a change of machine load hits all of them) and each keeps
    its fastest run; the seeds are fixed, so a repeat is the same training timed again."""
    case = CASES[name]
    epochs = args.epochs or (1 if args.quick else case.epochs.get(device.type, case.epochs["cpu"]))
    path, n_train = data_file(case, workdir, device, args.quick, args.cifar, args.train_size)
    executions = resolve_executions(case, path, device, args.executions)
    runs = [("authors_loop", "loop")] * (not args.no_authors) + [("ours", e) for e in executions]
    if not args.no_authors:
        import torchvision.transforms  # noqa: F401  imported here, outside the measurements
    specs = {
        run: RunSpec(
            case.arch,
            case.options,
            args.aggregation,
            args.members,
            args.beta,
            0,
            Recipe(
                epochs=epochs,
                augment=case.augment,
                execution=run[1],
                compile=args.compile and run[0] == "ours",
                **case.recipe,
            ),
        )
        for run in runs
    }
    best = {}
    for _ in range(args.repeat):
        for implementation, execution in runs:
            measure = run_authors if implementation == "authors_loop" else run_ours
            load_1min = os.getloadavg()[0]
            with PeakMemory(device) as peak:
                result = measure(
                    case, path, n_train, specs[implementation, execution], device, epochs
                )
            rate = throughput(result["epoch_seconds"], result["n_train"])
            if (implementation, execution) not in best or rate > best[implementation, execution][0]:
                best[implementation, execution] = (rate, result, peak.mb, load_1min)

    authors_rate = best["authors_loop", "loop"][0] if not args.no_authors else None
    rows = []
    for implementation, execution in runs:
        rate, result, peak_mb, load_1min = best[implementation, execution]
        recipe = specs[implementation, execution].recipe
        row = {
            **common,
            "threads": torch.get_num_threads(),
            "load_1min": round(load_1min, 2),
            "torch": torch.__version__,
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
            "implementation": implementation,
            "execution": execution,
            "auto_choice": implementation == "ours"
            and "auto" in args.executions
            and execution == executions[0],
            "compile": recipe.compile,
            "images_per_s": round(rate, 1),
            "first_epoch_s": round(result["epoch_seconds"][0], 3),
            "train_s": round(sum(result["epoch_seconds"]), 3),
            "peak_memory_mb": round(peak_mb, 1),
            "ratio_vs_authors": round(rate / authors_rate, 3) if authors_rate else "",
            "test_accuracy": round(result["test_accuracy"], 4),
        }
        rows.append(row)
        ratio = f"{row['ratio_vs_authors']:7.2f}x" if authors_rate else " " * 8
        auto = " (auto)" if row["auto_choice"] else ""
        print(
            f"{name:9s} {implementation:12s} {execution:8s}{auto:7s} compile={row['compile']!s:5s} "
            f"{row['images_per_s']:9.1f} img/s {ratio} peak {row['peak_memory_mb']:7.1f} MB  "
            f"test acc {row['test_accuracy']:.4f}  (load {row['load_1min']})",
            flush=True,
        )
    return rows


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
        rows = [
            row
            for name in args.models
            for row in measure_model(name, args, device, workdir, common)
        ]
        if rows:
            append_csv(out / "results.csv", RESULT_COLUMNS, rows)
            print(f"appended {len(rows)} rows to {out / 'results.csv'}")
        if not args.no_pipeline:
            load_1min = round(os.getloadavg()[0], 2)
            prows = [{**common, "load_1min": load_1min, **row} for row in pipeline_rows(workdir)]
            for row in prows:
                print(f"{row['measurement']:40s} {row['seconds']:8.2f} s  {row['note']}")
            append_csv(out / "pipeline.csv", PIPELINE_COLUMNS, prows)
            print(f"appended {len(prows)} rows to {out / 'pipeline.csv'}")


if __name__ == "__main__":
    main()
