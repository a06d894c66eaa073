"""Readers of the datasets' real on-disk formats: CIFAR's python pickles and IDX files.

Each checks what it reads (shapes, dtypes, label ranges, sizes) and turns a truncated, corrupt or
hostile file into a one-line :class:`AkdError`. CIFAR pickles are read with an unpickler that
admits only what the format holds, so a crafted file cannot run code, even under ``--dry-run``.
"""

from __future__ import annotations

import gzip
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from akd.errors import AkdError


@dataclass
class Split:
    images: torch.Tensor  # uint8 [N, C, H, W]
    labels: torch.Tensor  # int64 [N]

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device: torch.device) -> Split:
        return Split(self.images.to(device), self.labels.to(device))


class _CifarUnpickler(pickle.Unpickler):
    """Admits only what the CIFAR pickles hold: dicts, lists, strings, numbers and plain numpy arrays.

    A pickle can name any importable callable, so ``pickle.load`` on a downloaded file runs whatever
    it names; this one refuses every global but numpy's array reconstruction, and object dtypes.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("_codecs", "encode"),  # bytes in protocol-2 pickles written by Python 3
    }

    def find_class(self, module: str, name: str):  # noqa: ANN201
        if (module, name) == ("numpy", "dtype"):
            return _plain_dtype
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it names {module}.{name}, which a CIFAR file never holds")


def _plain_dtype(*args: object) -> np.dtype:
    dtype = np.dtype(*args)
    if dtype.hasobject:
        raise pickle.UnpicklingError("it holds an object array, which a CIFAR file never holds")
    return dtype


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            entry = _CifarUnpickler(f, encoding="latin1").load()
    except FileNotFoundError:
        raise AkdError(f"data file {path} is missing; delete its folder to download the dataset again") from None
    except OSError as exc:
        raise AkdError(f"cannot read data file {path}: {exc.strerror}") from None
    except Exception as exc:  # truncated, corrupt or hostile: pickle raises many types
        raise AkdError(f"data file {path} is corrupt or not a CIFAR file ({_reason(exc)}); nothing was run") from None
    if not isinstance(entry, dict):
        raise AkdError(f"data file {path} is not a CIFAR batch (a {type(entry).__name__}, not a dict)")
    return entry


def _reason(exc: Exception) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__


def _cifar_batch(entry: dict, key: str, path: Path, classes: int) -> tuple[np.ndarray, list[int]]:
    """Check one batch's ``data`` (uint8 [N, 3072]) and labels (N ints in range)."""
    data, labels = entry.get("data"), entry.get(key)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise AkdError(f"data file {path} has no uint8 'data' array of shape [N, 3072]")
    if not isinstance(labels, list) or len(labels) != len(data) or not all(type(v) is int for v in labels):
        raise AkdError(f"data file {path} has no list of {len(data)} integer '{key}'")
    if labels and not 0 <= min(labels) <= max(labels) < classes:
        raise AkdError(f"data file {path} has labels outside 0..{classes - 1}")
    return data, labels


def read_cifar(root: Path, name: str) -> tuple[Split, Split]:
    """Read the python-pickle CIFAR layout (``cifar-10-batches-py`` / ``cifar-100-python``)."""
    if name == "cifar10":
        folder, train_files, test_files, key = (
            root / "cifar-10-batches-py",
            [f"data_batch_{i}" for i in range(1, 6)],
            ["test_batch"],
            "labels",
        )
    else:
        folder, train_files, test_files, key = root / "cifar-100-python", ["train"], ["test"], "fine_labels"

    classes = 10 if name == "cifar10" else 100

    def load(files: list[str]) -> Split:
        images, labels = [], []
        for fname in files:
            data, batch_labels = _cifar_batch(_unpickle(folder / fname), key, folder / fname, classes)
            images.append(data.reshape(-1, 3, 32, 32))
            labels.extend(batch_labels)
        return Split(torch.from_numpy(np.concatenate(images)), torch.tensor(labels, dtype=torch.int64))

    return load(train_files), load(test_files)


DOWNLOADED = "delete {them} to download {them} again"  # the suite's own downloads
USERS = "write {them} again from their source (akd never deletes your data)"  # a user's dataset


def read_idx(images_path: Path, labels_path: Path, classes: int = 10, remedy: str = DOWNLOADED) -> Split:
    """Read (optionally gzipped) IDX files: 16-byte image header, 8-byte label header. ``remedy``
    (:data:`DOWNLOADED` or :data:`USERS`) is the advice a broken file gets."""

    def raw(path: Path) -> bytes:
        opener = gzip.open if path.suffix == ".gz" else open
        try:
            with opener(path, "rb") as f:
                return f.read()
        except OSError as exc:  # also gzip's BadGzipFile
            raise AkdError(f"cannot read data file {path}: {exc.strerror or _reason(exc)}") from None
        except EOFError:
            raise AkdError(f"data file {path} is truncated; {remedy.format(them='it')}") from None

    def header(data: bytes, path: Path, magic: int, size: int) -> list[int]:
        fields = [int.from_bytes(data[i : i + 4], "big") for i in range(0, size, 4)]
        if len(data) < size or fields[0] != magic:
            raise AkdError(f"data file {path} is not an IDX file of the expected kind (magic number {magic})")
        return fields

    img, lab = raw(images_path), raw(labels_path)
    _, n, rows, cols = header(img, images_path, 2051, 16)
    _, n_labels = header(lab, labels_path, 2049, 8)
    if len(img) != 16 + n * rows * cols or len(lab) != 8 + n_labels or n_labels != n:
        raise AkdError(
            f"data files {images_path} and {labels_path} are truncated or do not match; {remedy.format(them='them')}"
        )
    if n == 0:
        raise AkdError(f"data file {images_path} holds no images")
    if rows == 0 or cols == 0:
        raise AkdError(
            f"data file {images_path} holds images of {rows} x {cols} pixels (its header); {remedy.format(them='it')}"
        )
    images = np.frombuffer(img, np.uint8, offset=16).reshape(n, 1, rows, cols)
    labels = np.frombuffer(lab, np.uint8, offset=8).astype(np.int64)
    if n and labels.max() >= classes:
        raise AkdError(f"data file {labels_path} has labels outside 0..{classes - 1}")
    return Split(torch.from_numpy(images.copy()), torch.from_numpy(labels))
