"""What produced a run: configuration slice and hash, code version and fingerprint, packages, data,
device (CPU model, GPU name, CUDA and cuDNN versions), start and end times, resume."""

from __future__ import annotations

import platform
import socket
import subprocess
from datetime import datetime, timezone
from importlib import metadata

import torch

PACKAGES = ("torch", "torchvision", "numpy", "pandas", "scikit-learn", "snakemake", "vit-pytorch")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def git_version() -> dict:
    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "HEAD")
    return {
        "commit": commit or "unknown",
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


def package_versions() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({cpu_model()})"


def hardware(device: torch.device) -> dict:
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {
        "cpu": cpu_model(),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "cuda": torch.version.cuda,
        "cudnn": cudnn,
    }


def provenance(
    config_slice: dict,
    config_hash: str,
    data_path: str,
    data_md5: str,
    device: torch.device,
    threads: int,
) -> dict:
    return {
        "config": config_slice,
        "config_hash": config_hash,
        "code": git_version(),
        "packages": package_versions(),
        "python": platform.python_version(),
        "data": {"path": str(data_path), "md5": data_md5},
        "device": device_description(device),
        "hardware": hardware(device),
        "threads": threads,
        "host": socket.gethostname(),
        "finished": now(),
    }
