"""Fingerprints of the code a step runs: a hash of the source of the package's modules it uses,
found by following their imports (module-level and inside functions) from the step's entry
modules. Torch-free and cheap: the Snakefile computes them when it is parsed.

- A run's training fingerprint (``training_fingerprint``) covers the training loop and everything
  it imports, plus what only some runs use: the module of the run's architecture (and its imports;
  for a constructor of your own, its file alone) and, when the recipe augments, the augmentation.
  Copying an unrelated model file into models/ changes no run's fingerprint. It is part of the
  run's identity (``run_identity``), which the run's provenance records, its training rule
  carries as a param and its checkpoint must match.
- A downstream step's fingerprint (``code_fingerprint``: the analyses, tables, claims, figures)
  covers its script and the modules it imports, so an edit reruns exactly the rules that use it.

Preparation is covered by the prepared data (its checksum in a checkpoint's identity, its time
stamp in the plan); provenance and this module record, they do not change a run's numbers.
"""

from __future__ import annotations

import ast
import hashlib
from functools import cache
from pathlib import Path

from .models import is_own, own_source, source_module
from .spec import canonical_hash

PACKAGE = Path(__file__).resolve().parent
NAME = PACKAGE.name
# what trains a run: the job (data, device, threads, packing) and the loop, with their imports
TRAINING_ENTRIES = ("job", "train")
# what the training code imports but runs only for some runs (added by training_files), or that
# records a run without changing its numbers
OPTIONAL = ("models.", "data.augment")
RECORD_ONLY = ("provenance", "fingerprint", "progress")


def module_path(module: str) -> Path | None:
    """The source file of ``module`` (``models.small``, ``data.prepared``; a package: its
    __init__.py) in this package, or None."""
    base = PACKAGE.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


@cache
def direct_imports(path: Path) -> frozenset[str]:
    """The modules of this package that the file at ``path`` imports, anywhere in it (inside
    functions too)."""
    inside = path.is_relative_to(PACKAGE)
    package = path.relative_to(PACKAGE).parts[:-1] if inside else ()  # the package it is in
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            named = node.module.split(".") if node.module else []
            if node.level:
                parts = [*package[: len(package) - node.level + 1], *named]
            elif named[:1] == [NAME]:
                parts = named[1:]
            else:
                continue
            module = ".".join(parts)
            candidates = [module] + [".".join([*parts, alias.name]) for alias in node.names]
            found |= {m for m in candidates if m and module_path(m)}
        elif isinstance(node, ast.Import):
            found |= {
                alias.name.removeprefix(f"{NAME}.")
                for alias in node.names
                if alias.name.startswith(f"{NAME}.")
            }
    return frozenset(m for m in found if module_path(m))


def imported_modules(path: Path) -> frozenset[str]:
    """``direct_imports``, and the packages they belong to (Python runs their __init__ too)."""
    found = direct_imports(path)
    parents = {".".join(m.split(".")[:i]) for m in found for i in range(1, m.count(".") + 1)}
    return frozenset(m for m in found | parents if module_path(m))


def closure(entries: tuple[str, ...], leave_out: tuple[str, ...] = ()) -> list[Path]:
    """The files of ``entries`` and of every module they import, transitively, except the
    modules named (or prefixed, ending in '.') in ``leave_out``."""

    def left_out(module: str) -> bool:
        return any(
            module.startswith(name) if name.endswith(".") else module == name for name in leave_out
        )

    seen: set[str] = set()
    todo = [m for m in entries if not left_out(m)]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo += [m for m in imported_modules(module_path(module)) if not left_out(m)]
    return sorted({module_path(m) for m in seen})


def digest(files: list[Path]) -> str:
    hashed = hashlib.sha256()
    for path in sorted(set(files)):
        name = path.relative_to(PACKAGE).as_posix() if path.is_relative_to(PACKAGE) else path.name
        hashed.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return hashed.hexdigest()[:16]


def training_files(arch: str = "mlp", augment: str = "none") -> list[Path]:
    """The files a run of architecture ``arch`` with augmentation ``augment`` trains with."""
    files = closure(TRAINING_ENTRIES, OPTIONAL + RECORD_ONLY)
    files += closure(("models",), OPTIONAL + RECORD_ONLY)
    arch_module = source_module(arch)
    if arch_module is not None:
        files += closure((arch_module,), RECORD_ONLY)
    elif is_own(arch):
        files.append(own_source(arch).resolve())
    if augment != "none":
        files += closure(("data.augment",), RECORD_ONLY)
    return sorted(set(files))


@cache
def training_fingerprint(arch: str = "mlp", augment: str = "none") -> str:
    return digest(training_files(arch, augment))


def run_identity(spec: dict, split: dict, code: str | None = None) -> str:
    """What a finished run must match to be kept: its spec (RunSpec.to_dict), its split and its
    training code (``code``: its training_fingerprint, computed when not given)."""
    code = code or training_fingerprint(spec["arch"], spec["recipe"]["augment"])
    return canonical_hash({"run": spec, "split": split, "code": code})


@cache
def code_fingerprint(script: str, modules: tuple[str, ...] = ()) -> str:
    """The fingerprint of a step that runs ``script`` (a workflow script: it and the package
    modules it imports) and ``modules`` (those it imports by name, e.g. a figure's module)."""
    path = Path(script).resolve()
    return digest(closure(tuple(imported_modules(path)) + modules) + [path])
