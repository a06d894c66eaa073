"""Keys, seeds and atomic writes: the small helpers every store, cache and result file shares.

- :func:`derive_seed`: a 63-bit seed from named parts (initial weights, epoch plans).
- :func:`content_key`: a short SHA-256 of a canonical JSON document (store keys, cache streams).
- :func:`file_sha256`: a file's checksum, read in chunks.
- :func:`atomic_write`: a file written to a temporary name in its folder, then renamed into place,
  so a reader sees the old content or the new, never half of it.
- :func:`temp_beside`: that temporary name: random (64 bits) and created exclusively, so writers on
  other hosts of a shared file system (whose pids repeat) never share one.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from named parts, e.g. ``derive_seed(seed, "init", "student")``."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def canonical_json(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, default=str)


def content_key(doc: Any, length: int) -> str:
    """The first ``length`` hex digits of the SHA-256 of ``doc`` as canonical JSON."""
    return hashlib.sha256(canonical_json(doc).encode()).hexdigest()[:length]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def temp_beside(path: Path, suffix: str = ".tmp") -> tuple[Path, int]:
    """A new, empty file ``.<name>.<16 hex digits><suffix>`` beside ``path`` and its open descriptor:
    created with ``O_EXCL`` (on NFS too), with the umask's ordinary permissions."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}{suffix}")
        try:
            return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:  # 2**-64 per try
            continue


def atomic_write(path: Path, data: str | bytes, fsync: bool = False) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp, fd = temp_beside(path)  # a name `akd cache clear` knows
    try:
        with open(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
