"""Keys, seeds and atomic writes: the small helpers every store, cache and result file shares.

- :func:`derive_seed`: a 63-bit seed from named parts (initial weights, epoch plans).
- :func:`content_key`: a short SHA-256 of a canonical JSON document (store keys, cache streams).
- :func:`file_sha256`: a file's checksum, read in chunks.
- :func:`atomic_write`: a file written to a temporary name in its folder, then renamed into place,
  so a reader sees the old content or the new, never half of it.
"""

from __future__ import annotations

import hashlib
import json
import os
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


def atomic_write(path: Path, data: str | bytes, fsync: bool = False) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # a name `akd cache clear` knows
    try:
        with open(tmp, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
