"""The house numbers of the training core: no module over 450 lines, no function over 60 lines,
no signature over 6 parameters (self aside), and no import circle in the package (imports inside
functions count: a lazy import still ties two modules together)."""

import ast

import pytest

from collusion import fingerprint

# the training core: what a run is, how it is planned, trained, recorded and checked
CORE = (
    "spec",
    "pack",
    "train",
    "record",
    "checkpoint",
    "job",
    "plan",
    "pipeline",
    "checks",
    "costs",
    "fingerprint",
    "compare",
    "ensemble",
    "provenance",
    "data.prepared",
)


def source(module):
    path = fingerprint.module_path(module)
    return path.read_text(), ast.parse(path.read_text())


def functions(tree):
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


@pytest.mark.parametrize("module", CORE)
def test_a_core_module_is_short_and_so_are_its_functions_and_signatures(module):
    text, tree = source(module)
    assert len(text.splitlines()) <= 450, module
    for function in functions(tree):
        lines = function.end_lineno - function.lineno + 1
        assert lines <= 60, f"{module}.{function.name}: {lines} lines"
        arguments = function.args
        names = [a.arg for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs]
        names += [a.arg for a in (arguments.vararg, arguments.kwarg) if a is not None]
        names = [name for name in names if name not in ("self", "cls")]
        assert len(names) <= 6, f"{module}.{function.name}({', '.join(names)})"


def test_the_trainer_fits_in_one_sitting():
    _, tree = source("train")
    (trainer,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Trainer"]
    assert trainer.end_lineno - trainer.lineno + 1 <= 300


def test_no_import_circle_in_the_package():
    """bench/ aside: its cli reads the package's own docstring (``from . import __doc__``) while
    the package imports the cli."""
    modules = {}
    for path in fingerprint.PACKAGE.rglob("*.py"):
        parts = path.relative_to(fingerprint.PACKAGE).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if name and not name.startswith("bench"):
            modules[name] = fingerprint.direct_imports(path) - {name}
    # a module reaches itself through its imports: a circle
    for start in modules:
        seen, todo = set(), list(modules[start])
        while todo:
            module = todo.pop()
            assert module != start, f"{start} imports itself through {sorted(seen)}"
            if module not in seen:
                seen.add(module)
                todo += modules.get(module, ())
