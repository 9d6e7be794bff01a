"""What produced a run: configuration slice and hash, code version, packages, data, device."""

from __future__ import annotations

import platform
import socket
import subprocess
from datetime import datetime, timezone
from importlib import metadata

import torch

PACKAGES = ("torch", "torchvision", "numpy", "pandas", "scikit-learn", "snakemake", "vit-pytorch")


def git_version() -> dict:
    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "HEAD")
    return {"commit": commit or "unknown", "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def package_versions() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()})"


def provenance(config_slice: dict, config_hash: str, data_path: str, data_md5: str,
               device: torch.device, threads: int) -> dict:
    return {
        "config": config_slice,
        "config_hash": config_hash,
        "code": git_version(),
        "packages": package_versions(),
        "python": platform.python_version(),
        "data": {"path": str(data_path), "md5": data_md5},
        "device": device_description(device),
        "threads": threads,
        "host": socket.gethostname(),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
