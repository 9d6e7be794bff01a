"""Name -> constructor registry for base learners.

Every constructor takes ``in_shape`` (the shape of one input, e.g. ``(64,)`` or ``(3, 32, 32)``),
``out_dim`` (classes, or 1 for regression) and its own keyword options from the config, and
returns one ``nn.Module`` mapping ``(N, *in_shape)`` to ``(N, out_dim)``. The options a constructor
accepts, and their types, are its signature and annotations: ``check_options`` reads them, so a
config is checked at start against the same fact the job uses.

Torch-free: the registry names each constructor by its module and function (``"small:build_mlp"``)
and imports it only to build a model, and ``option_types`` reads the signature from the module's
source, so checking a configuration (the Snakefile, at every start) never imports torch.

A learner of your own is named in the configuration by its constructor, a function or an
``nn.Module`` class taking ``(in_shape, out_dim, **options)``: ``arch: "package.module:Name"`` (an
importable module) or ``arch: "file.py:Name"`` (a file beside the configuration;
``checks.resolve_files`` rewrites it relative to the working directory, where the training jobs
run). It is checked like the built-ins, from its source, and imported only to build. ``register``
takes a constructor itself, for Python use in one process only (a training job started by the
workflow is another process, which never sees it: the configuration check refuses it).
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import importlib
import importlib.util
import inspect
import sys
import types
import typing
import warnings
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


# options that are sizes (widths, depths, channels, kernels) wherever they appear, built-in or own:
# each value, or each value of a list, must be at least 1 (a width of 0 trains a constant learner,
# a negative one fails in torch)
SIZE_OPTIONS = (
    "hidden",
    "width",
    "widths",
    "channels",
    "depth",
    "dim",
    "dim_head",
    "heads",
    "mlp_dim",
    "kernel_size",
    "kernel_sizes",
    "patch_size",
)


class ArchitectureWarning(UserWarning):
    """An architecture's options that cannot be checked (a constructor taking ``**options``)."""


def register(name: str, constructor: Constructor) -> None:
    """A constructor under ``name``, in this process only (see the module docstring)."""
    ARCHITECTURES[name] = constructor


def is_own(arch: str) -> bool:
    """Is ``arch`` a constructor of your own, ``package.module:Name`` or ``file.py:Name``?"""
    return ":" in arch and arch not in ARCHITECTURES


def own_source(arch: str) -> Path:
    """The source file of an own constructor (finding a module imports its parent packages)."""
    target, _, name = arch.rpartition(":")
    if not target or not name.isidentifier():
        raise ValueError(
            f"{arch!r} names no constructor: write 'package.module:Name' or 'file.py:Name'"
        )
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise ValueError(
                f"{arch!r}: no file {target} (a file is looked for beside the configuration, "
                "then in the working directory)"
            )
        return path
    try:
        spec = importlib.util.find_spec(target)
    except (ImportError, ValueError) as error:
        spec, why = None, f": {error}"
    else:
        why = ""
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise ValueError(
            f"{arch!r}: module {target} cannot be imported{why}; install its package or add its "
            "folder to PYTHONPATH (the training jobs import it too), or name a file beside the "
            "configuration: 'file.py:Name'"
        )
    return Path(spec.origin)


def _load_file(path: Path) -> types.ModuleType:
    """A module from a file of your own, once per file (under a name derived from its path)."""
    resolved = path.resolve()
    name = f"collusion_own_{resolved.stem}_{hashlib.sha1(str(resolved).encode()).hexdigest()[:8]}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, resolved)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    return sys.modules[name]


def constructor(arch: str) -> Constructor:
    """The constructor of ``arch`` (imports its module: torch)."""
    if is_own(arch):
        target, _, name = arch.rpartition(":")
        if target.endswith(".py"):
            module = _load_file(own_source(arch))
        else:
            module = importlib.import_module(target)
        return getattr(module, name)
    entry = ARCHITECTURES[arch]
    if callable(entry):
        return entry
    module, function = entry.split(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), function)


def source_module(arch: str) -> str | None:
    """The module of this package that defines ``arch``'s constructor (``models.small``), or None
    for a constructor of your own or registered from elsewhere."""
    if is_own(arch):
        return None
    entry = ARCHITECTURES[arch]
    module = entry.__module__ if callable(entry) else f"{__name__}.{entry.split(':')[0]}"
    package = __name__.rpartition(".")[0]
    return module.removeprefix(package + ".") if module.startswith(package + ".") else None


def _definition(path: Path, name: str) -> ast.FunctionDef | None:
    """The constructor ``name`` at the top level of ``path``: a function, or a class's __init__
    (None: a class without one of its own, whose options cannot be read)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
        if isinstance(node, ast.ClassDef) and node.name == name:
            inits = [
                n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"
            ]
            if not inits:
                return None
            init = inits[0]
            init.args.args = init.args.args[1:]  # self
            return init
    defined = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    close = difflib.get_close_matches(name, defined, n=1)
    raise ValueError(
        f"{path} defines no function or class {name!r} at its top level"
        + (f"; did you mean {close[0]!r}?" if close else f"; it defines: {', '.join(defined)}")
    )


def _parameters(arch: str) -> list[tuple[str, Any, bool]]:
    """(name, annotation, is **kwargs) of each parameter after in_shape and out_dim."""
    if is_own(arch):
        node = _definition(own_source(arch), arch.rpartition(":")[2])
        if node is None:
            return [("options", None, True)]
        positional = [*node.args.posonlyargs, *node.args.args]
        if len(positional) < 2 and node.args.vararg is None:
            raise ValueError(
                f"{arch}: a constructor takes (in_shape, out_dim, **options), this one "
                f"({', '.join(a.arg for a in positional) or 'nothing'}) lacks the first two"
            )
    else:
        entry = ARCHITECTURES[arch]
        if callable(entry):
            parameters = list(inspect.signature(entry).parameters.values())[2:]
            return [(p.name, p.annotation, p.kind is p.VAR_KEYWORD) for p in parameters]
        module, function = entry.split(":")
        node = _definition(Path(__file__).parent / f"{module}.py", function)
    arguments = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs][2:]
    found = [(a.arg, a.annotation and ast.unparse(a.annotation), False) for a in arguments]
    if node.args.kwarg is not None:
        found.append((node.args.kwarg.arg, None, True))
    return found


def _hint(annotation) -> Any:
    if annotation is None or annotation is inspect.Parameter.empty:
        return Any
    if isinstance(annotation, str):
        try:
            return eval(annotation, {"__builtins__": {}}, _ANNOTATION_NAMES)  # names above only
        except Exception:  # an own constructor's annotation in other names: not checked
            return Any
    return annotation


def signature(arch: str) -> tuple[dict[str, Any], str | None]:
    """Option name -> annotated type of an architecture's constructor, and the name of its
    ``**options`` parameter (None: it takes only the options it names)."""
    parameters = _parameters(arch)
    named = {name: _hint(annotation) for name, annotation, var in parameters if not var}
    var_keyword = next((name for name, _, var in parameters if var), None)
    return named, var_keyword


def option_types(arch: str) -> dict[str, Any] | None:
    """Option name -> annotated type of an architecture's constructor (None: it takes any option)."""
    named, var_keyword = signature(arch)
    return None if var_keyword else named


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


def check_options(arch: str, options: dict, warn: bool = True) -> None:
    """Raise ValueError if an option is not a parameter of ``arch``'s constructor, has the wrong
    type, or is a size below 1 (the message names the option, the value, and what is allowed);
    warn (ArchitectureWarning) of the options a constructor taking ``**options`` does not name."""
    if arch not in ARCHITECTURES and not is_own(arch):
        raise ValueError(
            f"unknown architecture {arch!r}; allowed: {', '.join(sorted(ARCHITECTURES))}, or a "
            "constructor of your own: 'package.module:Name' or 'file.py:Name'"
        )
    allowed, var_keyword = signature(arch)
    for name, value in options.items():
        if name not in allowed and var_keyword is None:
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            listed = ", ".join(allowed) if allowed else f"none ({arch} takes no options)"
            raise ValueError(f"{name!r} is not an option of {arch}; {hint}allowed: {listed}")
        if name in allowed and not _matches(value, allowed[name]):
            raise ValueError(
                f"{name}: {value!r} ({type(value).__name__}) is not {_describe(allowed[name])}"
            )
        if name in SIZE_OPTIONS:
            values = value if isinstance(value, (list, tuple)) else [value]
            small = [v for v in values if _is_number(v) and v < 1]
            if small:
                raise ValueError(
                    f"{name}: {value!r} has a size below 1 ({', '.join(map(str, small))}); "
                    "widths, depths, channels and kernel sizes must be at least 1 (a width of 0 "
                    "trains a constant learner, a negative one fails in torch)"
                )
    unnamed = [name for name in options if name not in allowed]
    if unnamed and warn:
        named = ", ".join(allowed) or "none"
        warnings.warn(
            f"{arch} takes **{var_keyword}: its options {', '.join(unnamed)} are not among the "
            f"parameters it names ({named}), so a misspelt one would pass unnoticed; name them "
            "in its signature to have them checked",
            ArchitectureWarning,
            stacklevel=2,
        )


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def build_model(arch: str, in_shape: tuple[int, ...], out_dim: int, **options) -> nn.Module:
    check_options(arch, options, warn=False)
    try:
        return constructor(arch)(tuple(in_shape), int(out_dim), **options)
    except TypeError as error:
        raise ValueError(f"bad options {options} for architecture {arch!r}: {error}") from error


def check_forward(arch: str, options: dict, x, out_dim: int, name: str | None = None) -> None:
    """One learner of ``arch`` on the batch ``x`` (a few normalised examples): raise ValueError,
    naming the model (``name``: which learner it is) and the shapes, unless it maps
    (N, *in_shape) to (N, out_dim). Run on the CPU with the random state left as it was (the runs'
    learners and minibatches are unchanged)."""
    import torch

    label = f"{name} ({arch})" if name else f"architecture {arch!r}"
    x = x.detach().float().cpu()
    expected = (len(x), int(out_dim))
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        model = build_model(arch, tuple(x.shape[1:]), out_dim, **options).eval()
        try:
            out = model(x)
        except Exception as error:
            raise ValueError(
                f"{label} fails on a batch of shape {tuple(x.shape)} (N = {len(x)} examples of "
                f"the dataset): {type(error).__name__}: {error}"
            ) from error
    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    if shape != expected:
        raise ValueError(
            f"{label} maps a batch of shape {tuple(x.shape)} to {shape}; a learner must return "
            f"one row of out_dim = {out_dim} values per example, (N, {out_dim}) = {expected} "
            f"here{' (e.g. out.view(-1, 1), not (N,))' if out_dim == 1 else ''}: fix its forward"
        )
