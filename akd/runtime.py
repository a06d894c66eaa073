"""The machine side of a run: device, threads, determinism, memory format, autocast, compile.

One place prepares a run before training (:func:`setup_runtime`), and the engine asks the
:class:`Runtime` how to lay out inputs and models. Settings (``BenchConfig``):

- ``channels_last`` (default on): NHWC layout for conv nets. Measured on the 2-core CPU here it
  trains resnet8 1.4x and runs resnet110 inference 1.6x faster than NCHW; on CUDA it feeds tensor cores.
- ``amp`` (default on): bf16 autocast on CUDA only. Never on CPU, where bf16 autocast is 10-30x
  slower than fp32 on the machines measured (DATA.md).
- ``compile`` (default off): ``torch.compile`` for the trained model and the frozen teacher; pays
  tens of seconds of compilation per stage, so it is for long GPU runs.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
from torch import nn

from akd.errors import AkdError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AkdError(f"device {name!r} was asked for but CUDA is not available")
    try:
        return torch.device(name)
    except RuntimeError:
        raise AkdError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    channels_last: bool = True
    amp: bool = True  # bf16 autocast, honoured on CUDA only
    compile: bool = False

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return torch.bfloat16 if self.amp and self.device.type == "cuda" else None

    def autocast(self) -> contextlib.AbstractContextManager:
        dtype = self.autocast_dtype
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)

    def layout(self, x):  # noqa: ANN001, ANN201
        """Put an image batch ([B, C, H, W]) in the run's memory format; other inputs pass unchanged."""
        if self.channels_last and isinstance(x, torch.Tensor) and x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def place(self, model: nn.Module) -> nn.Module:
        """Move a model to the device and memory format (in place; returns it)."""
        model.to(self.device)
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        return model

    def forward_fn(self, model: nn.Module):
        """The callable that runs ``model``: compiled when asked, the module itself otherwise."""
        return torch.compile(model) if self.compile else model

    def describe(self) -> dict[str, str]:
        """What changes a model's outputs in the last bits; part of the teacher-output cache key."""
        return {
            "device": self.device.type,
            "channels_last": str(self.channels_last),
            "autocast": str(self.autocast_dtype),
            "deterministic": str(torch.are_deterministic_algorithms_enabled()),
            "torch": torch.__version__,
        }


def setup_runtime(
    device: str = "auto",
    threads: int = 0,
    deterministic: bool = False,
    channels_last: bool = True,
    amp: bool = True,
    compile: bool = False,
) -> Runtime:
    """Everything a run needs before training: threads, determinism, device and layout."""
    if threads:
        torch.set_num_threads(threads)
    if deterministic:
        torch.use_deterministic_algorithms(True)
    return Runtime(resolve_device(device), channels_last=channels_last, amp=amp, compile=compile)


WORKER_MEMORY = 1.5 * 2**30  # bytes a CPU worker holds at least: torch, the data, a model, its optimiser


def available_memory() -> float | None:
    """Bytes of memory available to new processes (Linux ``MemAvailable``), None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024.0
    except OSError:
        return None
    return None


def check_workers(workers: int, environ: dict | None = None) -> None:
    """Refuse more worker processes (``--workers``) than this machine's cores or memory hold, before
    any starts; ``AKD_MAX_WORKERS=N`` raises the cap (jobs that need less than the assumed memory)."""
    environ = os.environ if environ is None else environ
    if workers < 1:
        raise AkdError(f"--workers must be >= 1, got {workers}")
    override = environ.get("AKD_MAX_WORKERS", "")
    if override:
        if not override.isdigit() or int(override) < 1:
            raise AkdError(f"AKD_MAX_WORKERS must be a whole number >= 1, got {override!r}")
        if workers > int(override):
            raise AkdError(f"--workers {workers} exceeds AKD_MAX_WORKERS={override}")
        return
    cores = os.cpu_count() or 1
    memory = available_memory()
    fit = cores if memory is None else min(cores, max(1, int(memory // WORKER_MEMORY)))
    if workers > fit:
        have = f"{cores} cores" + ("" if memory is None else f" and {memory / 2**30:.1f} GiB available memory")
        raise AkdError(
            f"--workers {workers} is more than this machine holds ({have}: at most {fit} workers of at least one "
            f"core and {WORKER_MEMORY / 2**30:.1f} GiB each); use --workers {fit}, or set AKD_MAX_WORKERS={workers} "
            "to start them anyway"
        )
