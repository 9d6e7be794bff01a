"""Device-side batched augmentation against torchvision's per-image functional transforms, applied
in a loop with the same drawn parameters, and reproducibility from a seeded generator.

Tolerances: crop, flip and nearest-neighbour rotation move whole pixels, so they must match
exactly; bilinear resampling (rotation, resized crop) must agree within 2e-3 on a 0–255 scale
(float32 rounding of the sampling positions; one intensity level is 1.0).
"""

from __future__ import annotations

import pytest
import torch

from collusion.data.augment import (
    AUGMENTATIONS,
    CropFlipRotate,
    ResizedCropFlip,
    build_augmentation,
)

BILINEAR_ATOL = 2e-3


@pytest.fixture(scope="module")
def tf():
    import torchvision.transforms.v2.functional as functional

    return functional


def images(n, c, h, w, seed=0, dtype=torch.uint8):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, c, h, w), generator=g, dtype=torch.uint8)
    return x if dtype == torch.uint8 else x.to(dtype)


def draws(aug, x, seed):
    return aug.sample(
        x.shape[0], x.shape[-2], x.shape[-1], torch.Generator().manual_seed(seed), x.device
    )


def reference_crop_flip_rotate(tf, x, params, padding, interpolation):
    """torchvision, image by image: pad, crop at the drawn offsets, flip, rotate."""
    mode = {"nearest": tf.InterpolationMode.NEAREST, "bilinear": tf.InterpolationMode.BILINEAR}
    out = []
    for n, image in enumerate(x):
        h, w = image.shape[-2:]
        if padding:
            image = tf.pad(image, [padding])
            image = tf.crop(image, int(params["top"][n]), int(params["left"][n]), h, w)
        if "flip" in params and params["flip"][n]:
            image = tf.horizontal_flip(image)
        if "angle" in params:
            image = tf.rotate(image, float(params["angle"][n]), interpolation=mode[interpolation])
        out.append(image)
    return torch.stack(out).float()


def test_preset_names_and_unknown_name():
    assert AUGMENTATIONS == ["none", "cifar", "svhn", "tinyimagenet", "imagenet"]
    with pytest.raises(ValueError) as error:
        build_augmentation("autoaugment")
    assert "autoaugment" in str(error.value)
    assert all(name in str(error.value) for name in AUGMENTATIONS)


@pytest.mark.parametrize("shape", [(48, 3, 32, 32), (16, 1, 20, 28)])
def test_cifar_matches_torchvision_exactly(tf, shape):
    x = images(*shape)
    aug = build_augmentation("cifar")
    params = draws(aug, x, seed=1)
    expected = reference_crop_flip_rotate(tf, x, params, padding=4, interpolation="nearest")
    out = aug(x, torch.Generator().manual_seed(1))
    assert out.dtype == torch.float32 and out.shape == x.shape
    assert torch.equal(out, expected)


def test_bilinear_rotation_matches_torchvision(tf):
    x = images(32, 3, 32, 32, dtype=torch.float32)
    aug = CropFlipRotate(padding=4, flip=0.5, degrees=15.0, interpolation="bilinear")
    params = draws(aug, x, seed=2)
    expected = reference_crop_flip_rotate(tf, x, params, padding=4, interpolation="bilinear")
    torch.testing.assert_close(aug.apply(x, params), expected, rtol=0, atol=BILINEAR_ATOL)


@pytest.mark.parametrize(
    "name, padding, shape", [("svhn", 0, (32, 3, 32, 32)), ("tinyimagenet", 8, (32, 3, 64, 64))]
)
def test_crop_flip_presets_match_torchvision_exactly(tf, name, padding, shape):
    x = images(*shape)
    aug = build_augmentation(name)
    params = draws(aug, x, seed=3)
    assert "angle" not in params and ("top" in params) == bool(padding)
    expected = reference_crop_flip_rotate(tf, x, params, padding=padding, interpolation="nearest")
    assert torch.equal(aug(x, torch.Generator().manual_seed(3)), expected)


def test_svhn_flips_only():
    x = images(64, 3, 32, 32)
    out = build_augmentation("svhn")(x, torch.Generator().manual_seed(4))
    flipped = (out == x.flip(-1).float()).flatten(1).all(1)
    kept = (out == x.float()).flatten(1).all(1)
    assert (flipped | kept).all() and flipped.any() and kept.any()


@pytest.mark.parametrize("shape", [(48, 3, 64, 64), (16, 3, 40, 56)])
def test_imagenet_matches_torchvision_resized_crop(tf, shape):
    x = images(*shape, dtype=torch.float32)
    aug = build_augmentation("imagenet")
    params = draws(aug, x, seed=5)
    h, w = shape[-2:]
    expected = []
    for n, image in enumerate(x):
        box = [int(params[k][n]) for k in ("top", "left", "height", "width")]
        image = tf.resized_crop(
            image, *box, [h, w], interpolation=tf.InterpolationMode.BILINEAR, antialias=True
        )
        expected.append(tf.horizontal_flip(image) if params["flip"][n] else image)
    out = aug(x, torch.Generator().manual_seed(5))
    torch.testing.assert_close(out, torch.stack(expected), rtol=0, atol=BILINEAR_ATOL)


def test_resized_crop_draws_are_valid():
    aug = ResizedCropFlip()
    h, w = 64, 48
    p = aug.sample(4000, h, w, torch.Generator().manual_seed(6), "cpu")
    assert (p["height"] >= 1).all() and (p["width"] >= 1).all()
    assert (p["top"] >= 0).all() and (p["top"] + p["height"] <= h).all()
    assert (p["left"] >= 0).all() and (p["left"] + p["width"] <= w).all()
    area = (p["height"] * p["width"]).float() / (h * w)
    aspect = p["width"].float() / p["height"].float()
    # rounding the sides to whole pixels moves area and aspect a little past the drawn ranges
    assert area.min() > 0.05 and area.max() <= 1
    assert aspect.min() > 0.6 and aspect.max() < 1.6
    assert 0.45 < p["flip"].float().mean() < 0.55
    assert area.std() > 0.15  # really random, not a constant box


def test_resized_crop_fallback_is_torchvision_central_crop():
    from torchvision.transforms import RandomResizedCrop

    for h, w in [(32, 96), (96, 32), (40, 48)]:
        # an area of 2–3 × the image never fits, so both fall back to the central crop
        expected = RandomResizedCrop.get_params(
            torch.zeros(3, h, w), scale=[2.0, 3.0], ratio=[3 / 4, 4 / 3]
        )
        p = ResizedCropFlip(scale=(2.0, 3.0)).sample(
            5, h, w, torch.Generator().manual_seed(0), "cpu"
        )
        for n in range(5):
            assert tuple(int(p[k][n]) for k in ("top", "left", "height", "width")) == expected


def test_cifar_draws_cover_their_ranges():
    aug = build_augmentation("cifar")
    p = aug.sample(5000, 32, 32, torch.Generator().manual_seed(7), "cpu")
    assert set(p["top"].tolist()) == set(range(9)) == set(p["left"].tolist())
    assert p["angle"].abs().max() <= 15 and p["angle"].min() < -14 and p["angle"].max() > 14
    assert 0.45 < p["flip"].float().mean() < 0.55


@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_same_seed_same_batch(name):
    x = images(16, 3, 64, 64)
    aug = build_augmentation(name)
    first = aug(x, torch.Generator().manual_seed(11))
    again = aug(x, torch.Generator().manual_seed(11))
    other = aug(x, torch.Generator().manual_seed(12))
    assert torch.equal(first, again)
    assert torch.equal(first, x.float()) == (name == "none")
    assert torch.equal(first, other) == (name == "none")


@pytest.mark.parametrize("name", AUGMENTATIONS)
@pytest.mark.parametrize(
    "dtype, out_dtype", [(torch.float64, torch.float64), (torch.bfloat16, torch.float32)]
)
def test_float_input_dtype_and_value_scale(name, dtype, out_dtype):
    x = images(8, 3, 32, 32, dtype=dtype)
    out = build_augmentation(name)(x, torch.Generator().manual_seed(0))
    assert out.dtype == out_dtype and out.shape == x.shape
    assert out.min() >= 0 and out.max() <= 255


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="N, C, H, W"):
        build_augmentation("cifar")(torch.zeros(3, 32, 32), torch.Generator())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_cuda_same_as_reference_and_generator_checked(tf):
    x = images(32, 3, 32, 32).cuda()
    aug = build_augmentation("cifar")
    params = aug.sample(32, 32, 32, torch.Generator("cuda").manual_seed(1), "cuda")
    expected = reference_crop_flip_rotate(
        tf, x.cpu(), {k: v.cpu() for k, v in params.items()}, 4, "nearest"
    )
    out = aug(x, torch.Generator("cuda").manual_seed(1))
    assert out.device.type == "cuda"
    assert torch.equal(out.cpu(), expected)
    with pytest.raises(ValueError, match="torch.Generator"):
        aug(x, torch.Generator())
