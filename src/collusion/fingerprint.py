"""The training code's fingerprint: a hash of the source of every module that defines how a run
trains. It is part of a checkpoint's identity (a checkpoint resumes only the code that wrote it)
and a param of the training rules (an edit to these modules makes Snakemake plan the reruns).
Torch-free and cheap: the Snakefile computes it when it is parsed."""

from __future__ import annotations

import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
# what a run's numbers depend on; preparation is covered by the prepared data's checksum, and
# provenance, io, the pipeline and the analyses do not change a run's numbers
TRAINING_CODE = (
    "objective.py",
    "ensemble.py",
    "train.py",
    "runner.py",
    "models",
    "data/prepared.py",
    "data/augment.py",
)


def training_files() -> list[Path]:
    files = []
    for name in TRAINING_CODE:
        path = PACKAGE / name
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return files


def code_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in training_files():
        digest.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
