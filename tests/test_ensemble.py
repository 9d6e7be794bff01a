"""The ensemble: seeding (identical initial weights for every β) and its execution modes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from collusion import models, objective
from collusion.data.prepared import load_dataset, save_prepared
from collusion.ensemble import Ensemble, StackedConv1d, block_conv1d, build_members, member_seed
from collusion.models import build_model
from collusion.spec import Recipe, RunSpec
from collusion.train import Trainer


def parameters_equal(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def linears(member: nn.Module) -> list[nn.Linear]:
    return [layer for layer in member.modules() if isinstance(layer, nn.Linear)]


# -- seeding ---------------------------------------------------------------------------------------
def test_member_seed_is_deterministic_and_distinct():
    seeds = {(s, j): member_seed(s, j) for s in range(5) for j in range(20)}
    assert all(member_seed(s, j) == value for (s, j), value in seeds.items())
    assert len(set(seeds.values())) == len(seeds)  # distinct across members and run seeds
    assert all(0 <= value < 2**63 - 1 for value in seeds.values())


def test_same_seed_same_parameters_different_seed_different():
    def build(seed):
        return Ensemble(build_members("mlp", (6,), 3, 4, seed, {"hidden": [8]}), execution="loop")

    a, b, c = build(7), build(7), build(8)
    assert parameters_equal(a, b)
    for member_a, member_c in zip(a.body.members, c.body.members):
        assert not torch.equal(linears(member_a)[0].weight, linears(member_c)[0].weight)
    members = a.body.members  # members of one ensemble differ from each other too
    assert not torch.equal(linears(members[0])[0].weight, linears(members[1])[0].weight)


def test_member_j_does_not_depend_on_ensemble_size_or_global_rng():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    small = Ensemble(build_members("mlp", (6,), 3, 2, 5, {"hidden": [8]}), execution="loop")
    assert torch.equal(torch.get_rng_state(), before)  # building consumes none of the global stream
    torch.manual_seed(999)
    large = Ensemble(build_members("mlp", (6,), 3, 5, 5, {"hidden": [8]}), execution="loop")
    for j in range(2):
        assert parameters_equal(small.body.members[j], large.body.members[j])
    torch.manual_seed(member_seed(5, 1))  # member j is exactly the model built under member_seed
    assert parameters_equal(large.body.members[1], build_model("mlp", (6,), 3, hidden=[8]))


def write_tiny_dataset(path, task):
    rng = np.random.default_rng(0)
    if task == "images":  # 1×8×8 uint8 images, 3 classes
        X = rng.integers(0, 256, size=(40, 1, 8, 8), dtype=np.uint8)
        save_prepared(
            path,
            X=X,
            y=rng.integers(0, 3, 40),
            task="classification",
            n_classes=3,
            scale=255.0,
            mean=np.array([0.5]),
            std=np.array([0.25]),
        )
    elif task == "classification":
        X = rng.normal(size=(40, 5)).astype(np.float32)
        save_prepared(path, X=X, y=rng.integers(0, 3, 40), task=task, n_classes=3)
    else:
        X = rng.normal(size=(40, 5)).astype(np.float32)
        save_prepared(path, X=X, y=rng.normal(size=40).astype(np.float32), task=task, n_classes=0)
    return load_dataset(path, [0.5, 0.25, 0.25], split_seed=0)


@pytest.mark.parametrize(
    "task, aggregation, arch, options",
    [
        ("classification", "score", "mlp", {"hidden": [8, 8]}),
        ("regression", "regression", "mlp", {"hidden": [4]}),
        ("images", "probability", "cnn", {"channels": [2, 3], "hidden": 4}),
    ],
)
def test_trainer_gives_every_beta_the_same_initial_weights(
    tmp_path, task, aggregation, arch, options
):
    data = write_tiny_dataset(tmp_path / "tiny.npz", task)
    recipe = Recipe(epochs=1, lr=0.01, batch_size=8)

    def trainer(beta, seed=3):
        spec = RunSpec(arch, options, aggregation, n_members=3, beta=beta, seed=seed, recipe=recipe)
        return Trainer(spec, data, tmp_path / f"beta{beta}_seed{seed}")

    at_zero, at_one = trainer(0.0), trainer(1.0)
    assert parameters_equal(at_zero.ensemble, at_one.ensemble)
    assert not parameters_equal(at_zero.ensemble, trainer(0.0, seed=4).ensemble)


# -- stacked vs loop -------------------------------------------------------------------------------
MLP_CASES = [
    ((6,), 3, {"hidden": [8, 5]}),
    ((1, 4, 4), 4, {"hidden": [7]}),  # image input, flattened
    ((5,), 1, {"hidden": []}),  # a single Linear layer
]


def pair(in_shape, out_dim, options, n_members=4, seed=11):
    loop = Ensemble(
        build_members("mlp", in_shape, out_dim, n_members, seed, options), execution="loop"
    )
    stacked = Ensemble(
        build_members("mlp", in_shape, out_dim, n_members, seed, options), execution="stacked"
    )
    assert loop.execution == "loop" and stacked.execution == "stacked"
    return loop, stacked


def stacked_slices(stacked: Ensemble, j: int, grad: bool = False):
    """Learner j's (weight, bias) per layer in the stacked layout, as nn.Linear stores them."""
    pick = (lambda p: p.grad) if grad else (lambda p: p.detach())
    return [
        (pick(w)[j].T, pick(b)[j, 0]) for w, b in zip(stacked.body.weights, stacked.body.biases)
    ]


def loop_tensors(loop: Ensemble, j: int, grad: bool = False):
    pick = (lambda p: p.grad) if grad else (lambda p: p.detach())
    return [(pick(layer.weight), pick(layer.bias)) for layer in linears(loop.body.members[j])]


def assert_same_learners(loop, stacked, grad=False, **tolerance):
    for j in range(loop.n_members):
        got, expected = stacked_slices(stacked, j, grad), loop_tensors(loop, j, grad)
        assert len(got) == len(expected)
        for (w, b), (w_loop, b_loop) in zip(got, expected):
            torch.testing.assert_close(w, w_loop, **tolerance)
            torch.testing.assert_close(b, b_loop, **tolerance)


def batch(in_shape, out_dim, n=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, *in_shape, generator=g)
    y = (
        torch.randn(n, generator=g)
        if out_dim == 1
        else torch.randint(0, out_dim, (n,), generator=g)
    )
    return x, y, ("regression" if out_dim == 1 else "score")


@pytest.mark.parametrize("in_shape, out_dim, options", MLP_CASES)
def test_stacked_and_loop_are_the_same_learners(in_shape, out_dim, options):
    loop, stacked = pair(in_shape, out_dim, options)
    assert_same_learners(loop, stacked, rtol=0, atol=0)  # initialised from the very same modules
    x, _, _ = batch(in_shape, out_dim)
    out_loop, out_stacked = loop(x), stacked(x)
    assert out_stacked.shape == out_loop.shape == (4, 9, out_dim)
    torch.testing.assert_close(out_stacked, out_loop)


@pytest.mark.parametrize("in_shape, out_dim, options", MLP_CASES)
@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
def test_stacked_and_loop_gradients_match(in_shape, out_dim, options, beta):
    loop, stacked = pair(in_shape, out_dim, options)
    x, y, aggregation = batch(in_shape, out_dim)
    for ensemble in (loop, stacked):
        objective.beta_objective(ensemble(x), y, aggregation, beta).backward()
    assert_same_learners(loop, stacked, grad=True)


@pytest.mark.parametrize(
    "optimizer",
    [
        lambda params: torch.optim.Adam(params, lr=0.01),
        lambda params: torch.optim.Adam(params, lr=0.01, weight_decay=1e-3),
        lambda params: torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=5e-4),
    ],
    ids=["adam", "adam_wd", "sgd_momentum_wd"],
)
def test_stacked_and_loop_stay_equal_through_optimizer_steps(optimizer):
    in_shape, out_dim, options = (6,), 3, {"hidden": [8, 5]}
    loop, stacked = pair(in_shape, out_dim, options)
    optimizers = [optimizer(loop.parameters()), optimizer(stacked.parameters())]
    for step in range(5):
        x, y, aggregation = batch(in_shape, out_dim, seed=step)
        for ensemble, opt in zip((loop, stacked), optimizers):
            opt.zero_grad()
            objective.beta_objective(ensemble(x), y, aggregation, 0.75).backward()
            opt.step()
    x, _, _ = batch(in_shape, out_dim, seed=100)
    torch.testing.assert_close(stacked(x), loop(x), rtol=1e-4, atol=1e-5)
    assert_same_learners(loop, stacked, rtol=1e-4, atol=1e-5)
    initial, _ = pair(in_shape, out_dim, options)
    moved = stacked_slices(stacked, 0)[0][0]
    assert not torch.allclose(
        moved, loop_tensors(initial, 0)[0][0]
    )  # the steps did move the weights


# -- the stacked 1-D CNN (batched matmuls) vs the loop -------------------------------------------------
CONV1D_CASES = [
    ((1, 40), 10, {}),  # the MNIST-1D paper's ConvBase
    ((2, 13), 3, {"channels": 4, "kernel_sizes": [3, 2]}),  # odd lengths, two input channels
]


@pytest.mark.parametrize(
    "length, channels, kernel, stride, padding",
    [
        (19, 25, 3, 2, 1),  # the MNIST-1D CNN's second layer (odd length)
        (10, 25, 3, 2, 1),  # its third
        (40, 1, 5, 2, 1),  # its first
        (13, 2, 2, 2, 1),
        (12, 3, 3, 1, 0),  # stride 1: k shifts of one position
        (11, 2, 4, 1, 2),
        (17, 2, 2, 3, 0),  # stride > kernel: unused positions cropped
        (9, 2, 5, 2, 2),
    ],
)
def test_block_convolution_is_each_members_conv1d(length, channels, kernel, stride, padding):
    generator = torch.Generator().manual_seed(length * kernel + stride)
    h = torch.randn(3, 4, length, channels, generator=generator, requires_grad=True)  # (M, N, L, C)
    weight = torch.randn(3, 6, channels, kernel, generator=generator, requires_grad=True)
    bias = torch.randn(3, 1, 6, generator=generator, requires_grad=True)
    got = block_conv1d(h, weight, bias, kernel, stride, padding)
    expected = torch.stack(
        [
            F.conv1d(
                h[j].transpose(1, 2), weight[j], bias[j, 0], stride=stride, padding=padding
            ).transpose(1, 2)
            for j in range(3)
        ]
    )
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    probe = torch.randn(expected.shape, generator=generator)
    grads = torch.autograd.grad((got * probe).sum(), (h, weight, bias))
    for grad, expected_grad in zip(
        grads, torch.autograd.grad((expected * probe).sum(), (h, weight, bias))
    ):
        torch.testing.assert_close(grad, expected_grad, rtol=1e-5, atol=1e-5)


def conv_learner(loop: Ensemble, j: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    layers = [m for m in loop.body.members[j] if isinstance(m, (nn.Conv1d, nn.Linear))]
    return [(layer.weight, layer.bias) for layer in layers]


@pytest.mark.parametrize("in_shape, out_dim, options", CONV1D_CASES)
@pytest.mark.parametrize("aggregation, beta", [("score", 0.0), ("probability", 1.0)])
def test_stacked_conv1d_matches_the_loop_in_outputs_and_gradients(
    in_shape, out_dim, options, aggregation, beta
):
    loop = Ensemble(build_members("cnn1d", in_shape, out_dim, 3, 5, options), execution="loop")
    stacked = Ensemble(build_members("cnn1d", in_shape, out_dim, 3, 5, options))
    assert stacked.execution == "stacked"  # auto stacks the plain 1-D CNN
    x = torch.randn(6, *in_shape, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, out_dim, (6,), generator=torch.Generator().manual_seed(2))
    out_loop, out_stacked = loop(x), stacked(x)
    assert out_stacked.shape == (3, 6, out_dim)
    torch.testing.assert_close(out_stacked, out_loop, rtol=1e-5, atol=1e-6)
    for out in (out_loop, out_stacked):
        objective.beta_objective(out, y, aggregation, beta).backward()
    for j in range(3):
        for i, (weight, bias) in enumerate(conv_learner(loop, j)):
            # initialised from the very same modules; the stacked layout is the layer's own
            assert torch.equal(stacked.body.weights[i].detach()[j], weight.detach())
            torch.testing.assert_close(
                stacked.body.weights[i].grad[j], weight.grad, rtol=1e-4, atol=1e-6
            )
            torch.testing.assert_close(
                stacked.body.biases[i].grad[j, 0], bias.grad, rtol=1e-4, atol=1e-6
            )


def test_stacked_conv1d_takes_only_what_it_computes():
    plain = nn.Sequential(
        nn.Conv1d(1, 2, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(10, 3)
    )
    assert StackedConv1d.supports([plain])
    for odd in (
        nn.Sequential(nn.Conv1d(1, 2, 3, dilation=2), nn.ReLU(), nn.Flatten(), nn.Linear(12, 3)),
        nn.Sequential(
            nn.Conv1d(1, 2, 3, padding="same"), nn.ReLU(), nn.Flatten(), nn.Linear(40, 3)
        ),
        nn.Sequential(nn.Conv1d(1, 2, 3, bias=False), nn.ReLU(), nn.Flatten(), nn.Linear(36, 3)),
        nn.Sequential(nn.Conv1d(1, 2, 3), nn.Flatten(), nn.Linear(36, 3)),  # no ReLU after the conv
        nn.Sequential(
            nn.Conv1d(1, 2, 3), nn.ReLU(), nn.MaxPool1d(2), nn.Flatten(), nn.Linear(18, 3)
        ),
    ):
        assert not StackedConv1d.supports([odd])


def test_execution_choice_and_bad_execution():
    assert (
        Ensemble(build_members("mlp", (6,), 3, 2, 0, {"hidden": [4]})).execution == "stacked"
    )  # auto
    cnn = Ensemble(build_members("cnn", (1, 8, 8), 3, 2, 0, {"channels": [2, 3], "hidden": 4}))
    assert cnn.execution == "loop"
    assert cnn(torch.zeros(5, 1, 8, 8)).shape == (2, 5, 3)
    with pytest.raises(ValueError, match="stacked.*not these learners.*use 'loop'"):
        Ensemble(
            build_members("cnn", (1, 8, 8), 3, 2, 0, {"channels": [2, 3], "hidden": 4}),
            execution="stacked",
        )
    with pytest.raises(ValueError, match="unknown execution 'vmap'; allowed: auto, loop, stacked"):
        Ensemble(build_members("mlp", (6,), 3, 2, 0), execution="vmap")
    with pytest.raises(ValueError, match="at least one member"):
        Ensemble(build_members("mlp", (6,), 3, 0, 0))


# -- BatchNorm members in the loop -----------------------------------------------------------------
@pytest.fixture
def batchnorm_arch():
    name = "test_only_bn_mlp"

    def build(in_shape, out_dim, hidden=6):
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_shape[0], hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Linear(hidden, out_dim),
        )

    models.register(name, build)
    yield name
    del models.ARCHITECTURES[name]


def test_loop_members_keep_their_own_batchnorm_statistics(batchnorm_arch):
    ensemble = Ensemble(build_members(batchnorm_arch, (5,), 3, 3, 21))
    assert ensemble.execution == "loop"  # auto: BatchNorm is not a plain MLP
    with pytest.raises(ValueError, match="stacked"):
        Ensemble(build_members(batchnorm_arch, (5,), 3, 3, 21), execution="stacked")
    # each learner alone, built exactly as the ensemble builds it
    alone = []
    for j in range(3):
        torch.manual_seed(member_seed(21, j))
        alone.append(build_model(batchnorm_arch, (5,), 3))

    ensemble.train()
    for step in range(3):
        x = torch.randn(16, 5, generator=torch.Generator().manual_seed(step)) * (step + 1)
        out = ensemble(x)
        for j, member in enumerate(alone):
            member.train()
            torch.testing.assert_close(out[j], member(x))
    stats = []
    for j, member in enumerate(ensemble.body.members):
        norm, norm_alone = member[2], alone[j][2]
        torch.testing.assert_close(norm.running_mean, norm_alone.running_mean)
        torch.testing.assert_close(norm.running_var, norm_alone.running_var)
        assert norm.num_batches_tracked.item() == 3
        stats.append(norm.running_mean)
    # different learners see different pre-activations, hence different statistics
    assert not torch.allclose(stats[0], stats[1]) and not torch.allclose(stats[1], stats[2])

    ensemble.eval()
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(9))
    out = ensemble(x)
    for j, member in enumerate(alone):
        member.eval()
        torch.testing.assert_close(out[j], member(x))


# -- what "stacked" accepts ------------------------------------------------------------------------
LAYER_PATTERNS = {
    # layouts that StackedMLP.forward() does not compute ("ReLU after every Linear but the
    # last", biases everywhere): "auto" must fall back to the loop for them
    "linear_linear": lambda d, o: [nn.Flatten(), nn.Linear(d, 4), nn.Linear(4, o)],
    "trailing_relu": lambda d, o: [nn.Linear(d, 4), nn.ReLU(), nn.Linear(4, o), nn.ReLU()],
    "leading_relu": lambda d, o: [nn.ReLU(), nn.Linear(d, 4), nn.ReLU(), nn.Linear(4, o)],
    "no_bias": lambda d, o: [nn.Linear(d, 4, bias=False), nn.ReLU(), nn.Linear(4, o)],
}


@pytest.mark.parametrize("pattern", list(LAYER_PATTERNS))
def test_auto_execution_never_changes_what_a_member_computes(pattern):
    name = f"test_only_{pattern}"
    models.register(
        name,
        lambda in_shape, out_dim: nn.Sequential(*LAYER_PATTERNS[pattern](in_shape[0], out_dim)),
    )
    try:
        x = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
        loop = Ensemble(build_members(name, (3,), 2, 3, 0), execution="loop")
        auto = Ensemble(
            build_members(name, (3,), 2, 3, 0)
        )  # must either pick the loop or stack correctly
        torch.testing.assert_close(auto(x), loop(x))
    finally:
        del models.ARCHITECTURES[name]


def test_plain_mlp_patterns_are_stacked_correctly():
    """The control for the test above: the layer order build_mlp produces is stacked exactly."""
    name = "test_only_plain"
    models.register(
        name,
        lambda s, o: nn.Sequential(nn.Flatten(), nn.Linear(s[0], 4), nn.ReLU(), nn.Linear(4, o)),
    )
    try:
        x = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
        auto = Ensemble(build_members(name, (3,), 2, 3, 0))
        assert auto.execution == "stacked"
        torch.testing.assert_close(
            auto(x), Ensemble(build_members(name, (3,), 2, 3, 0), execution="loop")(x)
        )
    finally:
        del models.ARCHITECTURES[name]


# -- vmapped vs loop (torch.func over stacked parameters and buffers) --------------------------------
DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
    ),
]
# architectures without dropout (so both executions compute exactly the same function in train
# mode), with BatchNorm where the architecture has it
VMAP_CASES = {
    "mlp": ("mlp", (6,), 3, {"hidden": [8, 5]}),
    "cnn": ("cnn", (1, 8, 8), 3, {"channels": [2, 3], "hidden": 4, "dropout": 0.0}),
    "resnet18": ("resnet18", (3, 8, 8), 4, {"width": 2}),
    "vgg": ("vgg16_bn", (3, 8, 8), 4, {"depth": 11, "width": 2, "dropout": False}),
}


@pytest.fixture(autouse=True)
def exact_float32_on_cuda():
    """TF32 (on by default for cuDNN convolutions) rounds differently in grouped and plain
    convolutions; comparisons on CUDA use full float32."""
    if not torch.cuda.is_available():
        yield
        return
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def vmap_pair(case, device="cpu", n_members=3, seed=5):
    arch, in_shape, out_dim, options = VMAP_CASES[case]
    loop = Ensemble(
        build_members(arch, in_shape, out_dim, n_members, seed, options), execution="loop"
    ).to(device)
    vmapped = Ensemble(
        build_members(arch, in_shape, out_dim, n_members, seed, options), execution="vmapped"
    )
    assert vmapped.execution == "vmapped"
    return loop, vmapped.to(device)


def member_tensors(ensemble: Ensemble, j: int, kind: str) -> dict:
    """Learner j's parameters ("params"), their gradients ("grads") or buffers ("buffers"), keyed
    by the member's own names, from either layout."""
    if ensemble.execution == "loop":
        member = ensemble.body.members[j]
        named = member.named_buffers() if kind == "buffers" else member.named_parameters()
        pick = (lambda t: t.grad) if kind == "grads" else (lambda t: t.detach())
        return {name: pick(t) for name, t in named}
    stacked = ensemble.body.stacked
    named = stacked.named_buffers() if kind == "buffers" else stacked.named_parameters()
    pick = (lambda t: t.grad[j]) if kind == "grads" else (lambda t: t.detach()[j])
    return {name: pick(t) for name, t in named}


def assert_same_members(loop, vmapped, kind, **tolerance):
    for j in range(loop.n_members):
        expected, got = member_tensors(loop, j, kind), member_tensors(vmapped, j, kind)
        assert got.keys() == expected.keys()
        for name in expected:
            torch.testing.assert_close(
                got[name], expected[name], msg=f"member {j} {kind} {name}", **tolerance
            )


def image_batch(case, n=10, seed=0, device="cpu"):
    _, in_shape, out_dim, _ = VMAP_CASES[case]
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, *in_shape, generator=g) * 2 + 0.5
    return x.to(device), torch.randint(0, out_dim, (n,), generator=g).to(device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", list(VMAP_CASES))
def test_vmapped_and_loop_outputs_gradients_and_batchnorm_statistics_match(case, device):
    loop, vmapped = vmap_pair(case, device)
    assert_same_members(loop, vmapped, "params", rtol=0, atol=0)  # the very same initial weights
    assert_same_members(loop, vmapped, "buffers", rtol=0, atol=0)
    x, y = image_batch(case, device=device)
    outputs = {}
    for ensemble in (loop, vmapped):
        ensemble.train()
        outputs[ensemble.execution] = ensemble(x)
        objective.beta_objective(outputs[ensemble.execution], y, "score", 0.8).backward()
    assert outputs["vmapped"].shape == (3, 10, VMAP_CASES[case][2])
    torch.testing.assert_close(outputs["vmapped"], outputs["loop"], rtol=1e-4, atol=1e-5)
    assert_same_members(loop, vmapped, "grads", rtol=1e-4, atol=1e-5)
    assert_same_members(loop, vmapped, "buffers", rtol=1e-5, atol=1e-6)  # one BatchNorm update
    loop.eval(), vmapped.eval()
    torch.testing.assert_close(vmapped(x), loop(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", ["cnn", "resnet18"])
def test_vmapped_and_loop_stay_equal_through_sgd_steps(case, device):
    loop, vmapped = vmap_pair(case, device)
    optimizers = [
        torch.optim.SGD(e.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
        for e in (loop, vmapped)
    ]
    for step in range(4):
        x, y = image_batch(case, seed=step, device=device)
        for ensemble, optimizer in zip((loop, vmapped), optimizers):
            ensemble.train()
            optimizer.zero_grad()
            objective.beta_objective(ensemble(x), y, "score", 0.5).backward()
            optimizer.step()
    assert_same_members(loop, vmapped, "params", rtol=1e-4, atol=1e-5)
    assert_same_members(loop, vmapped, "buffers", rtol=1e-4, atol=1e-5)
    if case == "resnet18":  # each member's BatchNorm saw its own activations: its own statistics
        stats = [member_tensors(vmapped, j, "buffers")["stem.1.running_mean"] for j in range(3)]
        assert not torch.allclose(stats[0], stats[1])
        assert member_tensors(vmapped, 2, "buffers")["stem.1.num_batches_tracked"].item() == 4
    x, _ = image_batch(case, seed=99, device=device)
    loop.eval(), vmapped.eval()
    torch.testing.assert_close(vmapped(x), loop(x), rtol=1e-3, atol=1e-4)


def test_vmapped_dropout_draws_a_mask_per_member():
    arch, in_shape, out_dim, options = VMAP_CASES["cnn"]
    ensemble = Ensemble(
        build_members(arch, in_shape, out_dim, 3, 0, {**options, "dropout": 0.5}),
        execution="vmapped",
    )
    with torch.no_grad():  # three identical learners: any difference comes from the masks
        for param in ensemble.parameters():
            param.copy_(param[0].expand_as(param))
    x, _ = image_batch("cnn")
    ensemble.train()
    out = ensemble(x)
    assert not torch.allclose(out[0], out[1]) and not torch.allclose(out[1], out[2])
    ensemble.eval()
    out = ensemble(x)
    torch.testing.assert_close(out[0], out[1])
    torch.testing.assert_close(out[1], out[2])


def test_vmapped_channels_last_lays_out_each_member_kernel():
    loop, vmapped = vmap_pair("resnet18")
    loop.to(memory_format=torch.channels_last)
    assert vmapped.to(memory_format=torch.channels_last) is vmapped  # Module.to would fail on 5-D
    weight = vmapped.body.stacked.stem[0].weight
    assert weight.dim() == 5 and weight[1].is_contiguous(memory_format=torch.channels_last)
    x, _ = image_batch("resnet18")
    x = x.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(vmapped(x), loop(x), rtol=1e-4, atol=1e-5)


def test_auto_execution_per_architecture_and_device():
    mlp, cnn = ("mlp", (6,), 3, 2, 0, {"hidden": [4]}), ("cnn", (1, 8, 8), 3, 2, 0, {"hidden": 4})
    for device in ("cpu", "cuda"):  # the choice needs no device present, only its type
        assert Ensemble(build_members(*mlp), device=device).execution == "stacked"
        assert Ensemble(build_members(*cnn), device=device).execution == "loop"
    assert (
        Ensemble(build_members(*mlp), execution="vmapped").execution == "vmapped"
    )  # any architecture vmaps


def test_loading_weights_of_another_execution_names_the_fix():
    loop, vmapped = vmap_pair("cnn")
    with pytest.raises(
        ValueError, match="saved by the 'loop' execution.*runs 'vmapped'.*execution to 'loop'"
    ):
        vmapped.load_state_dict(loop.state_dict())
    with pytest.raises(ValueError, match="saved by the 'vmapped' execution.*runs 'loop'"):
        loop.load_state_dict(vmapped.state_dict())
    again = vmap_pair("cnn", seed=6)[1]
    again.load_state_dict(vmapped.state_dict())  # the same layout loads
    assert parameters_equal(again, vmapped)


def test_trainer_runs_and_resumes_vmapped(tmp_path):
    """A vmapped run stopped after its first epoch resumes to the history of an uninterrupted one
    (stacked weights, BatchNorm-free CNN with dropout: the RNG state comes back too)."""
    data = write_tiny_dataset(tmp_path / "tiny.npz", "images")
    spec = RunSpec(
        "cnn",
        {"channels": [2, 3], "hidden": 4},
        "probability",
        3,
        0.5,
        1,
        Recipe(epochs=3, lr=0.01, batch_size=8, execution="vmapped"),
    )
    straight = Trainer(spec, data, tmp_path / "straight")
    assert straight.ensemble.execution == "vmapped"
    straight.fit(log=lambda message: None)

    class Killed(Exception):
        pass

    def kill(message):
        raise Killed(message)

    with pytest.raises(Killed, match="epoch 1/3"):  # logged after the epoch's checkpoint
        Trainer(spec, data, tmp_path / "resumed", checkpoint_seconds=0).fit(log=kill)
    resumed = Trainer(spec, data, tmp_path / "resumed")
    resumed.fit(log=lambda message: None)
    assert len(resumed.history) == len(straight.history) == 3
    for got, expected in zip(resumed.history, straight.history):
        got, expected = dict(got), dict(expected)
        got.pop("seconds"), expected.pop("seconds")
        assert got == pytest.approx(expected)
    assert parameters_equal(resumed.ensemble, straight.ensemble)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_trainer_on_cuda_vmapped_matches_loop(tmp_path):
    """The CUDA path end to end: channels_last, the 5-D kernels' layout, bf16 autocast, compile."""
    import math

    write_tiny_dataset(tmp_path / "tiny.npz", "images")
    data = load_dataset(tmp_path / "tiny.npz", [0.5, 0.25, 0.25], split_seed=0, device="cuda")

    def fit(execution, **recipe):
        spec = RunSpec(
            "resnet18",
            {"width": 2},
            "score",
            3,
            0.5,
            1,
            Recipe(epochs=2, lr=0.05, optimizer="sgd", batch_size=8, execution=execution, **recipe),
        )
        trainer = Trainer(spec, data, tmp_path / f"{execution}{recipe}", device="cuda")
        assert trainer.ensemble.execution == execution
        trainer.fit(log=lambda message: None)
        return trainer.history

    loop, vmapped = fit("loop", mixed_precision=False), fit("vmapped", mixed_precision=False)
    for got, expected in zip(vmapped, loop):
        for key in ("train_objective", "train_L_ens", "test_L_ens", "test_DIV"):
            assert got[key] == pytest.approx(expected[key], rel=1e-3, abs=1e-4), key
    for execution in ("loop", "vmapped"):
        for history in (fit(execution), fit(execution, compile=True)):  # bf16 autocast
            assert all(math.isfinite(row["train_objective"]) for row in history)
