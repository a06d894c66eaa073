"""Trained teachers and TAs, stored once under a key derived from their full recipe.

An entry is a folder ``<root>/<key>/`` holding ``model.pt`` (a state dict) and ``meta.json``
(the recipe, the results and the checkpoint's SHA-256). Entries are written to a temporary folder
and renamed into place, so a crash never leaves a half-written entry.

Shared safely: :meth:`ModelStore.locked` holds a per-entry file lock while a model is looked up
and, if missing, trained and saved, so a second process waits and reuses it instead of training
it again. An entry that is incomplete (no ``meta.json`` or ``model.pt``), unreadable or fails its
checksum is reported, trained once more and replaced; temporary folders left by a crashed writer
are removed by the next holder of the entry's lock.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock, Timeout

from akd.errors import AkdError, model_write
from akd.hashing import content_key, file_sha256

State = dict[str, torch.Tensor]


def recipe_key(recipe: dict[str, Any]) -> str:
    """A store entry's key: everything that made the model, hashed."""
    return content_key(recipe, 20)


def load_checkpoint(path: Path) -> State:
    """Load a user-named state dict (or a dict holding one under 'state_dict' / 'model')."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise AkdError(f"checkpoint {path} does not exist") from None
    except Exception as exc:
        raise AkdError(f"checkpoint {path} is corrupt or not a torch file ({type(exc).__name__})") from None
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise AkdError(f"checkpoint {path} does not hold a state dict of tensors")
    return obj


def check_fits(state: State, model: torch.nn.Module, path: str) -> State:
    """``state`` if it fits ``model``: the same names and shapes, float where the model has floats,
    and every value finite (a NaN teacher distils nothing and reports chance accuracy)."""
    expected = model.state_dict()
    if set(state) != set(expected) or any(state[k].shape != expected[k].shape for k in expected):
        raise AkdError(f"checkpoint {path} does not fit the configured architecture")
    for name, tensor in state.items():
        if tensor.dtype.is_floating_point != expected[name].dtype.is_floating_point:
            raise AkdError(f"checkpoint {path}: {name} holds {tensor.dtype} values where {expected[name].dtype} belong")
        if tensor.dtype.is_floating_point and not torch.isfinite(tensor).all():
            raise AkdError(f"checkpoint {path}: {name} holds NaN or infinite values; it cannot be used")
    return state


class ModelStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def entry(self, key: str) -> Path:
        return self.root / key

    def checkpoint_path(self, key: str) -> Path:
        """Where an unfinished job's training checkpoint lives (akd.checkpoint)."""
        return self.root / "checkpoints" / f"{key}.pt"

    def meta(self, key: str) -> dict[str, Any]:
        """A stored entry's metadata (recipe, results, history, MLflow run, attempts)."""
        return json.loads((self.entry(key) / "meta.json").read_text())

    def busy(self, key: str) -> bool:
        """True while a live process holds ``key``'s lock (a lock dies with its process)."""
        lock = FileLock(str(self.root / f".{key}.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return True
        lock.release()
        return False

    def problem(self, key: str) -> str | None:
        """Why the entry at ``key`` is unusable, or None if it is complete and intact (or absent)."""
        folder = self.entry(key)
        if not folder.exists():
            return None
        try:
            meta = json.loads((folder / "meta.json").read_text())
            if file_sha256(folder / "model.pt") != meta["sha256"]:
                return "model.pt fails its checksum"
        except FileNotFoundError as exc:
            return f"{Path(exc.filename).name} is missing"
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return f"meta.json is unreadable ({type(exc).__name__})"
        return None

    def has(self, key: str) -> bool:
        """True if a complete, intact entry is stored under ``key``."""
        return self.entry(key).is_dir() and self.problem(key) is None

    def load(self, key: str) -> tuple[State, dict[str, Any]]:
        folder = self.entry(key)
        problem = self.problem(key)
        if problem or not folder.exists():
            raise AkdError(f"stored model {folder} is unusable ({problem or 'missing'}); delete it to retrain")
        meta = json.loads((folder / "meta.json").read_text())
        return load_checkpoint(folder / "model.pt"), meta

    @contextmanager
    def locked(self, key: str, log: Callable[[str], None] = print) -> Iterator[bool]:
        """Hold ``key``'s lock: one process at a time looks the entry up, trains it and saves it.

        On entry, temporary folders of ``key`` (only ever left by a writer that died, since
        writers hold this lock) are removed, and an unusable entry is reported for retraining.
        Yields whether a usable entry is stored (checked once, under the lock).
        """
        self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.root / f".{key}.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            log(f"waiting for another process to finish {self.entry(key)}")
            lock.acquire()
        try:
            for stale in self.root.glob(f".{key}-*"):
                shutil.rmtree(stale, ignore_errors=True)
            problem = self.problem(key)
            if problem:
                log(f"stored model {self.entry(key)} is unusable ({problem}); it will be trained again and replaced")
            yield problem is None and self.entry(key).is_dir()
        finally:
            lock.release()

    def save(self, key: str, state: State, meta: dict[str, Any]) -> Path:
        """Write the entry atomically, replacing an unusable one; a valid entry already there wins."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=self.root))
        try:
            with model_write(self.entry(key)):
                torch.save({k: v.cpu() for k, v in state.items()}, tmp / "model.pt")
            meta = {**meta, "key": key, "sha256": file_sha256(tmp / "model.pt")}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=str))
            final = self.entry(key)
            if final.exists() and self.problem(key):  # move the broken entry aside, then drop it
                broken = Path(tempfile.mkdtemp(prefix=f".{key}-broken-", dir=self.root))
                os.replace(final, broken / "entry")
                shutil.rmtree(broken, ignore_errors=True)
            try:
                os.replace(tmp, final)
            except OSError:
                if not self.has(key):  # not a lost race with a valid entry: a real failure
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return self.entry(key)
