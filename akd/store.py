"""Trained teachers and TAs, stored once under a key derived from their full recipe.

An entry is a folder ``<root>/<key>/`` holding ``model.pt`` (a state dict) and ``meta.json``
(the recipe, the results and the checkpoint's SHA-256). Entries are written to a temporary folder
and renamed into place, so a crash never leaves a half-written entry; a checksum mismatch on load
is reported as a corrupt checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from akd.errors import AkdError

State = dict[str, torch.Tensor]


def recipe_key(recipe: dict[str, Any]) -> str:
    canonical = json.dumps(recipe, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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


class ModelStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def entry(self, key: str) -> Path:
        return self.root / key

    def has(self, key: str) -> bool:
        return (self.entry(key) / "meta.json").exists()

    def load(self, key: str) -> tuple[State, dict[str, Any]]:
        folder = self.entry(key)
        meta = json.loads((folder / "meta.json").read_text())
        if file_sha256(folder / "model.pt") != meta["sha256"]:
            raise AkdError(f"stored model {folder} is corrupt (checksum mismatch); delete that folder to retrain it")
        return load_checkpoint(folder / "model.pt"), meta

    def save(self, key: str, state: State, meta: dict[str, Any]) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=self.root))
        try:
            torch.save({k: v.cpu() for k, v in state.items()}, tmp / "model.pt")
            meta = {**meta, "key": key, "sha256": file_sha256(tmp / "model.pt")}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=str))
            final = self.entry(key)
            if final.exists():  # another process finished first; keep theirs
                shutil.rmtree(tmp)
            else:
                os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return self.entry(key)
