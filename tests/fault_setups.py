"""The set-ups of the fault suite's rows (tests/fault_rows.py): the files a user already has when they
run the command. A user-file set-up writes them into the test's folder and returns the benchmark
file's ``[task]`` table; a CIFAR set-up (the built-in benchmark on a CIFAR-10 fixture) returns extra
arguments, or a whole command starting with ``bench`` or ``cache``."""

from __future__ import annotations

import gzip
import os
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from akd.models import build_model


# ------------------------------------------------------------------------------------ the user's files
def _idx(path: Path, array: np.ndarray, magic: int) -> None:
    header = [magic, *array.shape]
    path.write_bytes(b"".join(v.to_bytes(4, "big") for v in header) + array.astype(np.uint8).tobytes())


def idx_task(tmp: Path, train_labels: np.ndarray, n_test: int = 10, cut: int = 0) -> str:
    rng = np.random.default_rng(0)
    folder = tmp / "digits"
    folder.mkdir()
    for split, labels in (("train", train_labels), ("test", rng.integers(0, 4, (n_test,)))):
        _idx(folder / f"{split}-images", rng.integers(0, 256, (len(labels), 6, 6)), 2051)
        _idx(folder / f"{split}-labels", labels, 2049)
    if cut:
        images = folder / "train-images"
        images.write_bytes(images.read_bytes()[:-cut])
    return (
        '[task]\nkind = "images"\nfolder = "digits"\ntrain = "train-images"\ntest = "test-images"\n'
        'train_labels = "train-labels"\ntest_labels = "test-labels"\n'
    )


def png_task(tmp: Path, classes: tuple[str, ...]) -> str:
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", 20), ("test", 4)):
        for name in classes:
            (tmp / "pets" / split / name).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(
                    tmp / "pets" / split / name / f"{i}.png"
                )
    return '[task]\nkind = "images"\nfolder = "pets"\ntrain = "train"\ntest = "test"\n'


def tsv_task(tmp: Path, labels: Callable[[int], str], num_labels: int, metrics: str) -> str:
    folder = tmp / "reviews"
    folder.mkdir()
    for name, n in (("train.tsv", 40), ("dev.tsv", 10)):
        rows = [f"{'great film' if i % 2 else 'dull plot'}\t{labels(i)}" for i in range(n)]
        (folder / name).write_text("review\tverdict\n" + "\n".join(rows) + "\n")
    return (
        f'[task]\nkind = "text"\nfolder = "reviews"\ntexts = ["review"]\nlabel = "verdict"\n'
        f"num_labels = {num_labels}\nmetrics = {metrics}\n"
    )


def user_file(tmp: Path, name: str, content: bytes = b"") -> str:
    """A file (or, for a name ending in /, a folder) the user already has."""
    if name.endswith("/"):
        (tmp / name).mkdir()
    else:
        (tmp / name).write_bytes(content)
    return ""


def best_json(tmp: Path, params: object) -> str:
    import json

    doc = {"methods": {m: {"best": {"params": params, "value": 50.0}} for m in ("nokd", "kd")}}
    return user_file(tmp, "best.json", json.dumps(doc).encode())


def other_sqlite() -> bytes:
    import sqlite3
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        con = sqlite3.connect(Path(d) / "x.db")
        con.execute("CREATE TABLE notes (t TEXT)")
        con.commit()
        con.close()
        return (Path(d) / "x.db").read_bytes()


# ------------------------------------------------------------------------- the built-in CIFAR-10
def _copy_cifar(src: Path, dst: Path) -> Path:
    (dst / "cifar-10-batches-py").mkdir(parents=True)
    for f in (src / "cifar-10-batches-py").iterdir():
        (dst / "cifar-10-batches-py" / f.name).write_bytes(f.read_bytes())
    return dst


def truncated_pickle(tmp: Path, cifar: Path) -> list[str]:
    data = _copy_cifar(cifar, tmp / "data")
    batch = data / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:5000])
    return ["--data-dir", str(data)]


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {Path.cwd() / 'PWNED'}",))


def crafted_pickle(tmp: Path, cifar: Path) -> list[str]:
    data = _copy_cifar(cifar, tmp / "data")
    (data / "cifar-10-batches-py" / "data_batch_1").write_bytes(pickle.dumps({"data": _Exploit(), "labels": [1]}))
    return ["--data-dir", str(data), "--dry-run"]


def object_array_pickle(tmp: Path, cifar: Path) -> list[str]:
    data = _copy_cifar(cifar, tmp / "data")
    bad = {"data": np.array([object()], dtype=object), "labels": [1]}
    (data / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(bad))
    return ["--data-dir", str(data)]


def wrong_shape_pickle(tmp: Path, cifar: Path) -> list[str]:
    data = _copy_cifar(cifar, tmp / "data")
    bad = {"data": np.zeros((4, 100), np.uint8), "labels": [0, 1, 2, 3]}
    (data / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(bad))
    return ["--data-dir", str(data)]


def data_dir_is_a_file(tmp: Path, cifar: Path) -> list[str]:
    (tmp / "data.txt").write_text("not a folder")
    return ["--data-dir", str(tmp / "data.txt")]


def _fashion_gz(tmp: Path, magic: int = 2051, cut: int = 0) -> Path:
    folder = tmp / "fm"
    folder.mkdir()
    for prefix, n in (("train", 60), ("t10k", 20)):
        images = (magic).to_bytes(4, "big") + b"".join(v.to_bytes(4, "big") for v in (n, 28, 28)) + bytes(n * 784)
        labels = (2049).to_bytes(4, "big") + n.to_bytes(4, "big") + bytes(n)
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(images[: len(images) - cut]))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels))
    return folder


def idx_wrong_magic(tmp: Path, cifar: Path) -> list[str]:
    return ["bench", "fashion_mnist", "--data-dir", str(_fashion_gz(tmp, magic=1234))]


def idx_truncated(tmp: Path, cifar: Path) -> list[str]:
    return ["bench", "fashion_mnist", "--data-dir", str(_fashion_gz(tmp, cut=500))]


def fashion_named_folder_is_empty(tmp: Path, cifar: Path) -> list[str]:
    # a folder the user names is never silently replaced by the Debian copy
    return ["bench", "fashion_mnist", "--data-dir", str(tmp / "empty")]


def _teacher_file(tmp: Path, state: dict | bytes) -> list[str]:
    path = tmp / "teacher.pt"
    path.write_bytes(state) if isinstance(state, bytes) else torch.save(state, path)
    return ["--set", f"teacher_checkpoint={path}", "--methods", "kd"]


def nan_teacher(tmp: Path, cifar: Path) -> list[str]:
    state = build_model("resnet14", 3, 10).state_dict()
    state["fc.weight"][0, 0] = float("nan")
    return _teacher_file(tmp, state)


def integer_teacher(tmp: Path, cifar: Path) -> list[str]:
    state = {k: v.long() for k, v in build_model("resnet14", 3, 10).state_dict().items()}
    return _teacher_file(tmp, state)


def garbage_teacher(tmp: Path, cifar: Path) -> list[str]:
    return _teacher_file(tmp, b"\x00garbage")


def wrong_arch_teacher(tmp: Path, cifar: Path) -> list[str]:
    return _teacher_file(tmp, build_model("resnet8", 3, 10).state_dict())


def _a_file(tmp: Path) -> Path:
    (tmp / "afile").write_text("x")
    return tmp / "afile"


def results_under_a_file(tmp: Path, cifar: Path) -> list[str]:
    return ["--results-dir", str(_a_file(tmp) / "results")]


def store_under_a_file(tmp: Path, cifar: Path) -> list[str]:
    return ["--store-dir", str(_a_file(tmp) / "store")]


def cache_under_a_file(tmp: Path, cifar: Path) -> list[str]:
    return ["--cache-dir", str(_a_file(tmp) / "cache")]


def broken_toml(tmp: Path, cifar: Path) -> list[str]:
    (tmp / "mine.toml").write_text('description = "x"\n[profiles.smoke\nteacher = 1\n')
    return ["bench", str(tmp / "mine.toml")]


def clear_a_repo(tmp: Path, cifar: Path) -> list[str]:
    for name in (".git/HEAD", "akd/core.py", "notes.txt"):
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_text("precious")
    return ["cache", "clear", "--cache-dir", str(tmp)]


def clear_the_store_root(tmp: Path, cifar: Path) -> list[str]:
    (tmp / ".akd" / "models" / "0123abcd").mkdir(parents=True)
    (tmp / ".akd" / "models" / "0123abcd" / "model.pt").write_text("a trained teacher")
    return ["cache", "clear", "--cache-dir", str(tmp / ".akd")]


def clear_a_file(tmp: Path, cifar: Path) -> list[str]:
    return ["cache", "clear", "--cache-dir", str(_a_file(tmp))]
