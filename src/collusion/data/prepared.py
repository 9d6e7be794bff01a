"""The prepared-data format every dataset is turned into, and the one reader training uses.

A prepared dataset is one ``.npz`` file:

    X          uint8 images (N, C, H, W), float32 sequences (N, C, L), or float32 table (N, D)
    y          int64 class indices, or float32 regression targets
    task       "classification" or "regression"
    n_classes  number of classes (0 for regression)
    scale      images and sequences: the value that means 1.0 (255 for photos, 16 for digits)
    mean, std  images and sequences: per-channel normalisation constants, in units of X / scale
               (optional: without them they are computed on the training part at load time)
    source_file, source_md5
               optional: the file a dataset of your own was prepared from, and its md5
    train_idx, val_idx, test_idx
               optional fixed split (e.g. CIFAR's official test set); without them the training
               job splits at random with the configured fractions and seed. A file of several
               independently drawn training sets (catalog.DATASET_DRAWS) stores one row of
               train_idx and val_idx per draw, ``(draws, n)``, and one test_idx: the split seed
               picks the row (draw k for seed k)

Tables are standardised on the training part (X always; y for regression), so regression MSE is in
units of the training target's variance. Images stay uint8 on the device and are normalised (and
augmented) per batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..io import atomic_write
from .catalog import split_sizes

if TYPE_CHECKING:  # torch is imported where data is loaded: preparing and planning need none
    import torch


def save_prepared(path: str | Path, **arrays) -> None:
    """Write a prepared dataset atomically (io.atomic_write: a unique temporary name, then rename)."""
    required = {"X", "y", "task", "n_classes"}
    missing = required - arrays.keys()
    if missing:
        raise ValueError(f"prepared dataset lacks {sorted(missing)}")
    if arrays["task"] not in ("classification", "regression"):
        raise ValueError(f"task must be classification or regression, got {arrays['task']!r}")
    atomic_write(path, lambda tmp: np.savez(tmp, **arrays))


def file_md5(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def source_of(path: str | Path) -> dict | None:
    """The source file and md5 that a dataset of your own was prepared from (data.own), or None."""
    with np.load(path, allow_pickle=False) as archive:
        if "source_md5" not in archive.files:
            return None
        return {"file": str(archive["source_file"]), "md5": str(archive["source_md5"])}


@dataclass
class Split:
    x: torch.Tensor  # uint8 images or standardised float table, resident on the device
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Dataset:
    train: Split
    val: Split
    test: Split
    task: str
    n_classes: int
    in_shape: tuple[int, ...]
    normalise: Callable[[torch.Tensor], torch.Tensor]
    # images and sequences: (scale, per-channel mean, std) that ``normalise`` applies, as
    # (x / scale − mean) / std; None for tables (standardised when read)
    normalisation: tuple[float, np.ndarray, np.ndarray] | None = None

    @property
    def out_dim(self) -> int:
        return self.n_classes if self.task == "classification" else 1

    def split(self, name: str) -> Split:
        return {"train": self.train, "val": self.val, "test": self.test}[name]


def random_split(n: int, fractions: list[float], seed: int) -> tuple[np.ndarray, ...]:
    """Seeded random train/val/test indices with the given fractions (they must sum to 1)."""
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-6 or min(fractions) <= 0:
        raise ValueError(
            f"split fractions must be three positive numbers summing to 1, got {fractions}"
        )
    order = np.random.default_rng(seed).permutation(n)
    sizes = split_sizes(n, fractions)
    if min(sizes) < 1:
        raise ValueError(
            f"split fractions {fractions} of {n} examples give parts of {sizes[0]}, {sizes[1]} and "
            f"{sizes[2]} examples: each part needs at least one; raise the smallest fraction"
        )
    n_train, n_val, _ = sizes
    return order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]


def load_dataset(
    path: str | Path,
    fractions: list[float] | None,
    split_seed: int,
    device: str | torch.device = "cpu",
    use_fixed_split: bool = True,
) -> Dataset:
    """Read a prepared file, split it and put it on the device.

    The fixed split stored in the file is used when present and ``use_fixed_split``; otherwise
    ``fractions`` and ``split_seed`` define a random split.
    """
    import torch

    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    X, y = arrays["X"], arrays["y"]
    task = str(arrays["task"])
    parts = split_parts(arrays, path, fractions, split_seed, use_fixed_split)
    train_idx = parts[0]

    if task == "regression":
        y_mean, y_std = y[train_idx].mean(), y[train_idx].std()
        y = (y - y_mean) / (y_std if y_std > 0 else 1.0)
        y = y.astype(np.float32)
    else:
        y = y.astype(np.int64)

    if X.ndim == 2:  # table: standardise on the training part
        mean, std = X[train_idx].mean(axis=0), X[train_idx].std(axis=0)
        X = ((X - mean) / np.where(std > 0, std, 1.0)).astype(np.float32)
        normalise, normalisation = _identity, None
    else:
        normalise, normalisation = channel_normaliser(arrays, train_idx, device)

    def to_split(index: np.ndarray) -> Split:
        return Split(
            torch.as_tensor(X[index], device=device), torch.as_tensor(y[index], device=device)
        )

    return Dataset(
        train=to_split(parts[0]),
        val=to_split(parts[1]),
        test=to_split(parts[2]),
        task=task,
        n_classes=int(arrays["n_classes"]),
        in_shape=tuple(X.shape[1:]),
        normalise=normalise,
        normalisation=normalisation,
    )


def split_parts(
    arrays: dict, path, fractions: list[float] | None, split_seed: int, use_fixed_split: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The train/val/test indices: the file's fixed split (of a file of independently drawn
    training sets, draw ``split_seed``'s) when present and wanted, else a random split."""
    if not (use_fixed_split and "train_idx" in arrays):
        if fractions is None:
            raise ValueError(f"{path} has no fixed split: set split.fractions in the config")
        return random_split(len(arrays["y"]), fractions, split_seed)
    parts = arrays["train_idx"], arrays["val_idx"], arrays["test_idx"]
    if parts[0].ndim == 1:
        return parts
    draws = len(parts[0])  # one training set per draw: the split seed picks it
    if not 0 <= split_seed < draws:
        raise ValueError(
            f"{path} holds {draws} independently drawn training sets (draws 0–{draws - 1}) "
            f"and the split seed {split_seed} picks draw {split_seed}: use seeds below "
            f"{draws} (with split.seed: run) or a fixed split.seed below {draws}"
        )
    return parts[0][split_seed], parts[1][split_seed], parts[2]


def channel_normaliser(arrays: dict, train_idx: np.ndarray, device):
    """Images and sequences: the per-channel (x / scale − mean) / std applied per batch, and its
    constants (scale, mean, std); the file's, or computed on the training part."""
    import torch

    X, scale = arrays["X"], float(arrays["scale"])
    channel_shape = (1, -1) + (1,) * (X.ndim - 2)  # (1, C, 1, 1) images, (1, C, 1) sequences
    if "mean" in arrays:
        mean, std = arrays["mean"], arrays["std"]
    else:  # per channel, on the training part only
        axes = (0,) + tuple(range(2, X.ndim))
        mean, std = (
            (X[train_idx] / scale).mean(axis=axes),
            (X[train_idx] / scale).std(axis=axes),
        )
        std = np.where(std > 0, std, 1.0)
    normalisation = (scale, np.asarray(mean, np.float32), np.asarray(std, np.float32))
    mean = torch.as_tensor(mean, dtype=torch.float32, device=device).view(channel_shape)
    std = torch.as_tensor(std, dtype=torch.float32, device=device).view(channel_shape)

    def normalise(x: torch.Tensor) -> torch.Tensor:
        return (x.float() / scale - mean) / std

    return normalise, normalisation


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x
