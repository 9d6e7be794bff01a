"""Datasets of your own, named in the configuration's ``datasets:`` section (config/README.md):
a ``.npz`` or ``.csv`` file, read and checked at start (``read_own``: shapes, dtypes, labels
0..K−1, missing values, the fixed split) and prepared like the built-ins (``prepare_own``: the
prepared format of prepared.py, with the source file's md5, which each run's provenance records).

- ``.npz``: ``X`` (N, D) table, (N, C, L) sequences or (N, C, H, W) images, numbers; ``y`` (N,)
  class indices 0..K−1 (classification) or numbers (regression); optionally ``train_idx``,
  ``val_idx`` and ``test_idx`` together (a fixed split: disjoint, non-empty index arrays), and
  ``scale`` (sequences and images: the value that means 1.0, default 1).
- ``.csv``: a header row; the column ``target`` (the configuration's key) is y, every other column
  a feature, numbers only; optionally the column ``split_column`` names each row's part (``train``,
  ``val`` or ``test``: a fixed split).

Torch-free: the Snakefile reads every own dataset at each start.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .prepared import file_md5, save_prepared

PARTS = ("train", "val", "test")


class DatasetError(ValueError):
    pass


def read_own(name: str, spec: dict) -> dict:
    """The dataset ``name`` of the configuration's ``datasets:`` (``spec``: its file, task, target
    and split_column) as arrays X, y, n_classes and, with a fixed split, train_idx, val_idx and
    test_idx; raises DatasetError naming the key, the file and the fix."""
    path = Path(spec["file"])
    where = f"datasets.{name}.file ({path})"
    if not path.is_file():
        raise DatasetError(f"{where}: no such file (looked for beside the configuration)")
    if path.suffix == ".npz":
        arrays = _read_npz(path, where)
    else:
        arrays = _read_csv(path, spec, where)
    return _checked(arrays, spec["task"], where)


def _read_npz(path: Path, where: str) -> dict:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except ValueError as error:  # object arrays, which need pickle
        raise DatasetError(
            f"{where}: cannot be read without pickle ({error}); save numbers only"
        ) from None
    missing = [key for key in ("X", "y") if key not in arrays]
    if missing:
        raise DatasetError(
            f"{where}: lacks the array(s) {', '.join(missing)}; found {', '.join(arrays) or 'none'} "
            "(np.savez(file, X=features, y=targets))"
        )
    split = [key for key in ("train_idx", "val_idx", "test_idx") if key in arrays]
    if split and len(split) != 3:
        raise DatasetError(
            f"{where}: a fixed split needs train_idx, val_idx and test_idx together; found "
            f"{', '.join(split)}"
        )
    return arrays


def _read_csv(path: Path, spec: dict, where: str) -> dict:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if len(rows) < 2:
        raise DatasetError(f"{where}: needs a header row and at least one row of data")
    header, body = rows[0], rows[1:]
    target, split_column = spec["target"], spec["split_column"]
    for key, column in (("target", target), ("split_column", split_column)):
        if column is not None and column not in header:
            raise DatasetError(
                f"{where}: no column {column!r} (datasets.*.{key}); columns: {', '.join(header)}"
            )
    short = [i + 2 for i, row in enumerate(body) if len(row) != len(header)]
    if short:
        raise DatasetError(
            f"{where}: line(s) {', '.join(map(str, short[:5]))} have not {len(header)} fields"
        )
    features = [c for c in header if c not in (target, split_column)]
    if not features:
        raise DatasetError(f"{where}: has no feature column besides {target!r}")
    columns = {c: [row[i] for row in body] for i, c in enumerate(header)}
    arrays = {
        "X": np.stack([_numbers(columns[c], c, where) for c in features], axis=1),
        "y": _numbers(columns[target], target, where),
    }
    if split_column is not None:
        parts = np.array([value.strip() for value in columns[split_column]])
        unknown = sorted(set(parts.tolist()) - set(PARTS))
        if unknown:
            raise DatasetError(
                f"{where}: column {split_column!r} holds {', '.join(map(repr, unknown[:5]))}; "
                "allowed: train, val, test"
            )
        for part in PARTS:
            arrays[f"{part}_idx"] = np.flatnonzero(parts == part)
    return arrays


def _numbers(values: list[str], column: str, where: str) -> np.ndarray:
    out = np.empty(len(values), np.float64)
    for i, value in enumerate(values):
        try:
            out[i] = float(value) if value.strip() else np.nan
        except ValueError:
            raise DatasetError(
                f"{where}: column {column!r}, line {i + 2}: {value!r} is not a number (encode "
                "categories as numbers first)"
            ) from None
    return out


def _checked(arrays: dict, task: str, where: str) -> dict:
    X, y = np.asarray(arrays["X"]), np.asarray(arrays["y"])
    for key, array in (("X", X), ("y", y)):
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
            raise DatasetError(f"{where}: {key} has dtype {array.dtype}; it must hold numbers")
    if X.ndim not in (2, 3, 4) or y.ndim != 1 or len(X) != len(y):
        raise DatasetError(
            f"{where}: X must be (N, D), (N, C, L) or (N, C, H, W) and y (N,), with the same N; "
            f"got X {X.shape} and y {y.shape}"
        )
    if len(y) < 3:
        raise DatasetError(f"{where}: {len(y)} examples; train, val and test need one each")
    for key, array in (("X", X), ("y", y)):
        bad = ~np.isfinite(array.astype(np.float64))
        if bad.any():
            rows = np.flatnonzero(bad.reshape(len(array), -1).any(axis=1))
            raise DatasetError(
                f"{where}: {key} has missing or infinite values in {len(rows)} example(s) (first "
                f"rows {', '.join(map(str, rows[:5]))}); drop or impute them first"
            )
    out = {"X": X.astype(np.float32) if X.dtype != np.uint8 else X}
    if task == "classification":
        whole = y == np.round(y)
        if not whole.all() or y.min() < 0:
            examples = y[~whole] if not whole.all() else y[y < 0]
            raise DatasetError(
                f"{where}: a classification target must be class indices 0..K−1 (whole numbers "
                f"≥ 0); got {', '.join(f'{v:g}' for v in examples[:3])} (map the labels to "
                "0..K−1, or set task: regression)"
            )
        labels = y.astype(np.int64)
        n_classes = int(labels.max()) + 1
        absent = sorted(set(range(n_classes)) - set(labels.tolist()))
        if absent or n_classes < 2:
            raise DatasetError(
                f"{where}: classes must be 0..K−1, each present, K ≥ 2; the labels lack "
                f"{absent[:10] or 'a second class'} (renumber them 0..K−1)"
            )
        out |= {"y": labels, "n_classes": n_classes}
    else:
        out |= {"y": y.astype(np.float32), "n_classes": 0}
    if "train_idx" in arrays:
        out |= _checked_split(arrays, len(y), where)
    if X.ndim > 2:
        scale = float(arrays.get("scale", 1.0))
        if not scale > 0:
            raise DatasetError(f"{where}: scale must be > 0, got {scale}")
        out["scale"] = scale
    return out


def _checked_split(arrays: dict, n: int, where: str) -> dict:
    parts = {}
    for part in PARTS:
        index = np.asarray(arrays[f"{part}_idx"])
        if index.ndim != 1 or not np.issubdtype(index.dtype, np.integer) or len(index) == 0:
            raise DatasetError(
                f"{where}: {part}_idx must be a non-empty 1-D array of row indices, got "
                f"{index.dtype} {index.shape}"
            )
        if index.min() < 0 or index.max() >= n:
            raise DatasetError(f"{where}: {part}_idx has indices outside 0..{n - 1}")
        parts[f"{part}_idx"] = index.astype(np.int64)
    joined = np.concatenate(list(parts.values()))
    if len(np.unique(joined)) != len(joined):
        raise DatasetError(f"{where}: train_idx, val_idx and test_idx overlap or repeat a row")
    return parts


def has_fixed_split(spec: dict) -> bool:
    """Does the own dataset ``spec`` (checked) store a fixed split?"""
    if spec["file"].endswith(".csv"):
        return spec["split_column"] is not None
    with np.load(spec["file"], allow_pickle=False) as archive:
        return "train_idx" in archive.files


def prepare_own(name: str, spec: dict, out: str | Path) -> None:
    """Write the own dataset ``name`` in the prepared format, with its source file and md5."""
    arrays = read_own(name, spec)
    save_prepared(
        out,
        task=spec["task"],
        source_file=np.array(str(spec["file"])),
        source_md5=np.array(file_md5(spec["file"])),
        **arrays,
    )
