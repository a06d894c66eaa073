"""The teacher-output cache: a frozen model's logits for one training epoch, computed once.

Valid with augmentation because batch order, crops and flips are a pure function of
(seed, epoch, sample index) (``akd.data.epoch_plan``). A *stream* is everything that changes the
logits except the epoch: the model's weights (SHA-256 of its state), the data fingerprint and
normalisation, the augmentation, the seed, the batch size, the stored dtype and the runtime
(device type, memory format, autocast, determinism, torch version). Its folder holds one entry per epoch:

    <root>/<stream key>/stream.json             what the stream is (for ``akd cache info``)
    <root>/<stream key>/epoch-0007.npy          [N, classes] logits, row = sample index
    <root>/<stream key>/epoch-0007.json         SHA-256 and size of the .npy: the commit marker

An entry is written to a temporary file and renamed into place, then its ``.json`` is renamed
into place; a reader trusts only an entry whose ``.json`` matches the ``.npy`` byte for byte, and
rebuilds anything else. The root holds a ``CACHEDIR.TAG`` (the Cache Directory Tagging convention,
which backup tools honour); ``clear`` removes only the files the cache writes and refuses a folder
that is neither tagged nor made of stream folders alone, so a mistyped ``--cache-dir`` deletes
nothing of the user's. Two processes that need the same entry serialise on a per-entry file
lock, so it is computed once. Beyond ``max_bytes`` the least recently used entries are evicted.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from filelock import FileLock, Timeout
from torch import nn

from akd import faults
from akd.config import CACHE_DTYPES
from akd.errors import AkdError
from akd.hashing import atomic_write, content_key, file_sha256, temp_beside

FORMAT = 1
DTYPES = {name: getattr(np, name) for name in CACHE_DTYPES}  # float32, float16
FP16_MAX = float(np.finfo(np.float16).max)
TAG_NAME = "CACHEDIR.TAG"
SIGNATURE = "Signature: 8a477f597d28d172789f06886806bc55"  # the Cache Directory Tagging standard's
TAG = f"{SIGNATURE}\n# This folder is akd-bench's teacher-output cache; `akd cache clear` empties it.\n"
STREAM_DIR = re.compile(r"[0-9a-f]{24}")
# Every file name the cache writes inside a stream folder (entries, markers, locks, temporaries).
OWN_FILE = re.compile(
    r"stream\.json|epoch-\d{4,}\.(npy|json|lock)"  # entries, markers, locks
    r"|\.(epoch-\d{4,}\.npy|stream\.json)\.[0-9a-f]+(\.json)?\.tmp"  # temporaries of a writer (hashing.temp_beside)
)


def default_cache_dir() -> str:
    return os.environ.get("AKD_CACHE") or ".akd/cache"


def state_digest(model: nn.Module) -> str:
    """SHA-256 of a model's weights and buffers (names, dtypes, shapes and values)."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def stream_key(identity: dict[str, Any]) -> str:
    return content_key({"format": FORMAT, **identity}, 24)


@dataclass
class CacheEntry:
    stream: str
    epoch: int
    path: Path  # the .npy
    nbytes: int
    last_used: float


class LogitCache:
    def __init__(self, root: str | Path, max_bytes: int = 0, dtype: str = "float32", log=print) -> None:
        if dtype not in DTYPES:
            raise AkdError(f"cache dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        self.root, self.max_bytes, self.dtype, self.log = Path(root), max_bytes, dtype, log

    # ------------------------------------------------------------------ reading and filling
    def get(
        self, identity: dict[str, Any], epoch: int, compute: Callable[[], torch.Tensor]
    ) -> tuple[torch.Tensor, bool]:
        """The epoch's logits (a memory-mapped CPU tensor) and whether they were computed now."""
        folder = self.root / stream_key({**identity, "dtype": self.dtype})
        npy, meta = _paths(folder, epoch)
        found = _open_valid(npy, meta)
        if found is not None:
            return found, False
        folder.mkdir(parents=True, exist_ok=True)
        if not (self.root / TAG_NAME).exists():
            (self.root / TAG_NAME).write_text(TAG)
        _write_json_once(folder / "stream.json", {**identity, "dtype": self.dtype, "format": FORMAT})
        lock = FileLock(str(npy.with_suffix(".lock")))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            self.log(f"waiting for another process computing {folder.name}/{npy.name}")
            lock.acquire()
        try:
            found = _open_valid(npy, meta)
            if found is not None:  # another process computed it while we waited
                return found, False
            if npy.exists() or meta.exists():
                self.log(f"cache entry {folder.name}/{npy.name} is incomplete or corrupt; rebuilding it")
            _remove(npy, meta)
            for stale in folder.glob(f".{npy.name}.*"):  # left by a process that died mid-write
                stale.unlink(missing_ok=True)
            logits = compute()
            self._write(logits, npy, meta, epoch)
        finally:
            lock.release()
        self.evict(keep=npy)
        return _open(npy, meta), True

    def _write(self, logits: torch.Tensor, npy: Path, meta: Path, epoch: int) -> None:
        array = logits.detach().cpu().float().numpy()
        if self.dtype == "float16" and np.abs(array).max(initial=0.0) > FP16_MAX:
            raise AkdError(
                f"teacher logits reach {np.abs(array).max():.3g}, beyond float16's range; use cache.dtype=float32"
            )
        array = array.astype(DTYPES[self.dtype])
        tmp_npy, fd = temp_beside(npy)
        tmp_meta = tmp_npy.with_name(tmp_npy.name.removesuffix(".tmp") + ".json.tmp")
        try:
            with open(fd, "wb") as f:
                np.save(f, array)
                f.flush()
                os.fsync(f.fileno())
            info = {"epoch": epoch, "shape": list(array.shape), "dtype": self.dtype}
            info |= {"bytes": tmp_npy.stat().st_size, "sha256": file_sha256(tmp_npy), "created": time.time()}
            tmp_meta.write_text(json.dumps(info, indent=1))
            faults.point("cache write")
            os.replace(tmp_npy, npy)
            os.replace(tmp_meta, meta)  # the commit: only now is the entry valid
        finally:
            tmp_npy.unlink(missing_ok=True)
            tmp_meta.unlink(missing_ok=True)

    # ------------------------------------------------------------------ housekeeping
    def entries(self) -> list[CacheEntry]:
        out = []
        for meta in self.root.glob("*/epoch-*.json"):
            npy = meta.with_suffix(".npy")
            try:
                nbytes, used = npy.stat().st_size, meta.stat().st_mtime
            except FileNotFoundError:
                continue
            out.append(CacheEntry(meta.parent.name, int(meta.stem.split("-")[1]), npy, nbytes, used))
        return out

    def evict(self, keep: Path | None = None) -> int:
        """Drop least recently used entries until the cache fits ``max_bytes``; returns bytes freed."""
        if self.max_bytes <= 0:
            return 0
        entries = sorted(self.entries(), key=lambda e: e.last_used)
        total, freed = sum(e.nbytes for e in entries), 0
        for entry in entries:
            if total - freed <= self.max_bytes:
                break
            if entry.path != keep and self._remove_entry(entry):
                freed += entry.nbytes
        return freed

    def is_cache(self) -> bool:
        """True for a missing or empty folder, a tagged cache, or one of stream folders alone (untagged,
        made before the tag existed)."""
        if not self.root.exists():
            return True
        if not self.root.is_dir():
            return False
        if (self.root / TAG_NAME).is_file() and (self.root / TAG_NAME).read_text().startswith(SIGNATURE):
            return True
        return all(STREAM_DIR.fullmatch(p.name) and (p / "stream.json").is_file() for p in self.root.iterdir())

    def clear(self) -> tuple[int, int]:
        """Remove every entry not being written right now; returns (entries, bytes) removed.

        Only the cache's own files go: a stream folder is removed once it holds nothing else, and
        anything else in the folder is left as it was. A folder that is not a cache is refused.
        """
        if self.root.exists() and not self.root.is_dir():
            raise AkdError(f"{self.root} is a file, not a teacher-output cache; nothing was removed")
        if not self.is_cache():
            raise AkdError(
                f"{self.root} is not a teacher-output cache (no {TAG_NAME}, and it holds other files); "
                "nothing was removed"
            )
        removed = [e for e in self.entries() if self._remove_entry(e)]
        for folder in self.root.glob("*"):
            if STREAM_DIR.fullmatch(folder.name) and folder.is_dir() and not any(folder.glob("epoch-*.json")):
                _remove_stream_folder(folder)
        return len(removed), sum(e.nbytes for e in removed)

    def _remove_entry(self, entry: CacheEntry) -> bool:
        lock = FileLock(str(entry.path.with_suffix(".lock")))
        try:
            lock.acquire(timeout=0)
        except Timeout:  # being computed by another process
            return False
        try:
            _remove(entry.path, entry.path.with_suffix(".json"))
        finally:
            lock.release()
        return True

    def info(self) -> str:
        """A human-readable table of the streams held."""
        entries = self.entries()
        total = sum(e.nbytes for e in entries)
        limit = format_bytes(self.max_bytes) if self.max_bytes > 0 else "none"
        lines = [
            f"Teacher-output cache at {self.root.resolve()}: {format_bytes(total)} in {len(entries)} epochs "
            f"(limit {limit})"
        ]
        streams: dict[str, list[CacheEntry]] = {}
        for e in entries:
            streams.setdefault(e.stream, []).append(e)
        for key, group in sorted(streams.items(), key=lambda kv: -max(e.last_used for e in kv[1])):
            try:
                ident = json.loads((self.root / key / "stream.json").read_text())
            except (OSError, ValueError):
                ident = {}
            used = time.strftime("%Y-%m-%d %H:%M", time.localtime(max(e.last_used for e in group)))
            epochs = sorted(e.epoch for e in group)
            lines.append(
                f"  {key[:12]}  {ident.get('role', '?')}:{ident.get('arch', '?')} {ident.get('dataset', '?')} "
                f"seed {ident.get('seed', '?')} {ident.get('dtype', '?')}  epochs {_ranges(epochs)}  "
                f"{format_bytes(sum(e.nbytes for e in group))}  last used {used}"
            )
        return "\n".join(lines)


def _paths(folder: Path, epoch: int) -> tuple[Path, Path]:
    return folder / f"epoch-{epoch:04d}.npy", folder / f"epoch-{epoch:04d}.json"


def _valid(npy: Path, meta: Path) -> bool:
    try:
        info = json.loads(meta.read_text())
        return npy.stat().st_size == info["bytes"] and file_sha256(npy) == info["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _open(npy: Path, meta: Path) -> torch.Tensor:
    os.utime(meta)  # marks the entry recently used, for eviction
    return torch.from_numpy(np.load(npy, mmap_mode="c"))  # copy-on-write: never writes the file


def _open_valid(npy: Path, meta: Path) -> torch.Tensor | None:
    """The entry if it is complete and intact (and not evicted meanwhile), else None."""
    if not _valid(npy, meta):
        return None
    try:
        return _open(npy, meta)
    except (FileNotFoundError, ValueError):
        return None


def _remove(*paths: Path) -> None:
    for path in reversed(paths):  # the commit marker first, so no reader trusts a half-removed entry
        path.unlink(missing_ok=True)


def _remove_stream_folder(folder: Path) -> None:
    """Remove the cache's own files from a stream folder with no entries, then the folder if empty."""
    for lock_path in folder.glob("epoch-*.lock"):
        lock = FileLock(str(lock_path))
        try:
            lock.acquire(timeout=0)
        except Timeout:  # an entry is being computed: leave the folder
            return
        lock.release()
    for path in folder.iterdir():
        if path.is_file() and OWN_FILE.fullmatch(path.name):
            path.unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:  # something that is not the cache's own lives there: keep it
        pass


def _write_json_once(path: Path, obj: dict[str, Any]) -> None:
    if path.exists():
        return
    atomic_write(path, json.dumps(obj, indent=1, sort_keys=True, default=str))


def format_bytes(nbytes: float) -> str:
    if nbytes < 1000:
        return f"{nbytes:.0f} B"
    for unit in ("kB", "MB"):
        nbytes /= 1000
        if nbytes < 1000:
            return f"{nbytes:.1f} {unit}"
    return f"{nbytes / 1000:.1f} GB"


def _ranges(values: list[int]) -> str:
    parts, start = [], None
    for i, v in enumerate(values):
        if start is None:
            start = v
        if i + 1 == len(values) or values[i + 1] != v + 1:
            parts.append(f"{start}" if start == v else f"{start}-{v}")
            start = None
    return ",".join(parts)
