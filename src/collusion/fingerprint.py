"""Fingerprints of the code a step runs: a hash of the source of the package's modules it uses,
found by following their imports (module-level and inside functions) from the step's entry
modules. Torch-free and cheap: the Snakefile computes them when it is parsed.

- A run's training fingerprint (``training_fingerprint``) covers the training loop and everything
  it imports, plus what only some runs use: the module of the run's architecture (and its imports;
  for a constructor of your own, its file and the modules of your own it imports: ``own_files``)
  and, when the recipe augments, the augmentation.
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


def module_path(module: str, root: Path | None = None) -> Path | None:
    """The source file of ``module`` (``models.small``, ``data.prepared``; a package: its
    __init__.py) in this package, or under another ``root`` folder; None where there is none."""
    base = (root or PACKAGE).joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def imported_names(path: Path, package: tuple[str, ...]) -> set[tuple[str, ...]]:
    """The absolute dotted names (as tuples) that the file at ``path`` imports, anywhere in it
    (inside functions too); ``package`` is the package the file is in, against which its relative
    imports resolve. ``from a import b`` gives both a and a.b (b may be a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            named = tuple(node.module.split(".")) if node.module else ()
            parts = (*package[: len(package) - node.level + 1], *named) if node.level else named
            found |= {parts} | {(*parts, alias.name) for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {tuple(alias.name.split(".")) for alias in node.names}
    return {parts for parts in found if parts}


@cache
def direct_imports(path: Path) -> frozenset[str]:
    """The modules of this package that the file at ``path`` imports, anywhere in it (inside
    functions too)."""
    inside = path.is_relative_to(PACKAGE)
    package = (NAME, *path.relative_to(PACKAGE).parts[:-1]) if inside else ()
    found = {".".join(parts[1:]) for parts in imported_names(path, package) if parts[0] == NAME}
    return frozenset(m for m in found if m and module_path(m))


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


def own_files(source: Path, module: str | None = None) -> list[Path]:
    """An own constructor's file and the modules of your own it imports, transitively: for a
    ``file.py`` (``module`` None), the modules beside it (``import helpers``, ``from blocks import
    Block``: the folder is where they are imported from); for ``package.module``, the modules of
    its package (absolute or relative imports). Other imports (torch, ...) are not followed."""

    def package_of(path: Path, parts: tuple[str, ...]) -> tuple[str, ...]:
        """The package a module's file is in: the module itself where it is a package."""
        return parts if path.name == "__init__.py" else parts[:-1]

    source = source.resolve()
    if module is None:
        root, top, package = source.parent, None, ()
    else:
        parts = tuple(module.split("."))
        package = package_of(source, parts)
        root, top = source.parents[len(package)], parts[0]
    seen, todo = set(), [(source, package)]
    while todo:
        path, in_package = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for parts in imported_names(path, in_package):
            # a module and the packages above it (Python runs their __init__ too)
            for depth in range(1, len(parts) + 1):
                found = module_path(".".join(parts[:depth]), root)
                if found is not None and top in (None, parts[0]):
                    todo.append((found.resolve(), package_of(found, parts[:depth])))
    return sorted(seen)


def training_files(arch: str = "mlp", augment: str = "none") -> list[Path]:
    """The files a run of architecture ``arch`` with augmentation ``augment`` trains with."""
    files = closure(TRAINING_ENTRIES, OPTIONAL + RECORD_ONLY)
    files += closure(("models",), OPTIONAL + RECORD_ONLY)
    arch_module = source_module(arch)
    if arch_module is not None:
        files += closure((arch_module,), RECORD_ONLY)
    elif is_own(arch):
        target = arch.rpartition(":")[0]
        files += own_files(own_source(arch), None if target.endswith(".py") else target)
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
