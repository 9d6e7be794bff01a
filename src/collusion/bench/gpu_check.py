"""The Python steps of benchmarks/gpu_check.sh, each a sub-command run in its own process:

    python -m collusion.bench.gpu_check versions
    python -m collusion.bench.gpu_check agreement --device cuda [--smoke]
    python -m collusion.bench.gpu_check resume --device cuda --workdir DIR [--smoke]
    python -m collusion.bench.gpu_check evaluation --device cuda --out DIR [--smoke] [--compile]

Each prints what it checked, one ``CHECK <name>: ok|FAILED ...`` line per check, and exits non-zero
when one failed. ``--smoke`` runs the same code at tiny sizes (on CPU, in the test suite).
It imports nothing beyond torch, numpy, pandas and PyYAML (the GPU image has them): never the
workflow's packages, never the repository's tests/.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from .cases import REPO, synthetic_cifar

# Loop and vmapped members compute the same function; how closely they agree (relative error
# ||a - b|| / ||b|| over all the learners' tensors of a kind together): in fp32 (TF32 off) they
# differ only by the order of summation; under bf16 autocast both round every product to 8 bits of
# mantissa, each differently (a grouped and a plain convolution), so their distance may be up to
# BF16_FACTOR times the loop's own distance from its fp32 result (with TF32 off)
FP32_TOLERANCE = 1e-4
BF16_FACTOR = 3.0


class Checks:
    """Collects ``CHECK`` lines; ``failed`` is true once one failed."""

    def __init__(self):
        self.failed = False

    def __call__(self, name: str, ok: bool, detail: str = "") -> bool:
        self.failed |= not ok
        print(
            f"CHECK {name}: {'ok' if ok else 'FAILED'}{'  ' + detail if detail else ''}", flush=True
        )
        return ok


# -- 1. versions, and what the check imports ------------------------------------------------------
NEEDS = REPO / "benchmarks" / "gpu_needs.txt"


def needs() -> list[tuple[str, str, str]]:
    """benchmarks/gpu_needs.txt: (distribution, module, where) of each package that the check
    imports beyond torch and torchvision."""
    rows = [line.split("#")[0].split() for line in NEEDS.read_text().splitlines()]
    return [tuple(row) for row in rows if row]


def versions() -> int:
    from importlib import metadata

    check = Checks()
    print(f"python {platform.python_version()} ({sys.executable}), {platform.platform()}")
    print(
        f"torch {torch.__version__}, CUDA (torch built with) {torch.version.cuda}, cuDNN "
        f"{torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None}"
    )
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            print(
                f"cuda:{index} {props.name}, {props.total_memory / 2**30:.1f} GiB, "
                f"capability {props.major}.{props.minor}, {props.multi_processor_count} SMs"
            )
    else:
        print("no CUDA device visible to torch")
    if shutil.which("nvidia-smi"):
        query = "name,driver_version,memory.total,clocks.max.sm,power.limit"
        result = subprocess.run(
            ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=False,
            timeout=20,
        )
        print(f"nvidia-smi ({query}): {result.stdout.strip() or result.stderr.strip()}")
    else:
        print("nvidia-smi: not on the PATH")
    print(f"CPU cores: {os.cpu_count()}")
    for distribution, module, where in [("torchvision", "torchvision", "image"), *needs()]:
        try:
            importlib.import_module(module)
            found = f"{distribution} {metadata.version(distribution)}"
        except Exception as error:  # noqa: BLE001  any failure to import is the finding
            found = f"{type(error).__name__}: {error}"
            check(f"import {module}", False, f"{found} ({where}; benchmarks/gpu_needs.txt)")
            continue
        print(found)
    return int(check.failed)


# -- 3. loop and vmapped executions agree ---------------------------------------------------------
def per_member(ensemble, kind: str) -> dict[str, torch.Tensor]:
    """Every learner's gradients ("grads") or floating-point buffers ("buffers": the BatchNorm
    statistics), stacked on a leading member axis and keyed by the member's own names, from
    either layout."""
    if ensemble.execution == "vmapped":
        modules = [ensemble.body.stacked]
    else:
        modules = list(ensemble.body.members)
    stacked = {}
    for module in modules:
        named = module.named_buffers() if kind == "buffers" else module.named_parameters()
        for name, tensor in named:
            value = (tensor.grad if kind == "grads" else tensor).detach()
            if value.is_floating_point():
                stacked.setdefault(name, []).append(value.float())
    if ensemble.execution == "vmapped":
        return {name: values[0] for name, values in stacked.items()}
    return {name: torch.stack(values) for name, values in stacked.items()}


def relative_error(got: torch.Tensor, expected: torch.Tensor) -> float:
    got, expected = got.double(), expected.double()
    return ((got - expected).norm() / expected.norm().clamp_min(1e-30)).item()


def flat(tensors: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([tensors[name].flatten() for name in sorted(tensors)])


def resnet18_ensemble(execution: str, members: int, width: int, device: torch.device):
    """M CIFAR ResNet-18s (seed 7) on ``device`` as the Trainer builds them (channels_last on
    CUDA)."""
    from ..ensemble import Ensemble, build_members

    learners = build_members("resnet18", (3, 32, 32), 10, members, 7, {"width": width})
    ensemble = Ensemble(learners, execution=execution).to(device)
    if device.type == "cuda":
        ensemble = ensemble.to(memory_format=torch.channels_last)
    return ensemble


def one_step(execution, precision, members, width, x, y):
    """Outputs (train mode), gradients and BatchNorm statistics after one step's forward and
    backward, and outputs in eval mode, of M CIFAR ResNet-18s with the same initial weights."""
    from .. import objective

    device = x.device
    ensemble = resnet18_ensemble(execution, members, width, device)
    if device.type == "cuda":  # as the Trainer runs images on CUDA
        x = x.contiguous(memory_format=torch.channels_last)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    ensemble.train()
    with autocast:
        outputs = ensemble(x)
    objective.beta_objective(outputs.float(), y, "score", 0.5).backward()
    ensemble.eval()
    with torch.no_grad(), autocast:
        evaluated = ensemble(x)
    return {
        "train-mode outputs": outputs.detach().float(),
        "eval-mode outputs": evaluated.float(),
        "gradients": flat(per_member(ensemble, "grads")),
        "BatchNorm statistics": flat(per_member(ensemble, "buffers")),
    }


def agreement(device: torch.device, smoke: bool) -> int:
    """One training step of M CIFAR ResNet-18s (full size unless --smoke) run as a member loop
    and as vmapped members from the same weights, as the Trainer runs them on this device, in
    fp32 and under bf16 autocast: outputs, gradients and BatchNorm statistics agree."""
    check = Checks()
    if device.type == "cuda":  # TF32 would round grouped and plain convolutions differently
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    else:
        torch.set_num_threads(1)
    members, width, batch, side = (2, 2, 8, 8) if smoke else (5, 64, 128, 32)
    print(
        f"{members} × resnet18 (width {width}), batch {batch} of 3×{side}×{side}, on {device}; "
        f"fp32 tolerance {FP32_TOLERANCE}, bf16: {BF16_FACTOR} × the loop's bf16-vs-fp32 error"
    )
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, side, side, generator=generator).to(device)
    y = torch.randint(0, 10, (batch,), generator=generator).to(device)
    results = {
        (execution, precision): one_step(execution, precision, members, width, x, y)
        for precision in ("fp32", "bf16")
        for execution in ("loop", "vmapped")
    }
    for what in results["loop", "fp32"]:
        fp32 = relative_error(results["vmapped", "fp32"][what], results["loop", "fp32"][what])
        check(f"fp32 {what}", fp32 <= FP32_TOLERANCE, f"relative error {fp32:.2e}")
        scale = relative_error(results["loop", "bf16"][what], results["loop", "fp32"][what])
        bf16 = relative_error(results["vmapped", "bf16"][what], results["loop", "bf16"][what])
        check(
            f"bf16 {what}",
            bf16 <= BF16_FACTOR * max(scale, FP32_TOLERANCE),
            f"relative error {bf16:.2e}; the loop's own bf16 error {scale:.2e}",
        )
    return int(check.failed)


# -- 4. one real run, killed after its first checkpoint, resumed ------------------------------------
def train_one_run(run_dir: Path, data_path: Path, spec: dict, device: str, log_file) -> dict:
    """The one place this check calls the runner (collusion.job.train)."""
    from ..job import train
    from ..spec import TrainingJob

    split = {"fractions": [0.6, 0.15, 0.25], "seed": 0, "fixed": True}  # CIFAR: its fixed split
    job = TrainingJob.of_run(spec, split, data_path, run_dir, device=device, checkpoint_seconds=0)
    return train(job, log_file)[0]


class KillAfterCheckpoint:
    """A log file that SIGKILLs its own process at the first line written once a checkpoint
    exists (the Trainer logs an epoch after saving its checkpoint): a real kill, mid-run, at a
    point that does not depend on timing."""

    def __init__(self, checkpoint: Path):
        self.checkpoint = checkpoint

    def write(self, text: str) -> None:
        sys.stdout.write(text)
        if text.strip() and self.checkpoint.exists():
            sys.stdout.write(
                f"\n[gpu_check: SIGKILL after the first checkpoint ({self.checkpoint})]\n"
            )
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    def flush(self) -> None:
        sys.stdout.flush()


def cifar_run_spec(smoke: bool) -> dict:
    """config/paper.yaml's CIFAR ResNet-18 job, shortened: 2 epochs with the lr step after the
    first, so every feature of the recipe runs (SGD with momentum and weight decay, the multistep
    schedule, CIFAR augmentation, bf16 autocast and channels_last on CUDA, auto execution)."""
    import yaml

    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    model = dict(paper["models"]["resnet18"])
    recipe = {**paper["recipes"]["cifar"], "epochs": 2, "milestones": [1]}
    members = paper["experiments"]["cifar10"]["ensemble_sizes"][0]
    if smoke:
        model["width"], members = 2, 2
    return {
        "arch": model.pop("arch"),
        "model_options": model,
        "aggregation": "score",
        "n_members": members,
        "beta": 1.0,
        "seed": 0,
        "recipe": recipe,
    }


def cifar_shaped_data(workdir: Path, smoke: bool) -> Path:
    """A prepared CIFAR-shaped file (bench.cases.synthetic_cifar) with CIFAR-10's fixed split in
    miniature: the last 20 % of the training images validate."""
    n_train, n_test = (200, 40) if smoke else (5000, 1000)
    path = workdir / "cifar10.npz"
    return synthetic_cifar(path, n_train, n_test, n_val=n_train // 5)


def child(run_dir: Path, data: Path, spec_file: Path, device: str, kill: bool) -> int:
    spec = json.loads(spec_file.read_text())
    log = KillAfterCheckpoint(run_dir / "checkpoint.pt") if kill else sys.stdout
    train_one_run(run_dir, data, spec, device, log)
    return 0


def resume(device: torch.device, workdir: Path, smoke: bool) -> int:
    check = Checks()
    workdir.mkdir(parents=True, exist_ok=True)
    data = cifar_shaped_data(workdir, smoke)
    spec = cifar_run_spec(smoke)
    spec_file = workdir / "spec.json"
    spec_file.write_text(json.dumps(spec))
    run_dir = workdir / "run"
    run_dir.mkdir()
    print(f"spec: {json.dumps(spec)}", flush=True)

    def start(kill: bool) -> int:
        command = [
            sys.executable,
            "-m",
            "collusion.bench.gpu_check",
            "child",
            str(run_dir),
            str(data),
            str(spec_file),
            "--device",
            device.type,
        ] + ["--kill"] * kill
        return subprocess.run(command, check=False).returncode

    code = start(kill=True)
    left = sorted(p.name for p in run_dir.iterdir() if p.name != ".lock")  # the run's flock file
    check("killed after the first checkpoint", code == -signal.SIGKILL, f"exit code {code}")
    check("a killed run leaves only its checkpoint", left == ["checkpoint.pt"], f"left {left}")
    if not (run_dir / "checkpoint.pt").exists():
        return 1
    saved = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=False)
    check("the checkpoint is after epoch 1", saved["epoch"] == 1, f"epoch {saved['epoch']}")

    code = start(kill=False)
    check("the resumed run completes", code == 0, f"exit code {code}")
    if code != 0:
        return 1
    import pandas as pd

    history = pd.read_csv(run_dir / "history.csv")
    check("history: epochs 1, 2", history.epoch.tolist() == [1, 2], f"{history.epoch.tolist()}")
    check(
        "history: epoch 1 restored from the checkpoint, not trained again",
        math.isclose(
            history.seconds.iloc[0], saved["runs"][0]["history"][0]["seconds"], rel_tol=1e-9
        ),
    )
    recipe = spec["recipe"]
    lrs = history.lr.tolist()
    check(
        "history: lr × gamma after the milestone",
        np.allclose(lrs, [recipe["lr"], recipe["lr"] * recipe["gamma"]]),
        f"lr {lrs}",
    )
    numbers = history.select_dtypes("number")
    check("history: every number finite", bool(np.isfinite(numbers.to_numpy()).all()))
    needed = [
        f"{s}_{m}" for s in ("train", "val", "test") for m in ("L_ens", "L_ind", "DIV", "acc")
    ]
    check(
        "history: the decomposition and accuracies of every split",
        set(needed) <= set(history.columns),
        f"missing {sorted(set(needed) - set(history.columns))}",
    )
    with np.load(run_dir / "predictions.npz") as predictions:
        for selection in ("best_val", "last"):
            for split in ("val", "test"):
                outputs = predictions[f"{selection}_{split}"]
                n = len(predictions[f"y_{split}"])
                check(
                    f"predictions {selection}_{split}",
                    outputs.shape == (spec["n_members"], n, 10) and np.isfinite(outputs).all(),
                    f"shape {outputs.shape}",
                )
    provenance = json.loads((run_dir / "provenance.json").read_text())
    outcome = provenance["outcome"]
    check(
        "provenance: completed after 2 epochs",
        outcome["status"] == "completed" and outcome["epochs_run"] == 2,
        f"{outcome}",
    )
    print(f"provenance device: {provenance.get('device')}")
    return int(check.failed)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m collusion.bench.gpu_check", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("versions")
    for name in ("agreement", "resume", "evaluation"):
        sub = commands.add_parser(name)
        sub.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
        sub.add_argument("--smoke", action="store_true", help="tiny sizes (CPU, the test suite)")
        if name == "resume":
            sub.add_argument("--workdir", required=True, help="an empty folder for the run")
        if name == "evaluation":
            sub.add_argument("--out", required=True, help="the folder of evaluation.csv")
            sub.add_argument("--compile", action="store_true", help="the compiled variants")
            sub.add_argument("--commit", help="the commit to record (default: git's)")
    sub = commands.add_parser("child", help="(internal) the training job of resume")
    for name in ("run_dir", "data", "spec_file"):
        sub.add_argument(name, type=Path)
    sub.add_argument("--device", required=True)
    sub.add_argument("--kill", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "versions":
        return versions()
    if args.command == "agreement":
        return agreement(torch.device(args.device), args.smoke)
    if args.command == "resume":
        return resume(torch.device(args.device), Path(args.workdir), args.smoke)
    if args.command == "evaluation":
        from .evaluation import evaluation

        device = torch.device(args.device)
        return evaluation(device, Path(args.out), args.smoke, args.compile, args.commit)
    return child(args.run_dir, args.data, args.spec_file, args.device, args.kill)


if __name__ == "__main__":
    sys.exit(main())
