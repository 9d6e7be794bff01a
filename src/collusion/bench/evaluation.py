"""Steps 7 and 8 of benchmarks/gpu_check.sh: what each change to the Trainer's evaluation buys.

    python -m collusion.bench.gpu_check evaluation --device cuda --out OUT [--compile] [--smoke]

One evaluation pass (``pack.predict_groups``, as the Trainer evaluates a split) of M = 5 CIFAR
ResNet-18s over 10,000 CIFAR-shaped images in batches of 1,024 (the recipe's eval batch; the last
batch has 784), each variant from the same initial weights, built as the Trainer builds them
(channels_last on CUDA):

- eager (step 7): the member loop in fp32 (the evaluation before) and under bf16 autocast (after:
  evaluation runs as training does), each with the tail batch as it is and padded to one shape;
  vmapped in fp32 with ``AdaptiveAvgPool2d`` (before: under vmap with channels_last it fell back
  to one call per member) and with ``ensemble.GlobalAveragePool`` (after), and vmapped bf16;
- ``--compile`` (step 8): the compiled loop, bf16, padded to one shape (one graph) and with the
  tail batch as it is (a second graph for its shape): the first pass's seconds hold the compilation.

A row per variant in ``OUT/evaluation.csv``: the first pass's seconds, images/s (the best of the
timed passes after it), the graphs torch.compile made, and the outputs' relative error against the
eager fp32 loop with the tail as it is (speed is never bought with other outputs).
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn as nn

from ..ensemble import GlobalAveragePool
from ..pack import predict_groups
from ..provenance import git_version
from .cases import load, synthetic_cifar
from .cli import append_csv
from .gpu_check import Checks, relative_error, resnet18_ensemble
from .measure import Stopwatch, device_name

EVALUATION_COLUMNS = [
    "date",
    "commit",
    "device",
    "torch",
    "cuda",
    "load_1min",
    "model",
    "M",
    "n_images",
    "batch_size",
    "execution",
    "precision",  # bf16: under torch.autocast; fp32: without
    "pool",  # the global pooling of the vmapped ResNet: adaptive_avg_pool2d or mean
    "one_shape",  # the last batch padded to the batch size
    "compile",
    "first_pass_s",  # the first pass: warm-up, and the compilation when compiled
    "images_per_s",
    "graphs",  # graphs torch.compile made (0 when not compiled)
    "relative_error",  # ||outputs - eager fp32 loop's|| / ||eager fp32 loop's||
]
# (execution, precision, pool, one_shape, compile); the first is the reference
EAGER = [
    ("loop", "fp32", "adaptive_avg_pool2d", False, False),
    ("loop", "fp32", "adaptive_avg_pool2d", True, False),
    ("loop", "bf16", "adaptive_avg_pool2d", False, False),
    ("loop", "bf16", "adaptive_avg_pool2d", True, False),
    ("vmapped", "fp32", "adaptive_avg_pool2d", True, False),
    ("vmapped", "fp32", "mean", True, False),
    ("vmapped", "bf16", "mean", True, False),
]
COMPILED = [  # what the Trainer now runs first: the row that matters most if time runs out
    ("loop", "bf16", "adaptive_avg_pool2d", True, True),
    ("loop", "bf16", "adaptive_avg_pool2d", False, True),
]
# the outputs' relative error against the fp32 loop that a variant may have: fp32 differs by the
# order of summation (and TF32 convolutions on CUDA), bf16 by its 8-bit mantissa
TOLERANCE = {"fp32": 1e-2, "bf16": 1e-1}


def variant_ensemble(execution: str, pool: str, members: int, width: int, device):
    ensemble = resnet18_ensemble(execution, members, width, device)
    if execution == "vmapped" and pool == "adaptive_avg_pool2d":  # back to what it was
        for name, module in list(ensemble.body.stacked.named_modules()):
            if isinstance(module, GlobalAveragePool):
                owner, _, leaf = name.rpartition(".")
                setattr(ensemble.body.stacked.get_submodule(owner), leaf, nn.AdaptiveAvgPool2d(1))
    return ensemble


def evaluation(
    device: torch.device, out: Path, smoke: bool, compiled: bool, commit: str | None
) -> int:
    check = Checks()
    sizes = (2, 2, 70, 32, 1) if smoke else (5, 64, 10000, 1024, 3)
    members, width, n_images, batch_size, passes = sizes
    if device.type == "cpu":
        torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        data = load(synthetic_cifar(Path(folder) / "images.npz", 64, n_images), device, None)
    parts = [(data, data.test)]
    code = git_version()
    common = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": commit or code["commit"][:12] + ("+dirty" if code["dirty"] else ""),
        "device": device_name(device),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if device.type == "cuda" else "",
        "model": "resnet18",
        "M": members,
        "n_images": n_images,
        "batch_size": batch_size,
    }
    print(
        f"{members} × resnet18 (width {width}), {n_images} images in batches of {batch_size}, "
        f"on {common['device']}, torch {common['torch']}",
        flush=True,
    )
    reference = None
    for variant in [EAGER[0], *(COMPILED if compiled else EAGER[1:])]:
        execution, precision, pool, one_shape, compile_ = variant
        ensemble = variant_ensemble(execution, pool, members, width, device)
        if compile_:
            torch._dynamo.reset()
            torch._dynamo.utils.counters.clear()
            ensemble.compile()
        autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
        load_1min = os.getloadavg()[0]
        seconds = []
        for _ in range(1 + passes):
            with Stopwatch(device) as watch, autocast:
                outputs = predict_groups(ensemble, parts, batch_size, one_shape=one_shape)
            seconds.append(watch.seconds)
        if reference is None:
            reference = outputs
        error = relative_error(outputs, reference)
        graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"] if compile_ else 0
        label = f"{execution} {precision} pool={pool} one_shape={one_shape} compile={compile_}"
        check(
            f"outputs of {label}",
            outputs.shape == (members, n_images, 10)
            and bool(outputs.isfinite().all())
            and error <= TOLERANCE[precision],
            f"relative error {error:.2e} (at most {TOLERANCE[precision]})",
        )
        row = {
            **common,
            "load_1min": round(load_1min, 2),
            "execution": execution,
            "precision": precision,
            "pool": pool,
            "one_shape": one_shape,
            "compile": compile_,
            "first_pass_s": round(seconds[0], 3),
            "images_per_s": round(n_images / min(seconds[1:]), 1),
            "graphs": graphs,
            "relative_error": f"{error:.2e}",
        }
        if not (compiled and variant == EAGER[0]):  # step 7 wrote the reference's row
            append_csv(out / "evaluation.csv", EVALUATION_COLUMNS, [row])
        print(
            f"{label:62s} first pass {row['first_pass_s']:7.2f} s, {row['images_per_s']:10.1f} "
            f"images/s, {graphs} graphs",
            flush=True,
        )
        del ensemble
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return int(check.failed)
