"""Are two results folders the same numbers? Every run's history.csv (the time column ``seconds``
aside) and predictions.npz, bit for bit: the check a refactor passes ("a refactor changes no
number"). Torch-free.

    python -m collusion.compare BEFORE AFTER      # two results/ folders (or their runs/ folders)

prints each difference (a run in one folder only, a column or array that differs, with the first
differing row or element) and a summary; exits 1 when anything differs. Runs are matched by their
path under ``runs/``.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

TIME_COLUMNS = ("seconds",)  # wall-clock time: differs from one run to the next


def run_dirs(root: Path) -> dict[str, Path]:
    """Run directory (relative to ``runs/``) -> its path, for every run with a history.csv."""
    runs = root / "runs" if (root / "runs").is_dir() else root
    return {str(p.parent.relative_to(runs)): p.parent for p in sorted(runs.rglob("history.csv"))}


def read_history(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def history_differences(before: Path, after: Path) -> list[str]:
    """The history.csv values (as written: text, so bit for bit), time columns aside."""
    (columns_a, rows_a), (columns_b, rows_b) = read_history(before), read_history(after)
    kept_a = [c for c in columns_a if c not in TIME_COLUMNS]
    kept_b = [c for c in columns_b if c not in TIME_COLUMNS]
    if kept_a != kept_b:
        return [f"history.csv columns differ: {sorted(set(kept_a) ^ set(kept_b)) or 'order'}"]
    if len(rows_a) != len(rows_b):
        return [f"history.csv has {len(rows_a)} rows before, {len(rows_b)} after"]
    found = []
    for column in kept_a:
        rows = [i for i, (a, b) in enumerate(zip(rows_a, rows_b)) if a[column] != b[column]]
        if rows:
            i = rows[0]
            found.append(
                f"history.csv {column}: {len(rows)} rows differ, first epoch {rows_a[i]['epoch']}: "
                f"{rows_a[i][column]} before, {rows_b[i][column]} after"
            )
    return found


def predictions_differences(before: Path, after: Path) -> list[str]:
    """Every array of predictions.npz: the same keys, dtypes, shapes and values (NaN = NaN)."""
    with np.load(before) as a, np.load(after) as b:
        if sorted(a.files) != sorted(b.files):
            return [f"predictions.npz arrays differ: {sorted(set(a.files) ^ set(b.files))}"]
        found = []
        for key in sorted(a.files):
            x, y = a[key], b[key]
            if x.dtype != y.dtype or x.shape != y.shape:
                found.append(
                    f"predictions.npz {key}: {x.dtype}{x.shape} before, {y.dtype}{y.shape} after"
                )
            elif not np.array_equal(x, y, equal_nan=x.dtype.kind == "f"):
                differ = np.argwhere(~((x == y) | (np.isnan(x) & np.isnan(y))))
                where = tuple(int(i) for i in differ[0])
                found.append(
                    f"predictions.npz {key}: {len(differ)} elements differ, first {where}: "
                    f"{x[where]!r} before, {y[where]!r} after"
                )
        return found


def compare(before: Path, after: Path) -> tuple[int, list[str]]:
    """(runs compared, differences) of two results folders."""
    runs_a, runs_b = run_dirs(before), run_dirs(after)
    found = [f"{run}: only before" for run in sorted(runs_a.keys() - runs_b.keys())]
    found += [f"{run}: only after" for run in sorted(runs_b.keys() - runs_a.keys())]
    common = sorted(runs_a.keys() & runs_b.keys())
    for run in common:
        a, b = runs_a[run], runs_b[run]
        found += [f"{run}: {d}" for d in history_differences(a / "history.csv", b / "history.csv")]
        if (a / "predictions.npz").exists() or (b / "predictions.npz").exists():
            found += [
                f"{run}: {d}"
                for d in predictions_differences(a / "predictions.npz", b / "predictions.npz")
            ]
    return len(common), found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path, help="a results/ folder (or its runs/)")
    parser.add_argument("after", type=Path, help="another results/ folder (or its runs/)")
    args = parser.parse_args(argv)
    compared, found = compare(args.before, args.after)
    for line in found:
        print(line)
    verdict = f"{len(found)} difference(s)" if found else "identical"
    print(
        f"{compared} runs in both; history.csv (but {', '.join(TIME_COLUMNS)}) and "
        f"predictions.npz: {verdict}"
    )
    return 1 if found or not compared else 0


if __name__ == "__main__":
    sys.exit(main())
