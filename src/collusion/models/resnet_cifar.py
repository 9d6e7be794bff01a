"""ResNet-18/34 in the CIFAR variant used by the paper's β sweep.

Differences from the ImageNet ResNet: the stem is one 3×3 convolution with stride 1 and there is no
max-pool, so a 32×32 image reaches the last stage at 4×4. An adaptive average pool before the
classifier makes any input size work (8×8 digits, 32×32 CIFAR, 64×64 Tiny ImageNet). Weights keep
PyTorch's default initialisation, as in the authors' code.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with batch norm and an identity (or 1×1 projection) shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, blocks_per_stage: list[int], in_channels: int, num_classes: int, width: int):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        stages = []
        channels = width
        for index, n_blocks in enumerate(blocks_per_stage):
            out_channels = width * 2**index
            stride = 1 if index == 0 else 2
            blocks = []
            for block in range(n_blocks):
                blocks.append(BasicBlock(channels, out_channels, stride if block == 0 else 1))
                channels = out_channels
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.fc(torch.flatten(self.pool(x), 1))


def _build(name: str, blocks: list[int], in_shape: tuple[int, ...], out_dim: int, width: int):
    if len(in_shape) != 3:
        raise ValueError(
            f"{name} needs image inputs (C, H, W), got input shape {in_shape}; use 'mlp' for tables"
        )
    if int(width) < 1:
        raise ValueError(f"{name} option width must be a positive integer, got {width}")
    return CifarResNet(blocks, in_shape[0], out_dim, int(width))


def build_resnet18(in_shape: tuple[int, ...], out_dim: int, width: int = 64) -> nn.Module:
    """CIFAR ResNet-18 (stages of 2, 2, 2, 2 basic blocks); ``width`` = channels of the first stage."""
    return _build("resnet18", [2, 2, 2, 2], in_shape, out_dim, width)


def build_resnet34(in_shape: tuple[int, ...], out_dim: int, width: int = 64) -> nn.Module:
    """CIFAR ResNet-34 (stages of 3, 4, 6, 3 basic blocks); ``width`` = channels of the first stage."""
    return _build("resnet34", [3, 4, 6, 3], in_shape, out_dim, width)
