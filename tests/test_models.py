"""Every architecture of the paper: builds, trains one step at tiny width on its natural input,
and refuses unsupported shapes with a message that names the model and the shape."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from collusion.models import ARCHITECTURES, build_model
from collusion.models.imagenet import mobilevit_side_ok

CIFAR = (3, 32, 32)
TINY = (3, 64, 64)
TINY_VIT = dict(patch_size=8, dim=32, depth=1, heads=2, dim_head=16, mlp_dim=64)

# (registry name, input shape, classes, options for a tiny but structurally complete version)
CASES = [
    ("resnet18", CIFAR, 10, dict(width=8)),
    ("resnet34", CIFAR, 10, dict(width=8)),
    ("vgg16_bn", CIFAR, 10, dict(width=8)),
    ("vit", TINY, 200, TINY_VIT),
    ("simple_vit", TINY, 200, TINY_VIT),
    # ImageNet models at full size (they have no width option) on small valid inputs
    ("tv_resnet18", TINY, 200, {}),
    ("tv_resnet34", TINY, 200, {}),
    ("squeezenet1_1", TINY, 200, {}),
    ("densenet121", TINY, 200, {}),
    ("shufflenet_v2_x1_0", TINY, 200, {}),
    ("mobilenet_v3_small", TINY, 200, {}),
    ("mobilevit_xs", TINY, 200, {}),
    ("cnn1d", (1, 40), 10, {}),
]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_every_paper_architecture_is_registered():
    assert {name for name, *_ in CASES} <= set(ARCHITECTURES)


@pytest.mark.parametrize("arch, in_shape, out_dim, options", CASES, ids=[c[0] for c in CASES])
def test_builds_and_trains_one_step(arch, in_shape, out_dim, options):
    torch.manual_seed(0)
    model = build_model(arch, in_shape, out_dim, **options)
    model.train()
    x = torch.randn(2, *in_shape)
    y = torch.tensor([0, out_dim - 1])
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    before = [p.detach().clone() for p in model.parameters()]

    out = model(x)
    assert out.shape == (2, out_dim)
    loss = nn.functional.cross_entropy(out, y)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    optimiser.step()

    changed = sum(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
    assert changed > 0.5 * len(before)  # most tensors moved (a few may get no gradient)
    model.eval()
    with torch.no_grad():
        assert model(x[:1]).shape == (1, out_dim)


@pytest.mark.parametrize("arch", ["resnet18", "vit", "tv_resnet18"])
def test_same_seed_same_weights(arch):
    in_shape, out_dim, options = next((s, k, o) for a, s, k, o in CASES if a == arch)
    states = []
    for _ in range(2):
        torch.manual_seed(123)
        states.append(build_model(arch, in_shape, out_dim, **options).state_dict())
    assert all(torch.equal(states[0][key], states[1][key]) for key in states[0])


# parameter counts of the full-size models; the CIFAR ResNets and torchvision models have
# well-known published counts, MobileViT-XS is "2.3M" in its paper
@pytest.mark.parametrize(
    "arch, in_shape, out_dim, expected",
    [
        ("resnet18", CIFAR, 10, 11_173_962),
        ("resnet34", CIFAR, 10, 21_282_122),
        ("tv_resnet18", (3, 224, 224), 1000, 11_689_512),
        ("tv_resnet34", (3, 224, 224), 1000, 21_797_672),
        ("squeezenet1_1", (3, 224, 224), 1000, 1_235_496),
        ("densenet121", (3, 224, 224), 1000, 7_978_856),
        # MNIST-1D ConvBase: 25·5+25, 2 × (25·25·3+25), 125·10+10
        ("cnn1d", (1, 40), 10, 150 + 2 * 1900 + 1260),
    ],
)
def test_parameter_counts(arch, in_shape, out_dim, expected):
    assert n_params(build_model(arch, in_shape, out_dim)) == expected


def test_cnn1d_channel_count_is_its_width():
    # 8 channels (the capacity axis): 8·5+8, 2 × (8·8·3+8), 8·5·10+10
    assert n_params(build_model("cnn1d", (1, 40), 10, channels=8)) == 48 + 2 * 200 + 410


def test_mobilevit_xs_size():
    assert 2.25e6 < n_params(build_model("mobilevit_xs", (3, 256, 256), 1000)) < 2.45e6


def test_vgg16_bn_structure():
    model = build_model("vgg16_bn", CIFAR, 10)
    kinds = [type(m) for m in model.modules()]
    assert kinds.count(nn.Conv2d) == 13 and kinds.count(nn.BatchNorm2d) == 13
    assert kinds.count(nn.Linear) == 2 and kinds.count(nn.MaxPool2d) == 5
    for depth, convs in [(11, 8), (13, 10), (19, 16)]:
        model = build_model("vgg16_bn", CIFAR, 10, depth=depth, width=4)
        assert [type(m) for m in model.modules()].count(nn.Conv2d) == convs
    no_dropout = build_model("vgg16_bn", CIFAR, 10, width=4, dropout=False)
    assert not any(isinstance(m, nn.Dropout) and m.p > 0 for m in no_dropout.modules())


@pytest.mark.parametrize(
    "arch, in_shape, options",
    [
        ("resnet18", (1, 8, 8), dict(width=4)),  # sklearn digits
        ("resnet34", (3, 64, 64), dict(width=4)),
        ("vgg16_bn", (1, 8, 8), dict(width=4)),
        ("vgg16_bn", (3, 64, 48), dict(width=4)),
        ("vit", (3, 32, 32), dict(TINY_VIT, patch_size=4)),
        ("vit", (1, 8, 8), dict(TINY_VIT, patch_size=[2, 4], pool="mean")),
        ("simple_vit", (3, 32, 48), dict(TINY_VIT, patch_size=8)),
        ("squeezenet1_1", (3, 17, 17), {}),
        ("densenet121", (3, 29, 40), {}),
        ("mobilenet_v3_small", (3, 32, 32), {}),
        ("mobilevit_xs", (3, 58, 128), {}),
    ],
)
def test_other_input_sizes(arch, in_shape, options):
    model = build_model(arch, in_shape, 7, **options).eval()
    with torch.no_grad():
        assert model(torch.randn(2, *in_shape)).shape == (2, 7)


@pytest.mark.parametrize(
    "arch, in_shape, options, words",
    [
        ("resnet18", (64,), {}, ["resnet18", "(64,)", "(C, H, W)"]),
        ("vgg16_bn", (64,), {}, ["vgg16_bn", "(C, H, W)"]),
        ("vgg16_bn", CIFAR, dict(depth=12), ["depth", "11, 13, 16, 19"]),
        ("vit", (3, 64, 64), dict(patch_size=7), ["vit", "64×64", "7×7", "divides"]),
        ("vit", (3, 64, 64), dict(TINY_VIT, pool="max"), ["pool", "'cls' or 'mean'"]),
        ("simple_vit", (3, 30, 30), dict(TINY_VIT), ["simple_vit", "30×30", "8×8"]),
        ("simple_vit", (3, 64, 64), dict(TINY_VIT, dim=6), ["dim", "multiple of 4"]),
        ("tv_resnet18", (1, 64, 64), {}, ["tv_resnet18", "3-channel", "(1, 64, 64)"]),
        ("densenet121", (3, 28, 28), {}, ["densenet121", "29×29", "28×28"]),
        ("squeezenet1_1", (3, 64, 16), {}, ["squeezenet1_1", "17×17", "64×16"]),
        ("mobilevit_xs", (3, 224, 224), {}, ["mobilevit_xs", "224×224", "256"]),
        ("mobilevit_xs", (3, 63, 64), {}, ["mobilevit_xs", "63×64"]),
        ("mobilevit_xs", (1, 64, 64), {}, ["mobilevit_xs", "3-channel"]),
        ("shufflenet_v2_x1_0", (3, 64, 64), dict(width=2), ["shufflenet_v2_x1_0", "width"]),
        ("cnn1d", (3, 32, 32), {}, ["cnn1d", "(C, L)"]),
        ("cnn1d", (1, 2), {}, ["cnn1d", "too short"]),
    ],
)
def test_unsupported_shapes_and_options_are_refused_clearly(arch, in_shape, options, words):
    with pytest.raises(ValueError) as error:
        build_model(arch, in_shape, 10, **options)
    for word in words:
        assert word in str(error.value)


def test_declared_minimum_sizes_are_the_real_ones():
    """One pixel below the declared minimum, the torchvision network itself fails."""
    import torchvision.models

    for name, side in [("squeezenet1_1", 16), ("densenet121", 28)]:
        model = getattr(torchvision.models, name)(weights=None, num_classes=3).eval()
        with pytest.raises(RuntimeError), torch.no_grad():
            model(torch.zeros(1, 3, side, side))


def test_mobilevit_side_rule_matches_the_network():
    from vit_pytorch.mobile_vit import MobileViT

    model = MobileViT(
        image_size=(64, 64),
        dims=[8, 8, 8],
        channels=[4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 8],
        num_classes=3,
    ).eval()
    for side in [32, 50, 56, 58, 62, 66, 96, 120, 122]:
        try:
            with torch.no_grad():
                model(torch.zeros(1, 3, side, side))
            works = True
        except RuntimeError:
            works = False
        assert mobilevit_side_ok(side) == works, side


def test_simple_vit_position_embedding_moves_with_the_model():
    model = build_model("simple_vit", TINY, 200, **TINY_VIT).double()
    assert model.pos_embedding.dtype == torch.float64  # a buffer, converted like the weights
    assert "pos_embedding" not in model.state_dict()  # the package's state dict is unchanged
    with torch.no_grad():
        assert model(torch.randn(2, *TINY, dtype=torch.float64)).shape == (2, 200)


def test_ensemble_of_new_architecture():
    from collusion.ensemble import Ensemble, build_members

    x = torch.randn(2, *CIFAR)
    outputs = []
    for _ in range(2):
        ensemble = Ensemble(
            build_members("resnet18", CIFAR, 10, n_members=3, seed=0, options=dict(width=4))
        )
        with torch.no_grad():
            outputs.append(ensemble.eval()(x))
    assert outputs[0].shape == (3, 2, 10)
    assert torch.equal(outputs[0], outputs[1])  # same seed, same members
    assert not torch.allclose(outputs[0][0], outputs[0][1])  # members differ
