"""Name -> constructor registry for base learners.

Every constructor takes ``in_shape`` (the shape of one input, e.g. ``(64,)`` or ``(3, 32, 32)``),
``out_dim`` (classes, or 1 for regression) and its own keyword options from the config, and
returns one ``nn.Module`` mapping ``(N, *in_shape)`` to ``(N, out_dim)``. The options a constructor
accepts, and their types, are its signature and annotations: ``check_options`` reads them, so a
config is checked at start against the same fact the job uses.
"""

from __future__ import annotations

import difflib
import inspect
import types
import typing
from collections.abc import Callable
from typing import Any

import torch.nn as nn

from .imagenet import TORCHVISION_CONSTRUCTORS, build_mobilevit_xs
from .resnet_cifar import build_resnet18, build_resnet34
from .small import build_cnn, build_cnn1d, build_mlp
from .vgg import build_vgg
from .vit import build_simple_vit, build_vit

Constructor = Callable[..., nn.Module]

ARCHITECTURES: dict[str, Constructor] = {
    "mlp": build_mlp,
    "cnn": build_cnn,
    "cnn1d": build_cnn1d,
    "resnet18": build_resnet18,
    "resnet34": build_resnet34,
    "vgg16_bn": build_vgg,
    "vit": build_vit,
    "simple_vit": build_simple_vit,
    **TORCHVISION_CONSTRUCTORS,
    "mobilevit_xs": build_mobilevit_xs,
}


def register(name: str, constructor: Constructor) -> None:
    ARCHITECTURES[name] = constructor


def option_types(arch: str) -> dict[str, Any] | None:
    """Option name -> annotated type of an architecture's constructor (None: it takes any option)."""
    constructor = ARCHITECTURES[arch]
    parameters = list(inspect.signature(constructor).parameters.values())[2:]  # in_shape, out_dim
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    hints = typing.get_type_hints(constructor)
    return {p.name: hints.get(p.name, Any) for p in parameters}


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
        return ARCHITECTURES[arch](tuple(in_shape), int(out_dim), **options)
    except TypeError as error:
        raise ValueError(f"bad options {options} for architecture {arch!r}: {error}") from error
