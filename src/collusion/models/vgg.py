"""VGG with batch norm, in the CIFAR form the authors used for SVHN.

Default: the VGG-16 configuration (13 convolutions in five blocks of 2, 2, 3, 3, 3), each
convolution followed by batch norm and ReLU, a 2×2 max-pool (ceil mode) after each block, dropout
between the convolutions of a block (0.3 in the first block, 0.4 after), and a classifier
dropout(0.5) → linear(512) → batch norm → ReLU → dropout(0.5) → linear. An adaptive average pool
before the classifier makes any input size work; for 32×32 inputs the last feature map is already
1×1, so the pool changes nothing there.
"""

from __future__ import annotations

import torch.nn as nn

# convolutions per block for each VGG depth; channels per block are width × (1, 2, 4, 8, 8)
CONVS_PER_BLOCK = {
    11: (1, 1, 2, 2, 2),
    13: (2, 2, 2, 2, 2),
    16: (2, 2, 3, 3, 3),
    19: (2, 2, 4, 4, 4),
}


def build_vgg(
    in_shape: tuple[int, ...],
    out_dim: int,
    depth: int = 16,
    width: int = 64,
    hidden: int | None = None,
    dropout: bool = True,
) -> nn.Module:
    """VGG-``depth`` with batch norm.

    Options: ``depth`` in {11, 13, 16, 19} (16 = 13 convolutions, the paper's VGG); ``width`` =
    channels of the first block (64); ``hidden`` = classifier width (default 8 × width = 512);
    ``dropout`` = the authors' dropout pattern (True) or none at all (False).
    """
    if len(in_shape) != 3:
        raise ValueError(
            f"vgg16_bn needs image inputs (C, H, W), got input shape {in_shape}; use 'mlp' for tables"
        )
    if int(depth) not in CONVS_PER_BLOCK:
        raise ValueError(
            f"vgg16_bn option depth must be one of {sorted(CONVS_PER_BLOCK)}, got {depth}"
        )
    if int(width) < 1:
        raise ValueError(f"vgg16_bn option width must be a positive integer, got {width}")
    width = int(width)
    hidden = 8 * width if hidden is None else int(hidden)

    layers: list[nn.Module] = []
    channels = in_shape[0]
    for block, (n_convs, multiple) in enumerate(zip(CONVS_PER_BLOCK[int(depth)], (1, 2, 4, 8, 8))):
        out_channels = width * multiple
        for conv in range(n_convs):
            if conv > 0 and dropout:
                layers.append(nn.Dropout(0.3 if block == 0 else 0.4))
            layers += [
                nn.Conv2d(channels, out_channels, 3, padding=1),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
            ]
            channels = out_channels
        layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))

    p = 0.5 if dropout else 0.0
    return nn.Sequential(
        *layers,
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(p),
        nn.Linear(channels, hidden),
        nn.BatchNorm1d(hidden),
        nn.ReLU(inplace=True),
        nn.Dropout(p),
        nn.Linear(hidden, out_dim),
    )
