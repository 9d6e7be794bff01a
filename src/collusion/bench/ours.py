"""Our implementation as the pipeline runs it: ``collusion.train.Trainer`` (data resident on the
device, augmentation on the device, the members run as the recipe's ``execution`` says, bf16
autocast and channels_last on CUDA, optionally ``torch.compile``)."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import torch

from ..pack import predict
from ..spec import RunSpec
from ..train import Trainer
from .cases import Case, load
from .measure import Stopwatch, ensemble_accuracy


def run(
    case: Case,
    path: Path,
    n_train,
    spec: RunSpec,
    device: torch.device,
    periods: int,
    steps: int | None,
) -> dict:
    """Train ``periods`` epochs (or periods of ``steps`` minibatches); time each; evaluate."""
    if spec.recipe.compile:
        torch._dynamo.reset()  # forget the earlier ensembles' graphs (a job compiles only one)
        torch._dynamo.utils.counters.clear()
    if steps is not None:  # a period of `steps` minibatches: the Trainer's eval_every_steps
        spec = dataclasses.replace(
            spec, recipe=dataclasses.replace(spec.recipe, eval_every_steps=steps)
        )
    data = load(path, device, n_train)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(spec, data, run_dir, device)
        period_seconds = []
        for _ in range(periods):
            with Stopwatch(device) as watch:
                trainer.train_period()
            period_seconds.append(watch.seconds)
        with trainer.pack.autocast():  # as the Trainer evaluates: bf16 on CUDA
            if spec.recipe.compile:  # compile the evaluation's graph outside its timing
                predict(trainer.ensemble, data, data.test, spec.recipe.eval_batch_size)
            with Stopwatch(device) as evaluation:
                outputs = predict(trainer.ensemble, data, data.test, spec.recipe.eval_batch_size)
    if spec.recipe.compile:
        graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
        print(f"torch.compile made {graphs} graphs (training and evaluation)", flush=True)
    return {
        "period_seconds": period_seconds,
        # --steps periods never reach the end of the training split (the command checks)
        "images_per_period": len(data.train) if steps is None else steps * spec.recipe.batch_size,
        "n_train": len(data.train),
        "test_accuracy": ensemble_accuracy(outputs, data.test.y, spec.aggregation),
        "eval_images_per_s": len(data.test) / evaluation.seconds,
    }
