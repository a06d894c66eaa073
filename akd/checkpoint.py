"""Training checkpoints: a killed job resumes where its last checkpoint left it.

One file per job, ``<store>/checkpoints/<job key>.pt``, replaced atomically (written beside, then
renamed), so a kill at any instant leaves the previous checkpoint or the new one, never half of
one. It holds where the job is (stage, next epoch), everything training depends on (model,
optimiser, torch's random state, best-so-far state and its validation metrics, history, seconds),
the finished stages' results, and the job's MLflow run. The learning rate is a pure function of
the step and the batches a pure function of (seed, epoch, sample), so nothing else is needed: on
the same machine a resumed job ends bit-identical to an uninterrupted one (tested).

A checkpoint is written after every ``every_epochs`` epochs, or at the first epoch end once
``every_minutes`` have passed since the last one (0 turns either rule off), and always at the end
of a stage; it is deleted once the job's result is stored.
"""

from __future__ import annotations

import os
import platform
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from akd.errors import AkdError, model_write


def rng_state() -> dict[str, Any]:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Checkpointer:
    """The checkpoint file of one job, and when to write it."""

    def __init__(self, path: Path, every_epochs: int = 1, every_minutes: float = 0.0) -> None:
        self.path, self.every_epochs, self.every_minutes = Path(path), every_epochs, every_minutes
        self._since, self._last = 0, time.monotonic()

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None when there is none. A checkpoint that cannot be read is an error:
        deleting it restarts the job from scratch."""
        if not self.path.exists():
            return None
        try:
            return torch.load(self.path, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise AkdError(
                f"checkpoint {self.path} is unreadable ({type(exc).__name__}); delete it to restart that job"
            ) from None

    def due(self) -> bool:
        """Counts one finished epoch; True when a checkpoint is due by epochs or by minutes."""
        self._since += 1
        by_epochs = self.every_epochs > 0 and self._since >= self.every_epochs
        by_minutes = self.every_minutes > 0 and time.monotonic() - self._last >= 60 * self.every_minutes
        return by_epochs or by_minutes

    def save(self, state: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}-", dir=self.path.parent)
        os.close(fd)
        try:
            with model_write(self.path):
                torch.save(state, tmp)
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self._since, self._last = 0, time.monotonic()

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def checkpoint_state(
    stage: int, done: list, models: dict, current: dict | None, run_id: str, attempts: list
) -> dict[str, Any]:
    """A method job's checkpoint: the stage it is in, the finished stages' results, the models a
    later stage starts from, the current stage's training state, the random state, its MLflow run
    and its attempts."""
    return {
        "stage": stage,
        "done": done,
        "models": models,
        "current": current,
        "rng": rng_state(),
        "run_id": run_id,
        "attempts": attempts,
    }


def logged_history(state: dict[str, Any]) -> list[dict[str, float]]:
    """The records of every epoch a checkpoint holds, as they are logged (with their phase)."""
    out = [r | {"phase": i + 1} for i, d in enumerate(state["done"]) for r in d["result"].history]
    current = state["current"] or {}
    return out + [r | {"phase": state["stage"] + 1} for r in current.get("history", [])]


def attempt_record(state: dict[str, Any] | None) -> dict[str, Any]:
    """Where this attempt starts (stage, epoch) and who runs it: every training attempt is counted."""
    stage = state["stage"] if state else 0
    epoch = (state["current"] or {}).get("epoch", 0) if state else 0
    return {
        "stage": stage,
        "epoch": epoch,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "python": platform.python_version(),
        "started": time.time(),
    }
