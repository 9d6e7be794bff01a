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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.flatten(1).unsqueeze(0).expand(len(self.weights[0]), -1, -1)
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

    The input, unpadded, viewed as blocks of ``stride`` positions (block b: positions b·s … b·s + s − 1,
    a free view), holds for output o in block b = o + d the taps t = d·s + r + p of its positions
    r = 0 … s − 1 (p the padding). So the convolution is one batched matmul of the blocks with the
    taps of every offset d side by side (``block_taps``; rows of a tap outside 0 … k − 1 are zeros,
    which add exact zeros), then the sum over d of the product's columns of offset d, shifted by d
    blocks; the blocks that the padding would add contribute nothing and are left out. No copy of
    overlapping patches (whose backward, a scatter, is slow on CPU), no padded copy of the input
    where its length is a multiple of the stride, no slices of it; the backward
    (``BlockConv1d``) writes the shifted gradient of the product once and needs two matmuls.
    The zero rows make a non-finite activation give nan where ``F.conv1d`` gives ±inf (both are
    non-finite, which is what the divergence check reads).
    """
    return BlockConv1d.apply(h, weight, bias, kernel, stride, padding)


def block_geometry(length: int, kernel: int, stride: int, padding: int) -> tuple[int, int, int, int]:
    """``(L', first offset, number of offsets, blocks)`` of ``block_conv1d``."""
    l_out = (length + 2 * padding - kernel) // stride + 1
    d_first = -((padding + stride - 1) // stride)  # the lowest d with a tap d·s + r + p ≥ 0
    d_last = (kernel - 1 - padding) // stride  # the highest with a tap d·s + p ≤ k − 1
    n_blocks = max(min(-(-length // stride), l_out + d_last), 1)  # the blocks some output reads
    return l_out, d_first, d_last - d_first + 1, n_blocks


def block_taps(weight: torch.Tensor, d_first: int, offsets: int, stride: int, padding: int):
    """``(M, s·C, offsets·out)``: column block e holds, in row r·C + c, tap (d_first + e)·s + r + p
    of input channel c (zeros where that tap is outside 0 … k − 1)."""
    n_members, out, channels, kernel = weight.shape
    front = -(d_first * stride + padding)  # taps before tap 0 (zeros)
    back = offsets * stride - front - kernel  # taps after tap k − 1 (zeros; negative: cropped)
    taps = F.pad(weight, (front, back)) if front or back else weight  # (M, out, C, offsets·s)
    taps = taps.view(n_members, out, channels, offsets, stride)
    return taps.permute(0, 4, 2, 3, 1).reshape(n_members, stride * channels, offsets * out)


class BlockConv1d(torch.autograd.Function):
    """``block_conv1d`` with its own backward (see there)."""

    @staticmethod
    def forward(ctx, h, weight, bias, kernel, stride, padding):
        n_members, n, length, channels = h.shape
        out = weight.shape[1]
        l_out, d_first, offsets, n_blocks = block_geometry(length, kernel, stride, padding)
        span = n_blocks * stride
        if span != length:  # a partial last block (zeros added) or positions no output reads
            h = F.pad(h, (0, 0, 0, span - length))
        blocks = h.reshape(n_members, n * n_blocks, stride * channels)
        taps = block_taps(weight, d_first, offsets, stride, padding)
        product = torch.bmm(blocks, taps).view(n_members, n, n_blocks, offsets, out)
        ranges = shift_ranges(l_out, d_first, offsets, n_blocks)
        # start from an offset that reaches every output (d = 0 where it exists), then shift-add
        full = next((e for e, r in enumerate(ranges) if r == (0, l_out)), None)
        if full is None:
            result = bias.view(n_members, 1, 1, out).expand(n_members, n, l_out, out).clone()
        else:
            d = d_first + full
            result = product[:, :, d : d + l_out, full] + bias.view(n_members, 1, 1, out)
        for e, (lo, hi) in enumerate(ranges):
            if e != full:
                d = d_first + e
                result[:, :, lo:hi] += product[:, :, lo + d : hi + d, e]
        ctx.save_for_backward(blocks, taps)
        ctx.geometry = (length, kernel, stride, padding, channels, l_out, d_first, offsets, n_blocks)
        return result

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        blocks, taps = ctx.saved_tensors
        length, kernel, stride, padding, channels, l_out, d_first, offsets, n_blocks = ctx.geometry
        n_members, n, _, out = grad.shape
        grad_product = grad.new_empty(n_members, n, n_blocks, offsets, out)
        for e, (lo, hi) in enumerate(shift_ranges(l_out, d_first, offsets, n_blocks)):
            d = d_first + e
            grad_product[:, :, lo + d : hi + d, e] = grad[:, :, lo:hi]
            grad_product[:, :, : lo + d, e] = 0
            grad_product[:, :, hi + d :, e] = 0
        grad_product = grad_product.view(n_members, n * n_blocks, offsets * out)
        grad_h = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_h = torch.bmm(grad_product, taps.transpose(1, 2))
            grad_h = grad_h.view(n_members, n, n_blocks * stride, channels)
            if n_blocks * stride != length:
                grad_h = F.pad(grad_h, (0, 0, 0, length - n_blocks * stride))
        if ctx.needs_input_grad[1]:
            grad_taps = torch.bmm(blocks.transpose(1, 2), grad_product)
            grad_taps = grad_taps.view(n_members, stride, channels, offsets, out)
            grad_taps = grad_taps.permute(0, 4, 2, 3, 1).reshape(
                n_members, out, channels, offsets * stride
            )
            front = -(d_first * stride + padding)
            grad_weight = grad_taps[..., front : front + kernel]
            if grad_weight.shape[-1] < kernel:  # taps that no position reaches
                grad_weight = F.pad(grad_weight, (0, kernel - grad_weight.shape[-1]))
        if ctx.needs_input_grad[2]:
            grad_bias = grad.sum(dim=(1, 2)).unsqueeze(1)
        return grad_h, grad_weight, grad_bias, None, None, None


def shift_ranges(l_out: int, d_first: int, offsets: int, n_blocks: int) -> list[tuple[int, int]]:
    """For each offset d = d_first + e, the outputs o whose block o + d exists: ``[lo, hi)``."""
    return [
        (max(0, -d), max(min(l_out, n_blocks - d), max(0, -d)))
        for d in range(d_first, d_first + offsets)
    ]


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
    """M independently initialised learners; learner j is seeded by ``member_seed(seed, j)``, so every
    β of a given seed starts from the same weights (paired comparisons)."""

    def __init__(
        self,
        arch: str,
        in_shape: tuple[int, ...],
        out_dim: int,
        n_members: int,
        seed: int,
        options: dict | None = None,
        execution: str = "auto",
        device: str | torch.device | None = None,
        copies: int = 1,
    ):
        """``device``: where the ensemble will run, passed to ``choose_execution`` for ``auto``
        (which does not use it yet).
        ``copies``: that many copies of the same M initial learners as one program of copies × M
        members (a pack of β, train.py); members ``c·M … c·M + M − 1`` are copy ``c``."""
        super().__init__()
        if execution not in EXECUTIONS:
            raise ValueError(f"unknown execution {execution!r}; allowed: {', '.join(EXECUTIONS)}")
        members = build_members(arch, in_shape, out_dim, n_members, seed, options)
        members += [copy.deepcopy(m) for _ in range(copies - 1) for m in members[:n_members]]
        stacked = StackedMLP if StackedMLP.supports(members) else StackedConv1d
        if execution == "stacked" and not stacked.supports(members):
            raise ValueError(
                f"execution 'stacked' supports plain MLPs and 1-D CNNs only, not {arch!r}; use 'loop'"
            )
        self.execution = choose_execution(members, device) if execution == "auto" else execution
        bodies = {"loop": LoopMembers, "stacked": stacked, "vmapped": VmappedMembers}
        self.body = bodies[self.execution](members)
        self.n_members = n_members

    def forward(self, x: torch.Tensor) -> torch.Tensor:
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
