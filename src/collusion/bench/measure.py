"""What a measurement needs: the device's name, synchronisation, peak memory, rates, accuracy."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np
import torch

from .. import objective
from ..ensemble import StackedMLP, build_members, choose_execution
from ..provenance import device_description
from .cases import Case


def device_name(device: torch.device) -> str:
    """The GPU's name, or the processor's model and core count."""
    if device.type != "cpu":
        return device_description(device)
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        names = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
        model = names[0] if names else model
    return f"cpu ({model}, {os.cpu_count()} cores)"


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Stopwatch:
    """Wall seconds of what runs inside ``with Stopwatch(device) as watch:`` (``watch.seconds``),
    the device's queued work included."""

    def __init__(self, device: torch.device):
        self.device, self.seconds = device, float("nan")

    def __enter__(self):
        synchronise(self.device)
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc):
        synchronise(self.device)
        self.seconds = time.perf_counter() - self.started
        return False


def _resident_kb(field_name: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field_name):
                return int(line.split()[1])
    raise OSError(f"/proc/self/status has no {field_name}")


class PeakMemory:
    """Peak memory of what runs inside ``with PeakMemory(device) as peak:``; ``peak.mb`` after.
    CUDA: ``torch.cuda.max_memory_allocated``; CPU: the peak resident memory above the resident
    memory at the start (``VmHWM`` after resetting it through ``/proc/self/clear_refs``)."""

    def __init__(self, device: torch.device):
        self.device, self.mb = device, float("nan")

    def __enter__(self):
        gc.collect()
        with contextlib.suppress(OSError, AttributeError):  # glibc: hand freed heap pages back
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        if self.device.type == "cuda":
            synchronise(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            return self
        try:
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")  # resets VmHWM, the peak resident set, to the current one
            self.base_kb, self.reset = _resident_kb("VmRSS:"), True
        except OSError:  # no /proc: the process-wide peak, not resettable
            self.base_kb, self.reset = 0, False
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            synchronise(self.device)
            self.mb = torch.cuda.max_memory_allocated(self.device) / 2**20
        elif self.reset:
            self.mb = (_resident_kb("VmHWM:") - self.base_kb) / 1024
        else:
            self.mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return False


def throughput(period_seconds: list[float], images_per_period: int) -> float:
    """Images per second over the periods (epochs, or --steps minibatches) after the first, which
    is the warm-up; over all of them if there is only one."""
    steady = period_seconds[1:] or period_seconds
    return images_per_period * len(steady) / sum(steady)


def extrapolated_job_seconds(case: Case, train_rate: float, eval_rate: float) -> float | None:
    """Seconds of the paper's job that ``case`` stands for at the measured rates: an
    extrapolation (every epoch trains job n_train images and evaluates job n_eval)."""
    if case.job is None:
        return None
    per_epoch = case.job["n_train"] / train_rate + case.job["n_eval"] / eval_rate
    return case.job["epochs"] * per_epoch


def ensemble_accuracy(outputs: torch.Tensor, y: torch.Tensor, aggregation: str) -> float:
    prediction, _ = objective.predictions(outputs.float(), aggregation)
    return (prediction == y.to(prediction.device)).float().mean().item()


def resolve_executions(
    case: Case, options: dict, path: Path, device: torch.device, asked: list[str]
) -> list[str]:
    """The distinct executions to measure, "auto" resolved (and first), those the architecture
    cannot run left out."""
    with np.load(path) as archive:
        in_shape, n_classes = archive["X"].shape[1:], int(archive["n_classes"])
    members = build_members(case.arch, in_shape, n_classes, 1, 0, options)
    resolved = []
    for execution in sorted(asked, key=lambda e: e != "auto"):
        if execution == "auto":
            execution = choose_execution(members, device)
        if execution == "stacked" and not StackedMLP.supports(members):
            print(f"{case.arch}: skipped execution 'stacked', it runs plain MLPs only", flush=True)
        elif execution not in resolved:
            resolved.append(execution)
    return resolved
