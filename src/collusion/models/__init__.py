"""Name -> constructor registry for base learners.

Every constructor takes ``in_shape`` (the shape of one input, e.g. ``(64,)`` or ``(3, 32, 32)``),
``out_dim`` (classes, or 1 for regression) and its own keyword options from the config, and
returns one ``nn.Module`` mapping ``(N, *in_shape)`` to ``(N, out_dim)``. The options a constructor
accepts, and their types, are its signature and annotations: ``check_options`` reads them, so a
config is checked at start against the same fact the job uses.

Torch-free: the registry names each constructor by its module and function (``"small:build_mlp"``)
and imports it only to build a model, and ``option_types`` reads the signature from the module's
source, so checking a configuration (the Snakefile, at every start) never imports torch.
``register`` also takes a constructor itself (a learner of your own).
"""

from __future__ import annotations

import ast
import difflib
import importlib
import inspect
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .imagenet import TORCHVISION_CONSTRUCTORS, build_mobilevit_xs  # torch-free at import

if TYPE_CHECKING:
    import torch.nn as nn

Constructor = Callable[..., "nn.Module"]

ARCHITECTURES: dict[str, str | Constructor] = {
    "mlp": "small:build_mlp",
    "cnn": "small:build_cnn",
    "cnn1d": "small:build_cnn1d",
    "resnet18": "resnet_cifar:build_resnet18",
    "resnet34": "resnet_cifar:build_resnet34",
    "vgg16_bn": "vgg:build_vgg",
    "vit": "vit:build_vit",
    "simple_vit": "vit:build_simple_vit",
    **TORCHVISION_CONSTRUCTORS,
    "mobilevit_xs": build_mobilevit_xs,
}
# the names an option's annotation may use
_ANNOTATION_NAMES = {
    **{t.__name__: t for t in (list, tuple, dict, int, float, bool, str)},
    "Any": Any,
    "Literal": Literal,
    "None": None,
}


def register(name: str, constructor: Constructor) -> None:
    ARCHITECTURES[name] = constructor


def constructor(arch: str) -> Constructor:
    """The constructor of ``arch`` (imports its module: torch)."""
    entry = ARCHITECTURES[arch]
    if callable(entry):
        return entry
    module, function = entry.split(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), function)


def source_module(arch: str) -> str | None:
    """The module of this package that defines ``arch``'s constructor (``models.small``), or None
    for a constructor registered from elsewhere."""
    entry = ARCHITECTURES[arch]
    module = entry.__module__ if callable(entry) else f"{__name__}.{entry.split(':')[0]}"
    package = __name__.rpartition(".")[0]
    return module.removeprefix(package + ".") if module.startswith(package + ".") else None


def _parameters(arch: str) -> list[tuple[str, Any, bool]]:
    """(name, annotation, is **kwargs) of each parameter after in_shape and out_dim."""
    entry = ARCHITECTURES[arch]
    if callable(entry):
        parameters = list(inspect.signature(entry).parameters.values())[2:]
        return [(p.name, p.annotation, p.kind is p.VAR_KEYWORD) for p in parameters]
    module, function = entry.split(":")
    tree = ast.parse((Path(__file__).parent / f"{module}.py").read_text(encoding="utf-8"))
    (node,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function]
    arguments = [*node.args.args, *node.args.kwonlyargs][2:]
    found = [(a.arg, a.annotation and ast.unparse(a.annotation), False) for a in arguments]
    if node.args.kwarg is not None:
        found.append((node.args.kwarg.arg, None, True))
    return found


def _hint(annotation) -> Any:
    if annotation is None or annotation is inspect.Parameter.empty:
        return Any
    if isinstance(annotation, str):
        return eval(annotation, {"__builtins__": {}}, _ANNOTATION_NAMES)  # names above only
    return annotation


def option_types(arch: str) -> dict[str, Any] | None:
    """Option name -> annotated type of an architecture's constructor (None: it takes any option)."""
    parameters = _parameters(arch)
    if any(var_keyword for _, _, var_keyword in parameters):
        return None
    return {name: _hint(annotation) for name, annotation, _ in parameters}


def _matches(value, hint) -> bool:
    if hint is Any:
        return True
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in args)
    if origin in (list, tuple):
        return isinstance(value, (list, tuple)) and all(_matches(v, args[0]) for v in value)
    if origin is typing.Literal:
        return value in args
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, hint)


def _describe(hint) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in args)
    if origin in (list, tuple):
        return f"a list of {_describe(args[0]).removeprefix('an ').removeprefix('a ')}s"
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, args))
    names = {
        int: "an integer",
        float: "a number",
        bool: "true or false",
        str: "a string",
        type(None): "null",
    }
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def check_options(arch: str, options: dict) -> None:
    """Raise ValueError if an option is not a parameter of ``arch``'s constructor or has the wrong
    type (the message names the option, the value, and what is allowed)."""
    if arch not in ARCHITECTURES:
        raise ValueError(
            f"unknown architecture {arch!r}; allowed: {', '.join(sorted(ARCHITECTURES))}"
        )
    allowed = option_types(arch)
    if allowed is None:
        return
    for name, value in options.items():
        if name not in allowed:
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            listed = ", ".join(allowed) if allowed else f"none ({arch} takes no options)"
            raise ValueError(f"{name!r} is not an option of {arch}; {hint}allowed: {listed}")
        if not _matches(value, allowed[name]):
            raise ValueError(
                f"{name}: {value!r} ({type(value).__name__}) is not {_describe(allowed[name])}"
            )


def build_model(arch: str, in_shape: tuple[int, ...], out_dim: int, **options) -> nn.Module:
    check_options(arch, options)
    try:
        return constructor(arch)(tuple(in_shape), int(out_dim), **options)
    except TypeError as error:
        raise ValueError(f"bad options {options} for architecture {arch!r}: {error}") from error
