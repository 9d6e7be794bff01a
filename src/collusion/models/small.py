"""Small learners: an MLP for tables, flattened images and sequences, the authors' small CNN, and
the MNIST-1D paper's 1-D CNN."""

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


def build_cnn1d(
    in_shape: tuple[int, ...],
    out_dim: int,
    channels: int = 25,
    kernel_sizes: list[int] = (5, 3, 3),
) -> nn.Module:
    """The MNIST-1D paper's ``ConvBase``: three conv1d layers (stride 2, padding 1, ReLU) and a
    linear head; on length-40 sequences: 1 → 25 (k 5) → 25 (k 3) → 25 (k 3), 25 × 5 = 125 → out."""
    if len(in_shape) != 2:
        raise ValueError(f"cnn1d needs sequence inputs (C, L), got input shape {in_shape}")
    c, length = in_shape
    layers: list[nn.Module] = []
    for kernel in kernel_sizes:
        layers += [nn.Conv1d(c, int(channels), int(kernel), stride=2, padding=1), nn.ReLU()]
        c = int(channels)
        length = (length + 2 - int(kernel)) // 2 + 1
        if length < 1:
            raise ValueError(
                f"cnn1d: input length {in_shape[1]} is too short for kernels {kernel_sizes}"
            )
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * length, out_dim))
