"""The authors' training loop, re-implemented as their code runs it (the benchmark's reference).

A Python loop over the M members, fp32, one optimiser over all members, a torch ``DataLoader``
(``num_workers=0``) whose dataset turns each stored image into a PIL image and applies torchvision
transforms one image at a time (CIFAR: ``RandomCrop(32, padding=4)``, ``RandomHorizontalFlip()``,
``RandomRotation(15)``, then ``ToTensor()`` and ``Normalize``), each batch moved to the device,
``loss.item()`` read every step. The objective is ours (``objective.beta_objective``), so the two
implementations train the same thing.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import torch

from .. import objective
from ..ensemble import build_members
from ..spec import RunSpec
from ..train import make_optimizer
from .cases import Case, load
from .measure import Stopwatch, ensemble_accuracy


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


def endless(loader):
    """The loader's minibatches, a new shuffled pass whenever one is used up."""
    while True:
        yield from loader


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
    data = load(path, "cpu", n_train)
    train_tf, test_tf = authors_transforms(
        case.augment, *data.normalisation
    )  # the reader's constants
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

    period_seconds, images = [], 0
    stream = endless(train_loader)
    for _ in range(periods):
        with Stopwatch(device) as watch:
            running_loss, images = 0.0, 0
            # an epoch, or the next `steps` minibatches; each loaded as the training asks for it
            for x, y in train_loader if steps is None else itertools.islice(stream, steps):
                members.train()
                x, y = x.to(device), y.to(device)
                optimizer.zero_grad()
                outputs = torch.stack([member(x) for member in members])
                loss = objective.beta_objective(outputs, y, spec.aggregation, spec.beta)
                loss.backward()
                optimizer.step()
                running_loss += loss.item() * x.shape[0]
                images += x.shape[0]
        period_seconds.append(watch.seconds)

    members.eval()
    with Stopwatch(device) as evaluation, torch.no_grad():
        outputs = torch.cat(
            [torch.stack([member(x.to(device)) for member in members]) for x, _ in test_loader],
            dim=1,
        )
    return {
        "period_seconds": period_seconds,
        "images_per_period": images,
        "n_train": len(data.train),
        "test_accuracy": ensemble_accuracy(outputs, data.test.y, spec.aggregation),
        "eval_images_per_s": len(data.test) / evaluation.seconds,
    }
