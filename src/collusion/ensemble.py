"""M learners behind one interface: ``ensemble(x)`` returns the stacked outputs ``(M, N, K)``.

Two ways to execute the same learners:
- ``loop``: a Python loop over M independent modules (any architecture);
- ``stacked``: MLPs only; each layer's M weight matrices are stacked and applied with one batched
  matmul (``torch.baddbmm``). Each member's parameters are its own slice of the stacked tensors,
  initialised from the very same member modules, so both give the same learners.
``auto`` picks ``stacked`` where it applies (measured faster on CPU, see benchmarks/) and ``loop``
otherwise.
"""

from __future__ import annotations

import hashlib

import torch
import torch.nn as nn

from .models import build_model

EXECUTIONS = ("auto", "loop", "stacked")


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
    ):
        super().__init__()
        if execution not in EXECUTIONS:
            raise ValueError(f"unknown execution {execution!r}; allowed: {', '.join(EXECUTIONS)}")
        members = build_members(arch, in_shape, out_dim, n_members, seed, options)
        stackable = StackedMLP.supports(members)
        if execution == "stacked" and not stackable:
            raise ValueError(f"execution 'stacked' supports plain MLPs only, not {arch!r}; use 'loop'")
        self.execution = "stacked" if execution != "loop" and stackable else "loop"
        self.body = StackedMLP(members) if self.execution == "stacked" else LoopMembers(members)
        self.n_members = n_members

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)
