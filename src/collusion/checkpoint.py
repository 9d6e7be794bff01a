"""A pack's checkpoint: what it must match to be resumed (its identity), written atomically, read
back onto the CPU, and refused when it belongs to another pack or to a finished one.

``checkpoint.pt`` holds the whole pack (every run's history, selections and status, the programs'
weights, the optimiser, the schedule, the random streams). It resumes only the pack whose identity
wrote it (its runs, split, data and training code: job.py builds it), and only while unfinished:
a rerun of a finished pack trains afresh, unless the job knows it was killed after finishing
(``reuse_finished``) and only its outputs are missing.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from .io import atomic_write, serialise, write_bytes
from .spec import canonical_hash


def identity(**parts) -> str:
    """The identity of a checkpoint: a hash of everything it must match (runs, split, data, code)."""
    return canonical_hash(parts)


class Checkpoint:
    """``checkpoint.pt`` in ``directory``, for the pack ``identity``; saved at the end of training
    and every ``seconds`` in between (0: after every period)."""

    def __init__(self, directory: str | Path, identity: str, seconds: float = 30.0):
        self.path = Path(directory) / "checkpoint.pt"
        self.identity, self.seconds = identity, seconds
        self.last_saved = time.monotonic()

    def due(self, finished: bool) -> bool:
        return finished or time.monotonic() - self.last_saved >= self.seconds

    def save(self, state: dict) -> None:
        state = {"identity": self.identity, **state}
        atomic_write(self.path, lambda tmp: write_bytes(tmp, serialise(state)))
        self.last_saved = time.monotonic()

    def load(self, log=print, reuse_finished: bool = False) -> dict | None:
        """The saved state if this very pack wrote it and had not finished (or, with
        ``reuse_finished``, had finished: nothing is left to train); None otherwise, saying why.
        A checkpoint that cannot be read is moved aside (with a warning)."""
        if not self.path.exists():
            return None
        try:
            # onto the CPU whatever the training device: the saved random-number-generator states
            # must stay CPU ByteTensors (set_rng_state and Generator.set_state refuse others, so a
            # CUDA map location broke every GPU resume); load_state_dict copies weights and
            # optimiser state onto their parameters' device
            state = torch.load(self.path, map_location="cpu", weights_only=False)
        except Exception as error:  # truncated or corrupt: keep it for inspection, start afresh
            aside = self.path.with_name(f"checkpoint.corrupt-{time.strftime('%Y%m%dT%H%M%S')}.pt")
            self.path.rename(aside)
            log(
                f"warning: unreadable checkpoint {self.path} ({type(error).__name__}: "
                f"{error}) moved to {aside.name}; training from scratch"
            )
            return None
        if state.get("identity") != self.identity:
            log(
                f"{self.path} was written by another run, data or training code: "
                "training from scratch"
            )
            return None
        if all(run["status"] != "running" for run in state["runs"]) and not reuse_finished:
            log(f"{self.path} holds a finished run: training from scratch (a rerun)")
            return None
        return state

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
