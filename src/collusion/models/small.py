"""Small learners: an MLP for tables and flattened images, and the authors' small CNN."""

from __future__ import annotations

import math

import torch.nn as nn


def build_mlp(in_shape: tuple[int, ...], out_dim: int, hidden: list[int] = (64, 64)) -> nn.Module:
    """ReLU MLP; image inputs are flattened."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(in_shape)
    for size in hidden:
        layers += [nn.Linear(width, int(size)), nn.ReLU()]
        width = int(size)
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


def build_cnn(
    in_shape: tuple[int, ...],
    out_dim: int,
    channels: list[int] = (10, 20),
    kernel_size: int = 5,
    hidden: int = 50,
    dropout: float = 0.1,
) -> nn.Module:
    """The authors' small CNN: conv(10) → pool → conv(20) → dropout → pool → FC(50) → FC.

    'same' padding keeps it valid for any input of at least 4×4 (8×8 digits, 28×28, 32×32).
    """
    if len(in_shape) != 3:
        raise ValueError(f"cnn needs image inputs (C, H, W), got input shape {in_shape}")
    c, h, w = in_shape
    if min(h, w) < 4:
        raise ValueError(f"cnn needs images of at least 4×4 pixels, got {h}×{w}")
    c1, c2 = (int(v) for v in channels)
    pad = kernel_size // 2
    features = nn.Sequential(
        nn.Conv2d(c, c1, kernel_size, padding=pad),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Conv2d(c1, c2, kernel_size, padding=pad),
        nn.Dropout2d(dropout),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Flatten(),
    )
    flat = c2 * (h // 2 // 2) * (w // 2 // 2)
    return nn.Sequential(
        features,
        nn.Linear(flat, hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, out_dim),
    )
