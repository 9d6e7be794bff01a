"""File writes that a killed job, a second writer or a full disk cannot turn into a wrong result:
atomic writes under unique temporary names, out-of-space reported as such, a per-run lock."""

from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


class OutOfSpaceError(OSError):
    pass


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path``. The temporary name is
    unique (two writers never share it) and starts with a dot; it never survives a failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(handle)
    tmp = Path(name)
    os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp creates 0600; outputs get the usual mode
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as error:
        if error.errno == errno.ENOSPC:
            free = shutil.disk_usage(path.parent).free / 2**20
            raise OutOfSpaceError(
                errno.ENOSPC,
                f"no space left on the device while writing {path} ({free:.0f} MiB free in "
                f"{path.parent}): free some space and rerun",
            ) from error
        raise
    finally:
        tmp.unlink(missing_ok=True)


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_csv(path: str | Path, rows: list[dict], fieldnames: list[str] | None = None) -> None:
    """Rows of dicts as a CSV file, the first row's keys as the header (the csv module: a
    training job or a benchmark need not import pandas)."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames or list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_json(path: str | Path, data: dict) -> None:
    atomic_write(
        path, lambda tmp: tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
    )


def serialise(obj) -> bytes:
    """``torch.save`` into memory: written with ``write_bytes``, a full disk then raises ENOSPC
    (torch's own file writer reports it as 'unexpected pos …')."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


class RunLockedError(RuntimeError):
    pass


@contextlib.contextmanager
def run_lock(directory: str | Path):
    """Hold ``directory/.lock`` while training: a second trainer of the same run (an orphan of a
    killed Snakemake, a second workflow) fails at once instead of writing the same files. The
    kernel releases the lock when its process dies, so a killed trainer never blocks a rerun."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise RunLockedError(
                f"{directory} is being trained by another process ({holder}); wait for it to "
                "finish or stop it, then rerun"
            ) from None
        handle.truncate(0)
        handle.write(f"pid {os.getpid()} on {os.uname().nodename}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
