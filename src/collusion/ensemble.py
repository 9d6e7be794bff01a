"""M learners behind one interface: ``ensemble(x)`` returns the stacked outputs ``(M, N, K)``."""

from __future__ import annotations

import hashlib

import torch
import torch.nn as nn

from .models import build_model


def member_seed(seed: int, member: int) -> int:
    """Deterministic seed of learner ``member`` of run seed ``seed``; independent of β."""
    digest = hashlib.sha256(f"collusion:{seed}:{member}".encode()).digest()
    return int.from_bytes(digest[:8], "little") % (2**63 - 1)


class Ensemble(nn.Module):
    """M independently initialised learners; each is seeded by ``member_seed(seed, j)``, so every β
    of a given seed starts from the same weights (paired comparisons)."""

    def __init__(
        self,
        arch: str,
        in_shape: tuple[int, ...],
        out_dim: int,
        n_members: int,
        seed: int,
        options: dict | None = None,
    ):
        super().__init__()
        if n_members < 1:
            raise ValueError(f"an ensemble needs at least one member, got M={n_members}")
        members = []
        for j in range(n_members):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(member_seed(seed, j))
                members.append(build_model(arch, in_shape, out_dim, **(options or {})))
        self.members = nn.ModuleList(members)

    @property
    def n_members(self) -> int:
        return len(self.members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(x) for member in self.members])
