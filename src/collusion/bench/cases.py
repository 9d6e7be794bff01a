"""The benchmarked models (learner, data, recipe) and the data each one trains on."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..data.prepared import Dataset, Split, load_dataset, save_prepared

REPO = Path(__file__).resolve().parents[3]
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
    # the paper's job this case stands for, to extrapolate a measured rate to: epochs, and the
    # images trained on and evaluated (train + val + test, the Trainer's evaluation) per epoch
    job: dict | None = None


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
    # config/paper.yaml's CIFAR recipe (tests/test_bench.py checks they agree); ResNet-18 × 5
    # trains at a few images per second on two CPU cores. The job: one CIFAR-10 run of the paper
    # (80 epochs on 40,000 training images; 40,000 + 10,000 + 10,000 evaluated after each epoch).
    "resnet18": Case(
        "resnet18",
        {"width": 64},
        "cifar_shaped",
        {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "batch_size": 128},
        augment="cifar",
        epochs={"cpu": 1, "cuda": 3},
        n_train={"cpu": 128, "cuda": 40000},
        job={"epochs": 80, "n_train": 40000, "n_eval": 60000},
    ),
}


def digits_file(workdir: Path) -> Path:
    """The prepared digits file, or one prepared now from scikit-learn's copy (same function)."""
    path = REPO / "resources" / "prepared" / "digits.npz"
    if path.exists():
        return path
    from ..data.offline import prepare_offline

    path = workdir / "digits.npz"
    if not path.exists():
        prepare_offline("digits", path)
    return path


def synthetic_cifar(path: Path, n_train: int, n_test: int, seed: int = 0, n_val: int = 0) -> Path:
    """CIFAR-shaped uint8 images that can be learnt: each class is a smooth random colour
    pattern, each image its class pattern shifted by up to 4 pixels plus pixel noise.
    ``n_val``: the last that many of the ``n_train`` images are the validation split (as CIFAR's
    prepared files hold one); 0: the first test image stands in for it."""
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
    train_idx, val_idx = np.arange(n_train - n_val), np.arange(n_train - n_val, n_train)
    if not n_val:  # no validation images are needed: the first test image stands in for them
        val_idx = np.arange(n_train, n_train + 1)
    save_prepared(
        path,
        X=X,
        y=y,
        task="classification",
        n_classes=10,
        scale=255.0,
        mean=CIFAR_MEAN,
        std=CIFAR_STD,
        train_idx=train_idx,
        val_idx=val_idx,
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
