"""The ImageNet base learners of the paper's table: torchvision models with random initialisation
(``weights=None``) and vit-pytorch's MobileViT-XS.

All expect 3-channel images. Per-side minimum sizes are where the network's last feature map would
become empty (measured with torchvision 0.29): SqueezeNet 1.1 needs 17 pixels, DenseNet-121 29;
the others accept any size. MobileViT splits its last three feature maps (1/8, 1/16, 1/32 of the
input, rounded up) into 2×2 patches, so those must have even sides: 64, 128 and 256 work, 224 does
not (the authors trained MobileViT on 256×256 crops).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where a model is built: the registry stays torch-free
    import torch.nn as nn

# registry name -> (torchvision constructor name, smallest supported side in pixels)
TORCHVISION_MODELS = {
    "tv_resnet18": ("resnet18", 1),
    "tv_resnet34": ("resnet34", 1),
    "squeezenet1_1": ("squeezenet1_1", 17),
    "densenet121": ("densenet121", 29),
    "shufflenet_v2_x1_0": ("shufflenet_v2_x1_0", 1),
    "mobilenet_v3_small": ("mobilenet_v3_small", 1),
}


def _check_rgb(name: str, in_shape: tuple[int, ...]) -> tuple[int, int]:
    if len(in_shape) != 3 or in_shape[0] != 3:
        raise ValueError(
            f"{name} needs 3-channel images (3, H, W), got input shape {in_shape}; "
            "use resnet18/vgg16_bn/cnn for other channel counts"
        )
    return in_shape[1], in_shape[2]


def _torchvision_constructor(name: str) -> Callable[..., nn.Module]:
    tv_name, min_side = TORCHVISION_MODELS[name]

    def build(in_shape: tuple[int, ...], out_dim: int) -> nn.Module:
        height, width = _check_rgb(name, in_shape)
        if min(height, width) < min_side:
            raise ValueError(
                f"{name} needs images of at least {min_side}×{min_side} pixels, "
                f"got {height}×{width}"
            )
        import torchvision.models

        return getattr(torchvision.models, tv_name)(weights=None, num_classes=out_dim)

    build.__name__ = build.__qualname__ = f"build_{name}"
    build.__doc__ = f"torchvision.models.{tv_name}(weights=None, num_classes=out_dim); no options."
    return build


def mobilevit_side_ok(side: int, patch: int = 2) -> bool:
    """Whether MobileViT can take this image side: the side itself (checked by the package) and the
    maps after the 3rd, 4th and 5th stride-2 stage (each ceil(side / 2)) must be divisible by the
    patch size."""
    checked = [side]
    for stage in range(1, 6):
        side = math.ceil(side / 2)
        if stage >= 3:
            checked.append(side)
    return all(size % patch == 0 for size in checked)


def build_mobilevit_xs(in_shape: tuple[int, ...], out_dim: int) -> nn.Module:
    """vit_pytorch MobileViT in its XS configuration (as in the package's README and the authors'
    code: dims 96/120/144, channels 16…384, expansion 4, 2×2 patches); no options."""
    height, width = _check_rgb("mobilevit_xs", in_shape)
    bad = [side for side in (height, width) if not mobilevit_side_ok(side)]
    if bad:
        valid = [s for s in range(1, bad[0] + 65) if mobilevit_side_ok(s)]
        near = sorted(valid, key=lambda s: abs(s - bad[0]))[:2]
        raise ValueError(
            f"mobilevit_xs cannot take {height}×{width} images: it cuts the image and its 1/8, "
            f"1/16 and 1/32 feature maps into 2×2 patches, so all need even sides, and a side of "
            f"{bad[0]} does not give that; nearest valid sides: {sorted(near)} (64, 128 and 256 "
            f"work; 224 does not, the authors used 256×256 crops)"
        )
    from vit_pytorch.mobile_vit import MobileViT

    return MobileViT(
        image_size=(height, width),
        dims=[96, 120, 144],
        channels=[16, 32, 48, 48, 64, 64, 80, 80, 96, 96, 384],
        num_classes=out_dim,
    )


TORCHVISION_CONSTRUCTORS = {name: _torchvision_constructor(name) for name in TORCHVISION_MODELS}
