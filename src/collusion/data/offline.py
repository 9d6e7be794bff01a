"""Real datasets that ship inside scikit-learn's wheel, so the default runs offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn import datasets as sk

from .prepared import save_prepared

OFFLINE_DATASETS = ("digits", "diabetes", "breast_cancer", "wine")


def prepare_offline(name: str, out: str | Path) -> None:
    """Write scikit-learn's bundled ``name`` in the prepared format (random split at train time)."""
    if name == "digits":
        bunch = sk.load_digits()
        images = bunch.images.astype(np.uint8)[:, None]  # (1797, 1, 8, 8), values 0..16
        pixels = images / 16.0
        save_prepared(
            out, X=images, y=bunch.target.astype(np.int64), task="classification",
            n_classes=10, scale=16.0,
            mean=np.array([pixels.mean()], np.float32), std=np.array([pixels.std()], np.float32),
        )
    elif name == "diabetes":
        bunch = sk.load_diabetes(scaled=False)
        save_prepared(
            out, X=bunch.data.astype(np.float32), y=bunch.target.astype(np.float32),
            task="regression", n_classes=0,
        )
    elif name in ("breast_cancer", "wine"):
        bunch = getattr(sk, f"load_{name}")()
        save_prepared(
            out, X=bunch.data.astype(np.float32), y=bunch.target.astype(np.int64),
            task="classification", n_classes=int(bunch.target.max() + 1),
        )
    else:
        raise ValueError(f"unknown offline dataset {name!r}; allowed: {', '.join(OFFLINE_DATASETS)}")
