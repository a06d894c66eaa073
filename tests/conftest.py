"""Shared fixtures: CIFAR folders in the real on-disk layout, an isolated working directory."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


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


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory):
    """Tests never touch the user's teacher-output cache."""
    old = os.environ.get("AKD_CACHE")
    os.environ["AKD_CACHE"] = str(tmp_path_factory.mktemp("akd-cache"))
    yield
    if old is None:
        del os.environ["AKD_CACHE"]
    else:
        os.environ["AKD_CACHE"] = old


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in an empty working directory with a private MLflow store."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


needs_fashion_mnist = pytest.mark.skipif(
    not FASHION_MNIST.exists(), reason="apt-get install dataset-fashion-mnist (done by .ci/run)"
)
