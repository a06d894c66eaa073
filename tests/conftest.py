"""Shared fixtures: CIFAR folders in the real on-disk layout, an isolated working directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import akd.catalog  # noqa: F401  (registers every method, model and dataset, as the CLI does)
from akd.data import DEBIAN_FASHION_MNIST
from akd.fixtures import write_cifar  # noqa: F401  (re-exported for the tests)

FASHION_MNIST = DEBIAN_FASHION_MNIST
# A CIFAR fixture as large as the smoke profile asks (512 train, 256 validation, 512 test images).
SMOKE_SIZES = {"n_train": 2850, "n_test": 512}


def tiny_cifar(root: Path, name: str, n_train: int, n_test: int, batch_size: int):
    """A resnet8 -> resnet8 config on a CIFAR fixture written under ``root``, and its loaded task."""
    from akd.config import BenchConfig, DataConfig
    from akd.tasks.base import load_task

    write_cifar(root, name, n_train=n_train, n_test=n_test)
    cfg = BenchConfig(teacher="resnet8", student="resnet8", data=DataConfig(dataset=name, data_dir=str(root)))
    cfg.optim.batch_size = batch_size
    return cfg, load_task(cfg)


# Offline, as CI is: without these, HuggingFace calls wait 25-50 s for the network to fail.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory):
    """Tests never touch the user's teacher-output cache or HuggingFace datasets cache."""
    names = ("AKD_CACHE", "HF_DATASETS_CACHE")
    old = {name: os.environ.get(name) for name in names}
    for name in names:
        os.environ[name] = str(tmp_path_factory.mktemp(name.lower()))
    yield
    for name, value in old.items():
        if value is None:
            del os.environ[name]
        else:
            os.environ[name] = value


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in an empty working directory with a private MLflow store."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


@pytest.fixture(scope="session")
def real_fashion_mnist():
    """The real Fashion-MNIST (Debian's package), for the tests that need the real data and nothing
    else: skipped, with the reason printed, where it is missing; a failure under
    ``AKD_REQUIRE_REAL_DATA=1`` (.ci/run, which installs it), so CI never skips one silently."""
    if FASHION_MNIST.exists():
        return FASHION_MNIST
    reason = f"the real Fashion-MNIST is not at {FASHION_MNIST}: apt-get install dataset-fashion-mnist"
    if os.environ.get("AKD_REQUIRE_REAL_DATA") == "1":
        pytest.fail(f"{reason} (AKD_REQUIRE_REAL_DATA=1: this machine must have it)")
    pytest.skip(reason)


PAPER_TABLES = [  # every table analysis/paper_tables.py writes from the committed results
    "cifar",
    "glue_distilroberta",
    "glue_bert-small",
    "fashion_mnist",
    "fashion_mnist_study",
    "fashion_mnist_gap",
    "glue_mini_cpu",
    "glue_mini_evidence",
    "differences",
    "fidelity",
]
