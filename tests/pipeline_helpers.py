"""Running the real Snakefile on a copy of the repository (no mocks)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "configs" / "tiny.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def copy_workflow(dest: Path) -> Path:
    """The pieces of a checkout that a run needs: Snakefile, workflow/, config/, src/, envs/."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "Snakefile", dest)
    for folder in ("workflow", "config", "src", "envs"):
        shutil.copytree(REPO / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def snakemake(workdir: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*SNAKEMAKE, *args], cwd=workdir, capture_output=True, text=True, timeout=timeout
    )


def copy_run(workdir: Path, dest: Path) -> Path:
    """A copy of a working directory after a run, to change files in: the files keep their times,
    and .snakemake/ its records, so Snakemake sees the same state as in the original."""
    shutil.copytree(workdir, dest, symlinks=True)
    return dest
