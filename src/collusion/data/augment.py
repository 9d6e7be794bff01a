"""Training-time data augmentation on the device, for whole batches at once.

An augmentation is a callable ``augment(x, generator) -> Tensor``: ``x`` is a batch (N, C, H, W)
of uint8 or float images in raw pixel units (apply it *before* normalising, so padding and the
corners uncovered by a rotation are black, as in torchvision's PIL pipeline); ``generator`` is a
``torch.Generator`` on ``x``'s device, so a seeded generator gives the same batch every time. The
result has the same shape, as float32 (float64 stays float64). Every image gets its own random
parameters; nothing loops over images in Python and nothing waits for the device.

Presets (``AUGMENTATIONS``):

- ``none``          no change (just the cast to float)
- ``cifar``         random crop with 4-pixel zero padding, horizontal flip (p = 0.5), rotation by
                    an angle uniform in [-15°, 15°] with nearest-neighbour sampling: the authors'
                    ``RandomCrop(32, padding=4)``, ``RandomHorizontalFlip()``, ``RandomRotation(15)``
- ``svhn``          horizontal flip only (the authors' SVHN transform)
- ``tinyimagenet``  random crop with 8-pixel zero padding (the same 1/8 of the side as CIFAR's 4 of
                    32) and horizontal flip; our choice, the paper gives none for Tiny ImageNet
- ``imagenet``      random resized crop (area 8–100 %, aspect ratio 3/4–4/3, bilinear, back to the
                    stored size) and horizontal flip: the authors' ImageNet training transform
                    (``RandomResizedCrop`` + ``RandomHorizontalFlip``), applied to the stored images

Each transform has ``sample(n, height, width, generator, device)`` (the random draws) and
``apply(x, params)`` (deterministic), so the draws can be checked against a reference.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

Augmentation = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def _as_float(x: torch.Tensor) -> torch.Tensor:
    if x.ndim != 4:
        raise ValueError(
            f"augmentation expects a batch of images (N, C, H, W), got shape {tuple(x.shape)}"
        )
    # float16/bfloat16 are promoted: sampling positions need float32 precision
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def _check_generator(x: torch.Tensor, generator: torch.Generator) -> None:
    if generator.device.type != x.device.type:
        raise ValueError(
            f"the augmentation generator is on {generator.device} but the batch is on {x.device}; "
            f"create it with torch.Generator(device=x.device)"
        )


def _rand(n: int, generator: torch.Generator, device) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=device)


@dataclass(frozen=True)
class CropFlipRotate:
    """Zero-pad by ``padding`` and crop back at a random offset, flip horizontally with
    probability ``flip``, then rotate about the centre by a random angle in [-degrees, degrees]
    (counter-clockwise positive, corners filled with 0). Order as in torchvision's Compose."""

    padding: int = 0
    flip: float = 0.0
    degrees: float = 0.0
    interpolation: str = "nearest"

    def sample(self, n: int, height: int, width: int, generator: torch.Generator, device) -> dict:
        params = {}
        if self.padding:
            # offsets (top, left) of the crop inside the padded image, in 0 .. 2·padding
            span = 2 * self.padding + 1
            params["top"] = torch.randint(0, span, (n,), generator=generator, device=device)
            params["left"] = torch.randint(0, span, (n,), generator=generator, device=device)
        if self.flip:
            params["flip"] = _rand(n, generator, device) < self.flip
        if self.degrees:
            params["angle"] = (2 * _rand(n, generator, device) - 1) * self.degrees
        return params

    def apply(self, x: torch.Tensor, params: dict) -> torch.Tensor:
        x = _as_float(x)
        if self.padding or self.flip:
            x = _shift_and_flip(x, params, self.padding)
        if self.degrees:
            x = _rotate(x, params["angle"], self.interpolation)
        return x

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        _check_generator(x, generator)
        return self.apply(x, self.sample(x.shape[0], x.shape[-2], x.shape[-1], generator, x.device))


def _shift_and_flip(x: torch.Tensor, params: dict, padding: int) -> torch.Tensor:
    """out[n, :, r, c] = x[n, :, r + top - padding, c' + left - padding] (0 outside), where
    c' = W - 1 - c for flipped images: crop of the zero-padded image, then flip."""
    n, channels, height, width = x.shape
    device = x.device
    rows = torch.arange(height, device=device).expand(n, height)
    cols = torch.arange(width, device=device).expand(n, width)
    if "flip" in params:
        cols = torch.where(params["flip"][:, None], width - 1 - cols, cols)
    if padding:
        rows = rows + (params["top"] - padding)[:, None]
        cols = cols + (params["left"] - padding)[:, None]
    row_ok = (rows >= 0) & (rows < height)
    col_ok = (cols >= 0) & (cols < width)
    rows = rows.clamp(0, height - 1)
    cols = cols.clamp(0, width - 1)
    out = x.gather(2, rows[:, None, :, None].expand(n, channels, height, width))
    out = out.gather(3, cols[:, None, None, :].expand(n, channels, height, width))
    keep = row_ok[:, None, :, None] & col_ok[:, None, None, :]
    return torch.where(keep, out, 0.0)


def _centred_grid(height: int, width: int, dtype, device) -> torch.Tensor:
    """(1, H·W, 3) rows (x, y, 1) of pixel centres measured from the image centre."""
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=dtype, device=device) - (height - 1) / 2,
        torch.arange(width, dtype=dtype, device=device) - (width - 1) / 2,
        indexing="ij",
    )
    return torch.stack([xs, ys, torch.ones_like(xs)], dim=-1).view(1, height * width, 3)


def _rotate(x: torch.Tensor, angle: torch.Tensor, mode: str) -> torch.Tensor:
    """Rotate each image about its centre by ``angle`` degrees (counter-clockwise on screen), the
    sampling grid built in pixel units as torchvision's ``rotate`` builds it, 0 outside."""
    n, _, height, width = x.shape
    radians = torch.deg2rad(angle.double())
    cos, sin = radians.cos().to(x.dtype), radians.sin().to(x.dtype)
    zero = torch.zeros_like(cos)
    # inverse map, output pixel (x, y, 1) -> input pixel: [[cos, -sin, 0], [sin, cos, 0]], then
    # rescaled to grid_sample's [-1, 1] (align_corners=False); stored transposed for the matmul.
    # Python-scalar divisions: a device tensor built from a list would block on a GPU.
    theta = torch.stack(
        [
            torch.stack([cos / (0.5 * width), sin / (0.5 * height)], dim=1),
            torch.stack([-sin / (0.5 * width), cos / (0.5 * height)], dim=1),
            torch.stack([zero, zero], dim=1),
        ],
        dim=1,
    )
    grid = _centred_grid(height, width, x.dtype, x.device).expand(n, -1, -1).bmm(theta)
    grid = grid.view(n, height, width, 2)
    return F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)


@dataclass(frozen=True)
class ResizedCropFlip:
    """torchvision's RandomResizedCrop at the input's own size, then a horizontal flip with
    probability ``flip``. The crop box (integer pixels) is drawn as torchvision draws it: up to
    ``attempts`` tries of area fraction in ``scale`` and log-uniform aspect ratio in ``ratio``,
    falling back to the largest central box within the ratio range."""

    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip: float = 0.5
    attempts: int = 10

    def sample(self, n: int, height: int, width: int, generator: torch.Generator, device) -> dict:
        u_area = torch.rand((n, self.attempts), generator=generator, device=device)
        u_ratio = torch.rand((n, self.attempts), generator=generator, device=device)
        low, high = self.scale
        area = height * width * (low + (high - low) * u_area)
        log_low, log_high = math.log(self.ratio[0]), math.log(self.ratio[1])
        aspect = torch.exp(log_low + (log_high - log_low) * u_ratio)
        box_w = torch.round(torch.sqrt(area * aspect))
        box_h = torch.round(torch.sqrt(area / aspect))
        fits = (box_w > 0) & (box_w <= width) & (box_h > 0) & (box_h <= height)
        # index of the first attempt that fits, per image (self.attempts if none does)
        attempt = torch.arange(self.attempts, device=device)
        first = torch.where(fits, attempt, self.attempts).amin(dim=1)
        any_fit = first < self.attempts
        pick = first.clamp(max=self.attempts - 1)[:, None]
        box_w = box_w.gather(1, pick)[:, 0]
        box_h = box_h.gather(1, pick)[:, 0]
        # fallback: the whole image trimmed to the allowed aspect ratios, centred
        in_ratio = width / height
        if in_ratio < self.ratio[0]:
            fallback_w, fallback_h = width, int(round(width / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            fallback_w, fallback_h = int(round(height * self.ratio[1])), height
        else:
            fallback_w, fallback_h = width, height
        box_w = torch.where(any_fit, box_w, float(fallback_w)).long()
        box_h = torch.where(any_fit, box_h, float(fallback_h)).long()
        # top-left corner uniform over the valid positions (centred for the fallback)
        top = torch.floor(_rand(n, generator, device) * (height - box_h + 1)).long()
        left = torch.floor(_rand(n, generator, device) * (width - box_w + 1)).long()
        top = torch.where(any_fit, top, (height - box_h) // 2)
        left = torch.where(any_fit, left, (width - box_w) // 2)
        params = {"top": top, "left": left, "height": box_h, "width": box_w}
        if self.flip:
            params["flip"] = _rand(n, generator, device) < self.flip
        return params

    def apply(self, x: torch.Tensor, params: dict) -> torch.Tensor:
        x = _as_float(x)
        n, _, height, width = x.shape

        def source(size: int, start: torch.Tensor, extent: torch.Tensor, flip) -> torch.Tensor:
            # bilinear resize with align_corners=False: output pixel i samples the box at
            # (i + 0.5)·extent/size − 0.5, clamped to the box (as F.interpolate does)
            i = torch.arange(size, dtype=x.dtype, device=x.device)
            if flip is not None:
                i = torch.where(flip[:, None], size - 1 - i, i)
            extent = extent.to(x.dtype)[:, None]
            position = (i + 0.5) * extent / size - 0.5
            position = torch.minimum(position.clamp(min=0), extent - 1) + start.to(x.dtype)[:, None]
            return (2 * position + 1) / size - 1  # grid_sample coordinates of the full image

        gy = source(height, params["top"], params["height"], None)
        gx = source(width, params["left"], params["width"], params.get("flip"))
        grid = torch.stack(
            [gx[:, None, :].expand(n, height, width), gy[:, :, None].expand(n, height, width)],
            dim=-1,
        )
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        _check_generator(x, generator)
        return self.apply(x, self.sample(x.shape[0], x.shape[-2], x.shape[-1], generator, x.device))


def _none(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return _as_float(x)


PRESETS: dict[str, Augmentation] = {
    "none": _none,
    "cifar": CropFlipRotate(padding=4, flip=0.5, degrees=15.0),
    "svhn": CropFlipRotate(flip=0.5),
    "tinyimagenet": CropFlipRotate(padding=8, flip=0.5),
    "imagenet": ResizedCropFlip(),
}
AUGMENTATIONS: list[str] = list(PRESETS)


def build_augmentation(name: str) -> Augmentation:
    """The augmentation preset ``name``; see the module docstring for what each one does."""
    if name not in PRESETS:
        raise ValueError(f"unknown augmentation {name!r}; allowed: {', '.join(AUGMENTATIONS)}")
    return PRESETS[name]
