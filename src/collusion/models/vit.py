"""ViT and SimpleViT for Tiny ImageNet (64×64, 200 classes), as defined by the vit-pytorch package.

The package is a dependency (its version is recorded in provenance); this module only validates the
input shape and options and chooses defaults. The defaults are ours (the paper does not give its
configuration): 8×8 patches (64 tokens on 64×64 images), width 384, 6 layers, 6 heads of 64,
MLP width 768; ViT also uses dropout 0.1 on the embeddings and inside the blocks.
"""

from __future__ import annotations

import torch.nn as nn


def _pair(value) -> tuple[int, int]:
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(f"patch_size must be an integer or a pair, got {value}")
        return int(value[0]), int(value[1])
    return int(value), int(value)


def _check(name: str, in_shape: tuple[int, ...], patch_size, dim: int, depth: int, heads: int):
    if len(in_shape) != 3:
        raise ValueError(
            f"{name} needs image inputs (C, H, W), got input shape {in_shape}; use 'mlp' for tables"
        )
    _, height, width = in_shape
    ph, pw = _pair(patch_size)
    if ph < 1 or pw < 1 or height % ph or width % pw:
        raise ValueError(
            f"{name}: image size {height}×{width} is not divisible by patch_size {ph}×{pw}; "
            f"choose a patch size that divides both sides (e.g. 4 or 8 for 32×32 and 64×64 images)"
        )
    for option, value in (("dim", dim), ("depth", depth), ("heads", heads)):
        if int(value) < 1:
            raise ValueError(f"{name} option {option} must be a positive integer, got {value}")
    return (height, width), (ph, pw)


def build_vit(
    in_shape: tuple[int, ...],
    out_dim: int,
    patch_size: int | list[int] = 8,
    dim: int = 384,
    depth: int = 6,
    heads: int = 6,
    dim_head: int = 64,
    mlp_dim: int = 768,
    pool: str = "cls",
    dropout: float = 0.1,
    emb_dropout: float = 0.1,
) -> nn.Module:
    """vit_pytorch.ViT (learned position embedding, class token or mean pooling)."""
    image_size, patch = _check("vit", in_shape, patch_size, dim, depth, heads)
    if pool not in ("cls", "mean"):
        raise ValueError(f"vit option pool must be 'cls' or 'mean', got {pool!r}")
    from vit_pytorch.vit import ViT

    return ViT(
        image_size=image_size,
        patch_size=patch,
        num_classes=out_dim,
        dim=int(dim),
        depth=int(depth),
        heads=int(heads),
        mlp_dim=int(mlp_dim),
        pool=pool,
        channels=in_shape[0],
        dim_head=int(dim_head),
        dropout=float(dropout),
        emb_dropout=float(emb_dropout),
    )


def build_simple_vit(
    in_shape: tuple[int, ...],
    out_dim: int,
    patch_size: int | list[int] = 8,
    dim: int = 384,
    depth: int = 6,
    heads: int = 6,
    dim_head: int = 64,
    mlp_dim: int = 768,
) -> nn.Module:
    """vit_pytorch.SimpleViT (fixed 2-D sin-cos position embedding, mean pooling, no dropout)."""
    image_size, patch = _check("simple_vit", in_shape, patch_size, dim, depth, heads)
    if int(dim) % 4 or int(dim) < 8:
        raise ValueError(
            f"simple_vit option dim must be a multiple of 4 and at least 8 (its sin-cos position "
            f"embedding splits dim in four), got {dim}"
        )
    from vit_pytorch.simple_vit import SimpleViT

    model = SimpleViT(
        image_size=image_size,
        patch_size=patch,
        num_classes=out_dim,
        dim=int(dim),
        depth=int(depth),
        heads=int(heads),
        mlp_dim=int(mlp_dim),
        channels=in_shape[0],
        dim_head=int(dim_head),
    )
    # SimpleViT keeps its position embedding as a plain tensor attribute and copies it to the
    # input's device on every forward (a blocking host-to-device copy per step on a GPU). As a
    # non-persistent buffer it moves with .to(device) once; the state dict is unchanged.
    embedding = model.pos_embedding
    del model.pos_embedding
    model.register_buffer("pos_embedding", embedding, persistent=False)
    return model
