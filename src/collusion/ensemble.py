"""M learners behind one interface: ``ensemble(x)`` returns the stacked outputs ``(M, N, K)``.

Three ways to execute the same learners:
- ``loop``: a Python loop over M independent modules (any architecture);
- ``stacked``: MLPs and plain 1-D CNNs (conv1d, ReLU, flatten, linear; the MNIST-1D CNN); each
  layer's M weights are stacked and applied with one batched matmul (``torch.baddbmm``), a
  convolution as batched matmuls (``StackedConv1d``);
- ``vmapped``: any architecture built from vmap-able operations (convolutions, BatchNorm, pooling,
  dropout, linear layers): every parameter and buffer gets a leading member axis and
  ``torch.func.vmap`` runs the member's own forward over it, so a convolution of the M members
  becomes one grouped convolution and a linear layer one batched matmul.
Each member's parameters are its own slice of the stacked tensors, initialised from the very same
member modules, so all three give the same learners (tests/test_ensemble.py checks outputs,
gradients and BatchNorm statistics against the loop).

``auto`` picks by measurement (``choose_execution``, numbers in benchmarks/README.md). The state
dict layout differs between executions (``body.members.<j>.…``, ``body.weights.<i>``,
``body.stacked.…`` with a leading member axis), so a checkpoint resumes only under the execution
that wrote it; ``auto`` depends on the architecture alone (not yet on the device: no GPU
measurement has decided it), which a run and its resume share, and loading another layout fails
with an error that names the fix.
"""

from __future__ import annotations

import copy
import hashlib
import re

import torch
import torch.nn as nn
import torch.nn.functional as F

from .models import build_model

EXECUTIONS = ("auto", "loop", "stacked", "vmapped")
# where each execution keeps its parameters in the state dict
LAYOUT_PREFIXES = {"loop": "body.members.", "stacked": "body.weights.", "vmapped": "body.stacked."}


def member_seed(seed: int, member: int) -> int:
    """Deterministic seed of learner ``member`` of run seed ``seed``; independent of β."""
    digest = hashlib.sha256(f"collusion:{seed}:{member}".encode()).digest()
    return int.from_bytes(digest[:8], "little") % (2**63 - 1)


def build_members(arch: str, in_shape, out_dim: int, n_members: int, seed: int, options=None):
    if n_members < 1:
        raise ValueError(f"an ensemble needs at least one member, got M={n_members}")
    members = []
    for j in range(n_members):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(member_seed(seed, j))
            members.append(build_model(arch, in_shape, out_dim, **(options or {})))
    return members


class LoopMembers(nn.Module):
    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(x) for member in self.members])


class StackedMLP(nn.Module):
    """M MLPs (Flatten, Linear, ReLU, ..., Linear) as one batched program."""

    @staticmethod
    def supports(members: list[nn.Module]) -> bool:
        """Exactly what forward() computes: [Flatten,] Linear, (ReLU, Linear)*, every Linear biased."""

        def plain(member):
            if not isinstance(member, nn.Sequential):
                return False
            layers = list(member)
            if layers and isinstance(layers[0], nn.Flatten):
                layers = layers[1:]
            if len(layers) % 2 == 0:
                return False
            return all(
                isinstance(layer, nn.Linear) and layer.bias is not None
                if i % 2 == 0
                else isinstance(layer, nn.ReLU)
                for i, layer in enumerate(layers)
            )

        return all(plain(m) for m in members)

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        linears = [[layer for layer in m if isinstance(layer, nn.Linear)] for m in members]
        self.weights = nn.ParameterList(
            nn.Parameter(torch.stack([m[i].weight.detach().T for m in linears]).contiguous())
            for i in range(len(linears[0]))
        )  # (M, in, out)
        self.biases = nn.ParameterList(
            nn.Parameter(torch.stack([m[i].bias.detach() for m in linears]).unsqueeze(1))
            for i in range(len(linears[0]))
        )  # (M, 1, out)

    def forward(self, x: torch.Tensor, grouped: bool = False) -> torch.Tensor:
        """``x`` ``(N, …)``, the input of every member; ``grouped``: ``x`` is ``(G, N, …)``, the input
        of G consecutive groups of members (a pack of G seeds, each on its own minibatch)."""
        n_members = len(self.weights[0])
        if grouped:
            groups, n = x.shape[:2]
            h = x.flatten(2).unsqueeze(1).expand(groups, n_members // groups, n, -1)
            h = h.reshape(n_members, n, -1)
        else:
            h = x.flatten(1).unsqueeze(0).expand(n_members, -1, -1)
        last = len(self.weights) - 1
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(bias, h, weight)
            if i < last:
                h = torch.relu(h)
        return h


class StackedConv1d(nn.Module):
    """M plain 1-D CNNs (Conv1d, ReLU, ..., Flatten, Linear, (ReLU, Linear)*) as one batched
    program: the first convolution is one batched matmul of the input's patches (im2col) with the
    M stacked kernels, the others ``block_conv1d``. On CPU this is far faster than M small
    ``conv1d`` calls (benchmarks/)."""

    @staticmethod
    def supports(members: list[nn.Module]) -> bool:
        def plain(member):
            if not isinstance(member, nn.Sequential):
                return False
            layers = list(member)
            kinds = "".join(
                "c"
                if isinstance(layer, nn.Conv1d)
                and layer.bias is not None
                and layer.dilation == (1,)
                and layer.groups == 1
                and layer.padding_mode == "zeros"
                and isinstance(layer.padding, tuple)
                else "r"
                if isinstance(layer, nn.ReLU)
                else "f"
                if isinstance(layer, nn.Flatten) and (layer.start_dim, layer.end_dim) == (1, -1)
                else "l"
                if isinstance(layer, nn.Linear) and layer.bias is not None
                else "?"
                for layer in layers
            )
            return re.fullmatch(r"(cr)+fl(rl)*", kinds) is not None

        return all(plain(m) for m in members)

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        layers = [layer for layer in members[0] if isinstance(layer, (nn.Conv1d, nn.Linear))]
        self.convs = [
            (c.kernel_size[0], c.stride[0], c.padding[0])
            for c in layers
            if isinstance(c, nn.Conv1d)
        ]
        weighted = [
            [layer for layer in m if isinstance(layer, (nn.Conv1d, nn.Linear))] for m in members
        ]
        self.weights = nn.ParameterList(  # the layers' own layouts, stacked: (M, out, in[, k])
            nn.Parameter(torch.stack([m[i].weight.detach() for m in weighted]).contiguous())
            for i in range(len(layers))
        )
        self.biases = nn.ParameterList(
            nn.Parameter(torch.stack([m[i].bias.detach() for m in weighted]).unsqueeze(1))
            for i in range(len(layers))
        )  # (M, 1, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n_members, n = len(self.weights[0]), len(x)
        h = x.transpose(1, 2).unsqueeze(0)  # (1, N, L, C): the input, shared by the members
        for i, (kernel, stride, padding) in enumerate(self.convs):
            if i == 0:  # im2col of the input, which needs no gradient
                weight = self.weights[i]  # (M, out, C, k)
                patches = F.pad(h, (0, 0, padding, padding)).unfold(
                    2, kernel, stride
                )  # (1, N, L', C, k)
                length = patches.shape[2]
                patches = patches.reshape(len(h), n * length, -1).expand(n_members, -1, -1)
                h = torch.baddbmm(self.biases[i], patches, weight.flatten(2).transpose(1, 2))
                h = h.view(n_members, n, length, -1)
            else:
                h = block_conv1d(h, self.weights[i], self.biases[i], kernel, stride, padding)
            h = torch.relu_(h)
        h = h.transpose(2, 3).reshape(n_members, n, -1)  # Flatten's (C, L) order
        last = len(self.weights) - 1
        for i in range(len(self.convs), len(self.weights)):
            h = torch.baddbmm(self.biases[i], h, self.weights[i].transpose(1, 2))
            if i < last:
                h = torch.relu(h)
        return h


def block_conv1d(
    h: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    kernel: int,
    stride: int,
    padding: int,
) -> torch.Tensor:
    """M members' 1-D convolutions, channels last, without im2col: ``h`` ``(M, N, L, C)``, ``weight``
    ``(M, out, C, k)``, ``bias`` ``(M, 1, out)``; returns ``(M, N, L', out)``.

    The padded input, viewed as blocks of ``stride`` positions (block o: positions o·s … o·s + s − 1,
    a free view), holds tap t = q·s + r of output o in block o + q. So the convolution is
    Σ_q (blocks @ W_q) shifted by q blocks, with W_q the taps q·s … q·s + s − 1: ⌈k/s⌉ batched
    matmuls and no copy of overlapping patches, whose backward (a scatter) is slow on CPU.
    """
    n_members, n, length, channels = h.shape
    l_out = (length + 2 * padding - kernel) // stride + 1
    shifts = -(-kernel // stride)
    n_blocks = l_out + shifts - 1
    h = F.pad(h, (0, 0, padding, n_blocks * stride - length - padding))  # (a negative pad crops)
    blocks = h.reshape(n_members, n * n_blocks, stride * channels)
    taps = weight.permute(0, 3, 2, 1)  # (M, k, C, out): tap t's (C, out) matrix
    total = None
    for q in range(shifts):
        width = min(stride, kernel - q * stride)  # taps in this shift
        w_q = taps[:, q * stride : q * stride + width].reshape(n_members, width * channels, -1)
        b_q = blocks[..., : width * channels]
        p_q = torch.baddbmm(bias, b_q, w_q) if q == 0 else torch.bmm(b_q, w_q)
        p_q = p_q.view(n_members, n, n_blocks, -1)[:, :, q : q + l_out]
        total = p_q if total is None else total + p_q
    return total if shifts > 1 else total.contiguous()


class GlobalAveragePool(nn.Module):
    """``AdaptiveAvgPool2d(1)`` as torch computes it (the mean over height and width, bit for
    bit), without the in-place restriding that it adds for a channels_last input, which vmap has
    no batching rule for (it fell back to one call per member)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((-2, -1), keepdim=True)


class VmappedMembers(nn.Module):
    """M members of one architecture as one program: ``torch.func.vmap`` over stacked parameters.

    ``self.stacked`` is a copy of member 0 whose every parameter and buffer is replaced by the M
    members' tensors stacked along a new leading axis, under the member's own names. The forward
    maps the member's forward over that axis. BatchNorm's running statistics are stacked buffers
    too: in training mode each member's slice is updated in place with that member's batch
    statistics, exactly as in the loop. Dropout draws an independent mask per member
    (``randomness="different"``), as the loop does, but from other random numbers: with dropout
    active the two executions agree in distribution, not bit for bit.
    """

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        params, buffers = torch.func.stack_module_state(members)
        self.n_members = len(members)
        self.stacked = copy.deepcopy(members[0])
        for name, value in params.items():
            owner, _, leaf = name.rpartition(".")
            setattr(self.stacked.get_submodule(owner), leaf, nn.Parameter(value.detach()))
        for name, value in buffers.items():
            owner, _, leaf = name.rpartition(".")
            self.stacked.get_submodule(owner)._buffers[leaf] = value
        for name, module in list(self.stacked.named_modules()):
            if isinstance(module, nn.AdaptiveAvgPool2d) and module.output_size in (1, (1, 1)):
                owner, _, leaf = name.rpartition(".")
                setattr(self.stacked.get_submodule(owner), leaf, GlobalAveragePool())

    def member(self, params: dict, buffers: dict, x: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(self.stacked, (params, buffers), (x,))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        params = dict(self.stacked.named_parameters())
        buffers = dict(self.stacked.named_buffers())
        return torch.func.vmap(self.member, in_dims=(0, 0, None), randomness="different")(
            params, buffers, x
        )

    def member_channels_last(self) -> None:
        """Lay out each member's convolution kernel (a 5-D slice ``[j]`` of the stacked weight) as
        ``channels_last``; ``Module.to(memory_format=...)`` cannot, it expects 4-D weights."""
        for param in self.stacked.parameters():
            if param.dim() == 5:
                param.data = param.data.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)


def choose_execution(members: list[nn.Module], device: str | torch.device | None = None) -> str:
    """What ``auto`` runs, by measurement (benchmarks/README.md): MLPs stacked on every device; any
    other architecture as the member loop (on CPU the loop was measured faster than or level with
    vmap for the small CNN and ResNet-18; on CUDA the loop stays until the GPU check decides).
    Depends on the architecture only (``device`` is accepted for that decision and not used yet),
    which a run and its resume share."""
    if StackedMLP.supports(members) or StackedConv1d.supports(members):
        return "stacked"
    return "loop"


class Ensemble(nn.Module):
    """Learners behind one interface, run as ``execution`` says: ``Ensemble(build_members(arch,
    in_shape, out_dim, M, seed, options))`` is M independently initialised learners, learner j
    seeded by ``member_seed(seed, j)``, so every β of a given seed starts from the same weights
    (paired comparisons). A pack's program holds several such groups of M (pack.build_ensemble).
    ``device``: where the ensemble will run, passed to ``choose_execution`` for ``auto`` (which
    does not use it yet)."""

    def __init__(
        self,
        members: list[nn.Module],
        execution: str = "auto",
        device: str | torch.device | None = None,
    ):
        super().__init__()
        if execution not in EXECUTIONS:
            raise ValueError(f"unknown execution {execution!r}; allowed: {', '.join(EXECUTIONS)}")
        stacked = StackedMLP if StackedMLP.supports(members) else StackedConv1d
        if execution == "stacked" and not stacked.supports(members):
            layers = sorted({type(m).__name__ for m in members[0].modules()} - {"Sequential"})
            raise ValueError(
                "execution 'stacked' supports plain MLPs and 1-D CNNs only, not these learners "
                f"(of {', '.join(layers)}); use 'loop'"
            )
        self.execution = choose_execution(members, device) if execution == "auto" else execution
        bodies = {"loop": LoopMembers, "stacked": stacked, "vmapped": VmappedMembers}
        self.body = bodies[self.execution](members)
        self.n_members = len(members)

    def forward(self, x: torch.Tensor, grouped: bool = False) -> torch.Tensor:
        """``grouped``: a stacked MLP's input per group of members (``StackedMLP.forward``)."""
        if grouped:
            if not isinstance(self.body, StackedMLP):
                raise ValueError("a grouped input (one per seed) needs a stacked MLP")
            return self.body(x, grouped=True)
        return self.body(x)

    def member_tensors(self, first: int, count: int) -> list[torch.Tensor]:
        """The parameters and buffers of members ``first … first + count − 1``, as views that can
        be written in place (every stacked tensor has a leading member axis)."""
        if self.execution == "loop":
            chosen = self.body.members[first : first + count]
            return [t for m in chosen for t in (*m.parameters(), *m.buffers())]
        return [t[first : first + count] for t in (*self.body.parameters(), *self.body.buffers())]

    def to(self, *args, **kwargs):
        """As ``nn.Module.to``; ``memory_format=torch.channels_last`` also works for ``vmapped``,
        whose convolution weights are 5-D (it lays out each member's kernel)."""
        if self.execution == "vmapped" and kwargs.get("memory_format") == torch.channels_last:
            del kwargs["memory_format"]
            super().to(*args, **kwargs)
            self.body.member_channels_last()
            return self
        return super().to(*args, **kwargs)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        written_by = [
            name
            for name, prefix in LAYOUT_PREFIXES.items()
            if any(key.startswith(prefix) for key in state_dict)
        ]
        if written_by and self.execution not in written_by:
            raise ValueError(
                f"these weights were saved by the {written_by[0]!r} execution but this ensemble "
                f"runs {self.execution!r}; set the recipe's execution to {written_by[0]!r} to "
                f"load (resume) them, or delete the checkpoint to start afresh"
            )
        return super().load_state_dict(state_dict, strict=strict, assign=assign)
