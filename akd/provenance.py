"""What travels with every result: code version, library versions, machine; and seed derivation."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import socket
import subprocess
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
LIBRARIES = ("torch", "torchvision", "numpy", "mlflow", "optuna", "pandas")


def git_state() -> dict[str, str]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        # the code's state: results/ holds generated outputs, rewritten by the very runs being traced
        dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results"))
    except (OSError, subprocess.CalledProcessError):
        return {"git_commit": "unknown", "git_dirty": "unknown"}
    return {"git_commit": commit, "git_dirty": str(dirty).lower()}


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what the platform reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware(device: torch.device, deterministic: bool | None = None) -> dict[str, str]:
    """What decides the last bits of every result besides the software: CPU model, GPU, threads,
    deterministic mode. Results are bitwise reproducible only where all of these (and the library
    versions) match."""
    out = {
        "host": socket.gethostname(),
        "host.cpu": cpu_model(),
        "host.cpu_count": str(os.cpu_count()),
        "host.cpu_threads": str(torch.get_num_threads()),
        "host.arch": platform.machine(),
        "device": str(device),
        "device.name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model(),
    }
    if device.type == "cuda":
        out["version.cuda"] = str(torch.version.cuda)
        out["version.cudnn"] = str(torch.backends.cudnn.version())
    if deterministic is not None:
        out["deterministic"] = str(deterministic).lower()
    return out


def provenance(device: torch.device, deterministic: bool | None = None) -> dict[str, str]:
    """Code version, library versions and hardware: the tags of every run and summary."""
    tags = {**git_state(), **{f"version.{k}": v for k, v in library_versions().items()}}
    return tags | hardware(device, deterministic)
