"""Synthetic datasets written in the real on-disk formats, for the tests and the perf benchmark.

Full CIFAR cannot be downloaded on the machines this suite is developed on, so the CIFAR reader is
exercised on folders laid out exactly like torchvision's python-pickle release.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np


def write_cifar(root: Path, name: str, n_train: int, n_test: int, seed: int = 0) -> dict:
    """Write a CIFAR fixture in torchvision's python-pickle layout; return the arrays written."""
    rng = np.random.default_rng(seed)
    classes = 10 if name == "cifar10" else 100
    train = rng.integers(0, 256, (n_train, 3072), dtype=np.uint8)
    test = rng.integers(0, 256, (n_test, 3072), dtype=np.uint8)
    y_train = rng.integers(0, classes, n_train).tolist()
    y_test = rng.integers(0, classes, n_test).tolist()
    if name == "cifar10":
        folder = root / "cifar-10-batches-py"
        folder.mkdir(parents=True)
        for i, part in enumerate(np.array_split(np.arange(n_train), 5), start=1):
            batch = {
                "batch_label": f"training batch {i} of 5",
                "data": train[part],
                "labels": [y_train[j] for j in part],
                "filenames": [f"{j}.png" for j in part],
            }
            (folder / f"data_batch_{i}").write_bytes(pickle.dumps(batch))
        (folder / "test_batch").write_bytes(pickle.dumps({"data": test, "labels": y_test}))
        (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}))
    else:
        folder = root / "cifar-100-python"
        folder.mkdir(parents=True)
        coarse = rng.integers(0, 20, n_train).tolist()
        (folder / "train").write_bytes(pickle.dumps({"data": train, "fine_labels": y_train, "coarse_labels": coarse}))
        (folder / "test").write_bytes(
            pickle.dumps({"data": test, "fine_labels": y_test, "coarse_labels": rng.integers(0, 20, n_test).tolist()})
        )
        (folder / "meta").write_bytes(pickle.dumps({"fine_label_names": [f"c{i}" for i in range(100)]}))
    return {"train": train, "test": test, "y_train": y_train, "y_test": y_test}
