"""Turn the paper's raw datasets into the prepared format (collusion.data.prepared).

Images become one uint8 (N, 3, H, W) array with fixed train/val/test index arrays; UCI tables
become float32 (N, D) without a split (the training job splits them with the run seed).

Splits (indices into X, which stacks the official training set first, then the official test or
validation set):

- CIFAR-10/100, ``validation="first"`` (the authors'): val = the first 20 % of the official
  training images (10,000), train = the other 40,000, test = the official 10,000.
  ``validation="random"``: val = a random 20 % of the training images drawn with ``seed``
  (the test set stays the official one). Normalisation: the authors' mean/std.
- SVHN (the authors' split): train = the official train split (no "extra"); the official test
  split is halved in file order as in their code: test = the first floor(n/2) images, val = the
  rest. Normalisation: the authors' MNIST constants (0.1307, 0.3081) on every channel.
- Tiny ImageNet: train = the 100,000 training images; the labelled validation set is halved per
  class in the order of val_annotations.txt: the first half of each class (25) = val, the second
  half (25) = test. Normalisation: ImageNet's mean/std.
- ImageNet: see collusion.data.imagenet (downscaled copy; official val halved per class).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .imagenet import IMAGENET_MANIFEST, prepare_imagenet
from .prepared import save_prepared
from .readers import read_cifar, read_svhn, read_tiny_imagenet
from .sources import SOURCES
from .uci import UCI_DATASETS, UCI_FILES, read_uci

# dataset -> the raw sources (collusion.data.sources) it is prepared from
PAPER_DATASETS: dict[str, tuple[str, ...]] = {
    "cifar10": ("cifar10",),
    "cifar100": ("cifar100",),
    "svhn": ("svhn_train", "svhn_test"),
    "tiny_imagenet": ("tiny_imagenet",),
    **{name: (UCI_FILES[name][0],) for name in UCI_DATASETS},
    "imagenet": (),  # placed by hand
}

CIFAR_MEAN = np.array([125.3, 123.0, 113.9], np.float32) / 255
CIFAR_STD = np.array([63.0, 62.1, 66.7], np.float32) / 255
MNIST_MEAN = np.full(3, 0.1307, np.float32)
MNIST_STD = np.full(3, 0.3081, np.float32)
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def prepare_cifar(
    name: str, root: str | Path, out: str | Path, validation: str = "first", seed: int = 0
) -> None:
    raw = read_cifar(name, root)
    n_train, n_test = len(raw["y_train"]), len(raw["y_test"])
    n_val = int(np.floor(0.2 * n_train))  # 10,000 of 50,000, as in the authors' code
    if validation == "first":
        order = np.arange(n_train)
    elif validation == "random":
        order = np.random.default_rng(seed).permutation(n_train)
    else:
        raise ValueError(f"data.cifar_validation must be 'first' or 'random', got {validation!r}")
    save_prepared(
        out,
        X=np.concatenate([raw["x_train"], raw["x_test"]]),
        y=np.concatenate([raw["y_train"], raw["y_test"]]),
        task="classification",
        n_classes=len(raw["class_names"]),
        scale=255.0,
        mean=CIFAR_MEAN,
        std=CIFAR_STD,
        train_idx=np.sort(order[n_val:]),
        val_idx=np.sort(order[:n_val]),
        test_idx=np.arange(n_train, n_train + n_test),
        class_names=raw["class_names"],
    )


def prepare_svhn(train_mat: str | Path, test_mat: str | Path, out: str | Path) -> None:
    x_train, y_train = read_svhn(train_mat, "train")
    x_test, y_test = read_svhn(test_mat, "test")
    n_train, n_test = len(y_train), len(y_test)
    half = n_test // 2
    save_prepared(
        out,
        X=np.concatenate([x_train, x_test]),
        y=np.concatenate([y_train, y_test]),
        task="classification",
        n_classes=10,
        scale=255.0,
        mean=MNIST_MEAN,
        std=MNIST_STD,
        train_idx=np.arange(n_train),
        val_idx=np.arange(n_train + half, n_train + n_test),
        test_idx=np.arange(n_train, n_train + half),
        class_names=np.asarray([str(d) for d in range(10)]),
    )


def prepare_tiny_imagenet(root: str | Path, out: str | Path) -> None:
    raw = read_tiny_imagenet(root)
    n_train = len(raw["y_train"])
    val_idx, test_idx = [], []
    for label in np.unique(raw["y_val"]):
        members = np.flatnonzero(raw["y_val"] == label)  # annotation-file order
        half = len(members) // 2
        val_idx.append(members[:half])
        test_idx.append(members[half:])
    save_prepared(
        out,
        X=np.concatenate([raw["x_train"], raw["x_val"]]),
        y=np.concatenate([raw["y_train"], raw["y_val"]]),
        task="classification",
        n_classes=len(raw["class_names"]),
        scale=255.0,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        train_idx=np.arange(n_train),
        val_idx=n_train + np.sort(np.concatenate(val_idx)),
        test_idx=n_train + np.sort(np.concatenate(test_idx)),
        class_names=raw["class_names"],
    )


def prepare_uci(name: str, root: str | Path, out: str | Path) -> None:
    X, y, features = read_uci(name, root)
    save_prepared(out, X=X, y=y, task="regression", n_classes=0, feature_names=np.asarray(features))


def prepare_inputs(dataset: str) -> list[str]:
    """What the prepare rule of ``dataset`` reads: extracted archives, plain files, or the manifest."""
    if dataset == "imagenet":
        return [str(IMAGENET_MANIFEST)]
    return [
        str(SOURCES[s].extracted() if SOURCES[s].archive else SOURCES[s].path())
        for s in PAPER_DATASETS[dataset]
    ]


# the config's ``data`` keys each dataset's preparation reads -> the argument of its prepare function
PREPARE_OPTIONS = {
    "cifar10": {"cifar_validation": "validation", "cifar_validation_seed": "seed"},
    "cifar100": {"cifar_validation": "validation", "cifar_validation_seed": "seed"},
    "imagenet": {"imagenet_size": "size"},
}


def prepare_options(dataset: str, data_config: dict) -> dict:
    """The settings of the (validated) config's ``data`` section that change what ``dataset``'s
    prepared file holds."""
    keys = PREPARE_OPTIONS.get(dataset, {})
    return {key: data_config[key] for key in keys}


def prepare_paper_dataset(
    name: str, inputs: list[str | Path], out: str | Path, options: dict | None = None
) -> None:
    """Prepare dataset ``name`` from the download rules' outputs ``inputs``.

    inputs: CIFAR, Tiny ImageNet, UCI: [extracted directory]; SVHN: [train .mat, test .mat];
    ImageNet: [manifest]. options: those of prepare_options (an option left out takes the prepare
    function's default), and workers (ImageNet).
    """
    options = options or {}
    arguments = {
        arg: options[key] for key, arg in PREPARE_OPTIONS.get(name, {}).items() if key in options
    }
    if name in ("cifar10", "cifar100"):
        prepare_cifar(name, inputs[0], out, **arguments)
    elif name == "svhn":
        prepare_svhn(inputs[0], inputs[1], out)
    elif name == "tiny_imagenet":
        prepare_tiny_imagenet(inputs[0], out)
    elif name in UCI_DATASETS:
        prepare_uci(name, inputs[0], out)
    elif name == "imagenet":
        prepare_imagenet(inputs[0], out, workers=int(options.get("workers", 1)), **arguments)
    else:
        raise ValueError(f"unknown paper dataset {name!r}; allowed: {', '.join(PAPER_DATASETS)}")
