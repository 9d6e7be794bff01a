"""Datasets of your own, named in the configuration's ``datasets:`` section (config/README.md):
a ``.npz``, ``.csv`` or ``.parquet`` file, or a loader (a function of your own), read and checked
at start (``read_own``: shapes, dtypes, labels 0..K−1, missing values, the fixed split) and
prepared like the built-ins (``prepare_own``: the prepared format of prepared.py, with the source's
md5, which each run's provenance records).

- ``.npz``: ``X`` (N, D) table, (N, C, L) sequences or (N, C, H, W) images, numbers; ``y`` (N,)
  class indices 0..K−1 (classification) or numbers (regression); optionally ``train_idx``,
  ``val_idx`` and ``test_idx`` together (a fixed split: disjoint, non-empty index arrays), and
  ``scale`` (sequences and images: the value that means 1.0, default 1).
- ``.csv`` and ``.parquet``: a table; the column ``target`` (the configuration's key) is y, every
  other column a feature, numbers only; optionally the column ``split_column`` names each row's
  part (``train``, ``val`` or ``test``: a fixed split).
- ``loader: "package.module:function"`` or ``"file.py:function"`` (found like an own
  architecture's file: beside the configuration, then in the working directory): called without
  arguments, it returns a mapping with the ``.npz`` keys. Provenance records the loader, the md5
  of its source file, and the md5 of the data it returned, as checked (``arrays_md5``).

Torch-free: the Snakefile reads every own dataset at each start (once per version of its file or
of its loader's source: ``summary``).
"""

from __future__ import annotations

import ast
import csv
import difflib
import hashlib
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import numpy as np

from .catalog import DATASET_ROWS
from .prepared import file_md5, save_prepared

PARTS = ("train", "val", "test")
SPLIT_KEYS = tuple(f"{part}_idx" for part in PARTS)
# what a .npz file or a loader's mapping may hold
KEYS = ("X", "y", *SPLIT_KEYS, "scale")
TABLES = (".csv", ".parquet")  # files of named columns: target and split_column


class DatasetError(ValueError):
    pass


def read_own(name: str, spec: dict) -> dict:
    """The dataset ``name`` of the configuration's ``datasets:`` (``spec``: its file or loader,
    task, target and split_column) as arrays X, y, n_classes and, with a fixed split, train_idx,
    val_idx and test_idx; raises DatasetError naming the key, the file or loader, and the fix."""
    if spec.get("loader"):
        where = f"datasets.{name}.loader ({spec['loader']})"
        arrays = _mapping(_call_loader(spec["loader"], where), where, "the loader's mapping")
        return _checked(arrays, spec["task"], where)
    path = Path(spec["file"])
    where = f"datasets.{name}.file ({path})"
    if not path.is_file():
        raise DatasetError(f"{where}: no such file (looked for beside the configuration)")
    if path.suffix == ".npz":
        arrays = _read_npz(path, where)
    elif path.suffix == ".parquet":
        arrays = _read_parquet(path, spec, where)
    else:
        arrays = _read_csv(path, spec, where)
    return _checked(arrays, spec["task"], where)


def loader_function(loader: str, where: str = "loader"):
    """The function ``loader`` names (imports its module; a file of your own by its path)."""
    from ..models import constructor, own_source

    target, _, function = loader.rpartition(":")
    if not target or not function.isidentifier():
        raise DatasetError(
            f"{where}: names no function: write 'package.module:function' or 'file.py:function'"
        )
    try:
        path = own_source(loader)  # the file, or the module's
    except ValueError as error:
        raise DatasetError(f"{where}: {error}") from None
    try:
        return constructor(loader)
    except Exception as error:
        tree = ast.parse("" if isinstance(error, SyntaxError) else path.read_text(encoding="utf-8"))
        defined = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
        if function not in defined and not isinstance(error, SyntaxError):
            close = difflib.get_close_matches(function, defined, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"it defines: {', '.join(defined)}"
            raise DatasetError(
                f"{where}: {path} defines no function {function!r}; {hint}"
            ) from None
        raise DatasetError(
            f"{where}: importing {target} fails: {type(error).__name__}: {error}"
        ) from None


def _call_loader(loader: str, where: str):
    function = loader_function(loader, where)
    try:
        returned = function()
    except Exception as error:
        raise DatasetError(
            f"{where}: the loader fails: {type(error).__name__}: {error} (it is called without "
            "arguments and returns a mapping with X, y and, for a fixed split, train_idx, val_idx "
            "and test_idx)"
        ) from None
    if not isinstance(returned, Mapping):
        raise DatasetError(
            f"{where}: returned a {type(returned).__name__}; a loader returns a mapping, e.g. "
            "dict(X=features, y=targets), with train_idx, val_idx and test_idx for a fixed split"
        )
    return returned


def _mapping(arrays: Mapping, where: str, what: str) -> dict:
    """The arrays of a .npz file or a loader's mapping: X and y, a split's three keys together,
    no other key."""
    unknown = [key for key in arrays if key not in KEYS]
    if unknown:
        close = {
            k: [key for key in KEYS if key.lower() == str(k).lower()]
            or difflib.get_close_matches(str(k), KEYS, n=1)
            for k in unknown
        }
        hints = [f"{k!r}" + (f" (did you mean {c[0]!r}?)" if c else "") for k, c in close.items()]
        raise DatasetError(f"{where}: {what} holds {', '.join(hints)}; allowed: {', '.join(KEYS)}")
    missing = [key for key in ("X", "y") if key not in arrays]
    if missing:
        raise DatasetError(
            f"{where}: {what} lacks {', '.join(missing)}; found {', '.join(map(str, arrays)) or 'none'} "
            "(X: the features, y: the targets)"
        )
    split = [key for key in SPLIT_KEYS if key in arrays]
    if split and len(split) != 3:
        raise DatasetError(
            f"{where}: a fixed split needs train_idx, val_idx and test_idx together; found "
            f"{', '.join(split)}"
        )
    return {key: np.asarray(value) for key, value in arrays.items()}


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
    return _mapping({k: v for k, v in arrays.items() if k in KEYS}, where, "the file")


def _read_csv(path: Path, spec: dict, where: str) -> dict:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if len(rows) < 2:
        raise DatasetError(f"{where}: needs a header row and at least one row of data")
    header, body = rows[0], rows[1:]
    short = [i + 2 for i, row in enumerate(body) if len(row) != len(header)]
    if short:
        raise DatasetError(
            f"{where}: line(s) {', '.join(map(str, short[:5]))} have not {len(header)} fields"
        )
    columns = {c: [row[i] for row in body] for i, c in enumerate(header)}
    return _from_columns(
        header,
        lambda column: _numbers(columns[column], column, where),
        lambda column: [value.strip() for value in columns[column]],
        spec,
        where,
    )


def _read_parquet(path: Path, spec: dict, where: str) -> dict:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as error:
        raise DatasetError(f"{where}: cannot be read as Parquet: {error}") from None
    if table.num_rows < 1:
        raise DatasetError(f"{where}: has no rows")

    def numbers(column: str) -> np.ndarray:
        values = table.column(column)
        kind = values.type
        if not (
            pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
        ):
            raise DatasetError(
                f"{where}: column {column!r} has type {kind}; it must hold numbers (encode "
                "categories as numbers first)"
            )
        return pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)  # nulls: NaN

    def names(column: str) -> list:
        return [None if v is None else str(v).strip() for v in table.column(column).to_pylist()]

    return _from_columns(table.column_names, numbers, names, spec, where)


def _from_columns(header: list[str], numbers, names, spec: dict, where: str) -> dict:
    """X, y and a fixed split from a table's columns (``numbers(column)``: its values as numbers,
    ``names(column)``: as text): the target column, the split column, every other a feature."""
    target, split_column = spec["target"], spec["split_column"]
    for key, column in (("target", target), ("split_column", split_column)):
        if column is not None and column not in header:
            raise DatasetError(
                f"{where}: no column {column!r} (datasets.*.{key}); columns: {', '.join(header)}"
            )
    features = [c for c in header if c not in (target, split_column)]
    if not features:
        raise DatasetError(f"{where}: has no feature column besides {target!r}")
    arrays = {
        "X": np.stack([numbers(c) for c in features], axis=1),
        "y": numbers(target),
    }
    if split_column is not None:
        parts = names(split_column)
        unknown = sorted({str(p) for p in parts} - set(PARTS))
        if unknown:
            raise DatasetError(
                f"{where}: column {split_column!r} holds {', '.join(map(repr, unknown[:5]))}; "
                "allowed: train, val, test"
            )
        parts = np.array(parts)
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
    if spec.get("loader"):
        return summary("", spec)[2]
    if spec["file"].endswith(TABLES):
        return spec["split_column"] is not None
    with np.load(spec["file"], allow_pickle=False) as archive:
        return "train_idx" in archive.files


def stores_split(dataset: str, own: dict | None = None) -> bool:
    """Does ``dataset``'s prepared file store a fixed split? A built-in unless it is split at
    train time (catalog.DATASET_ROWS); one of your own (``own``: the configuration's
    ``datasets:``) when its file or loader gives one."""
    spec = (own or {}).get(dataset)
    return has_fixed_split(spec) if spec else dataset not in DATASET_ROWS


def uses_stored_split(exp: dict, own: dict | None = None) -> bool:
    """Do the runs of the experiment ``exp`` train on a split stored in the prepared file (one test
    set for every seed), rather than on a random split drawn with ``split.seed``?"""
    return stores_split(exp["dataset"], own) and exp.get("split", {}).get("fixed", True)


def source(spec: dict) -> Path:
    """The file an own dataset is read from: its file, or its loader's source."""
    if spec.get("loader"):
        from ..models import own_source

        return own_source(spec["loader"])
    return Path(spec["file"])


def _stamp(path: Path) -> tuple | None:
    return (path.stat().st_mtime_ns, path.stat().st_size) if path.is_file() else None


def summary(name: str, spec: dict) -> tuple[str, int, bool, str | None]:
    """What the checks and the plan need of an own dataset: its task, rows, whether it stores a
    fixed split, and (a loader's) the md5 of the arrays it returns; read once per version of its
    file or its loader's source (raises DatasetError)."""
    try:
        stamp = _stamp(source(spec))
    except ValueError:  # a loader that names nothing: read_own says so
        stamp = None
    keys = (spec.get("file"), spec.get("loader"), spec["task"], spec["target"])
    return _summary(name, *keys, spec["split_column"], stamp)


@cache
def _summary(name, file, loader, task, target, split_column, stamp):
    spec = {"file": file, "loader": loader, "task": task, "target": target}
    arrays = read_own(name, spec | {"split_column": split_column})
    return task, len(arrays["y"]), "train_idx" in arrays, arrays_md5(arrays) if loader else None


def arrays_md5(arrays: Mapping) -> str:
    """The md5 of a mapping of arrays (a loader's data as checked: X, y, n_classes, the split):
    each key, dtype, shape and bytes, in key order."""
    digest = hashlib.md5()
    for key in sorted(arrays):
        array = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}\0{array.dtype.str}\0{array.shape}\0".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


# keys of a dataset's spec that say how to train on it, not what it holds: never a reason to prepare
RESOURCE_KEYS = ("gpu",)


def prepare_options(name: str, spec: dict) -> dict:
    """The options of rule prepare_own: the dataset's spec but its resource keys, and a loader's
    data md5 (``returned``), so that a change of the data a loader returns reprepares the
    dataset."""
    data = {key: value for key, value in spec.items() if key not in RESOURCE_KEYS}
    return data | {"returned": summary(name, spec)[3]} if spec.get("loader") else data


def prepare_own(name: str, spec: dict, out: str | Path) -> None:
    """Write the own dataset ``name`` in the prepared format, with its source and md5: a file's
    path and md5; a loader's name and source file's md5, and the md5 of the arrays it returned."""
    arrays = read_own(name, spec)
    if spec.get("loader"):
        path = source(spec)
        described = f"loader {spec['loader']} ({path}, md5 {file_md5(path)})"
        returned = arrays_md5(arrays)
    else:
        described, returned = str(spec["file"]), file_md5(spec["file"])
    save_prepared(
        out,
        task=spec["task"],
        source_file=np.array(described),
        source_md5=np.array(returned),
        **arrays,
    )
