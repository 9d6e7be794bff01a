"""Name -> constructor registry for base learners.

Every constructor takes ``in_shape`` (the shape of one input, e.g. ``(64,)`` or ``(3, 32, 32)``),
``out_dim`` (classes, or 1 for regression) and its own keyword options from the config, and
returns one ``nn.Module`` mapping ``(N, *in_shape)`` to ``(N, out_dim)``.
"""

from __future__ import annotations

from typing import Callable

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


def build_model(arch: str, in_shape: tuple[int, ...], out_dim: int, **options) -> nn.Module:
    if arch not in ARCHITECTURES:
        raise ValueError(
            f"unknown architecture {arch!r}; allowed: {', '.join(sorted(ARCHITECTURES))}"
        )
    try:
        return ARCHITECTURES[arch](tuple(in_shape), int(out_dim), **options)
    except TypeError as error:
        raise ValueError(f"bad options {options} for architecture {arch!r}: {error}") from error
