"""The fault suite: one row per bad input or fault a user can meet, run through the CLI as they would.

Each row is (id, set-up, expected exit code, words the one-line message must hold, words it must not
hold). The set-up writes the user's files into the test's folder and returns the benchmark file's
``[task]`` table (or extra arguments). Afterwards nothing may be half-written: no results, no stored
model, no cache entry; and the user's own files are as they were. Add a row with every handler.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from akd.cli import main

PROFILE = """
[defaults]
teacher = "{teacher}"
ta = "{teacher}"
student = "{student}"
methods = ["nokd", "kd"]
{optim}

[profiles.smoke]
teacher_epochs = 1
student_epochs = 1
seeds = [0]
"""
IMAGES = {"teacher": "resnet8", "student": "resnet8", "optim": "optim = { batch_size = 8 }"}


# ------------------------------------------------------------------------------------ the user's files
def _idx(path: Path, array: np.ndarray, magic: int) -> None:
    header = [magic, *array.shape]
    path.write_bytes(b"".join(v.to_bytes(4, "big") for v in header) + array.astype(np.uint8).tobytes())


def _idx_task(tmp: Path, train_labels: np.ndarray, n_test: int = 10, cut: int = 0) -> str:
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


def _png_task(tmp: Path, classes: tuple[str, ...]) -> str:
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


def _tsv_task(tmp: Path, labels: Callable[[int], str], num_labels: int, metrics: str) -> str:
    folder = tmp / "reviews"
    folder.mkdir()
    for name, n in (("train.tsv", 40), ("dev.tsv", 10)):
        rows = [f"{'great film' if i % 2 else 'dull plot'}\t{labels(i)}" for i in range(n)]
        (folder / name).write_text("review\tverdict\n" + "\n".join(rows) + "\n")
    return (
        f'[task]\nkind = "text"\nfolder = "reviews"\ntexts = ["review"]\nlabel = "verdict"\n'
        f"num_labels = {num_labels}\nmetrics = {metrics}\n"
    )


def _with(tmp: Path, name: str, content: bytes = b"") -> str:
    """A file (or, for a name ending in /, a folder) the user already has."""
    if name.endswith("/"):
        (tmp / name).mkdir()
    else:
        (tmp / name).write_bytes(content)
    return ""


def _best(tmp: Path, params: object) -> str:
    import json

    doc = {"methods": {m: {"best": {"params": params, "value": 50.0}} for m in ("nokd", "kd")}}
    return _with(tmp, "best.json", json.dumps(doc).encode())


def _other_sqlite() -> bytes:
    import sqlite3
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        con = sqlite3.connect(Path(d) / "x.db")
        con.execute("CREATE TABLE notes (t TEXT)")
        con.commit()
        con.close()
        return (Path(d) / "x.db").read_bytes()


@dataclass
class Case:
    id: str
    setup: Callable[[Path], str]  # writes the files; returns the [task] table
    code: int
    words: tuple[str, ...]
    never: tuple[str, ...] = ()  # words the message must not hold
    text: bool = False  # a text task (a tiny BERT as every model)
    args: tuple[str, ...] = ()  # appended to the command
    command: str = "bench"  # or "sweep" (the space "lr" below)


SWEEP = '\n[sweeps.lr]\nmethod = "nokd"\ngrid = { "optim.lr" = [0.05, 0.1] }\n'
GOOD_IDX = lambda t: _idx_task(t, np.arange(50) % 4)  # noqa: E731

CASES = [
    # resources: workers past the machine's cores or memory, refused before one starts
    Case(
        "pool workers 100",
        GOOD_IDX,
        2,
        ("--workers 100 is more than this machine holds", "AKD_MAX_WORKERS"),
        args=("--executor", "pool", "--workers", "100"),
    ),
    # a tracking store MLflow would fail on after minutes, refused at once (a dry run too)
    Case(
        "tracking store random bytes",
        lambda t: _with(t, "mlflow.db", os.urandom(4096)) + GOOD_IDX(t),
        2,
        ("mlflow.db is not a SQLite database",),
        args=("--dry-run",),
    ),
    Case("tracking store a folder", lambda t: _with(t, "mlflow.db/") + GOOD_IDX(t), 2, ("mlflow.db is a folder",)),
    Case(
        "tracking store another database",
        lambda t: _with(t, "mlflow.db", _other_sqlite()) + GOOD_IDX(t),
        2,
        ("a SQLite database of something else (tables: notes)",),
    ),
    # a best.json from anyone: its shape checked, and it never moves the data
    Case(
        "best.json params a list",
        lambda t: _best(t, [["optim.lr", 0.1]]) + GOOD_IDX(t),
        2,
        ("nokd's best params are a list, not settings",),
        args=("--from-sweep", "best.json"),
    ),
    Case(
        "best.json moves the data",
        lambda t: _best(t, {"data.data_dir": "/elsewhere"}) + GOOD_IDX(t),
        2,
        ("data.data_dir is not a setting a sweep chooses",),
        args=("--from-sweep", "best.json"),
    ),
    # the executor checked first, a dry run included
    Case(
        "slurm without slurm",
        GOOD_IDX,
        2,
        ("--executor slurm: sbatch and srun not found",),
        args=("--executor", "slurm"),
    ),
    Case(
        "slurm without slurm, dry run",
        GOOD_IDX,
        2,
        ("sbatch and srun not found",),
        args=("--executor", "slurm", "--dry-run"),
    ),
    Case(
        "sweep workers 100",
        lambda t: GOOD_IDX(t) + SWEEP,
        2,
        ("--workers 100 is more than this machine holds",),
        args=("--space", "lr", "--workers", "100"),
        command="sweep",
    ),
    # silent nonsense: a scored split of one class reports 100 %
    Case("idx one class", lambda t: _idx_task(t, np.zeros(50, np.uint8)), 2, ("train split holds one class",)),
    Case("image folder one class", lambda t: _png_task(t, ("cat",)), 2, ("holds one class", "label 0")),
    Case("idx without images", lambda t: _idx_task(t, np.zeros(0, np.uint8)), 2, ("train-images holds no images",)),
    # advice that loses data: the files are the user's own
    Case(
        "user idx truncated",
        lambda t: _idx_task(t, np.arange(50) % 4, cut=7),
        2,
        ("truncated", "akd never deletes your data"),
        ("delete them", "delete it"),
    ),
    # labels parsed and checked at load, not found when training diverges
    Case(
        "regression label a word",
        lambda t: _tsv_task(t, lambda i: "high" if i == 3 else "0.5", 1, '["pearson"]'),
        2,
        ("label 'high' of example 4", "is not a finite number"),
        text=True,
    ),
    Case(
        "regression label nan",
        lambda t: _tsv_task(t, lambda i: "nan" if i == 5 else str(i / 10), 1, '["pearson"]'),
        2,
        ("label 'nan' of example 6", "is not a finite number"),
        text=True,
    ),
    Case(
        "class label a word without label_names",
        lambda t: _tsv_task(t, lambda i: "pos" if i % 2 else "neg", 2, '["acc"]'),
        2,
        ("label 'neg' of example 1", "declare label_names"),
        text=True,
    ),
    Case(
        "text one class",
        lambda t: _tsv_task(t, lambda i: "1", 2, '["acc"]'),
        2,
        ("holds one class",),
        text=True,
    ),
    # a metric that cannot apply, found before the teacher trains
    Case(
        "binary f1 on three classes",
        lambda t: _tsv_task(t, lambda i: str(i % 3), 3, '["acc", "f1"]'),
        2,
        ("[task] metric f1 is the F1 of class 1 of two", "f1_macro"),
        text=True,
    ),
    Case(
        "pearson on classes",
        lambda t: _tsv_task(t, lambda i: str(i % 2), 2, '["pearson"]'),
        2,
        ("pearson scores real values",),
        text=True,
    ),
]


def _digest(folder: Path) -> dict[str, str]:
    """Every file's SHA-256 and every folder, by path."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "folder"
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture(scope="module")
def bert(tmp_path_factory) -> Path:
    from akd.fixtures import write_tiny_bert

    return write_tiny_bert(tmp_path_factory.mktemp("bert") / "bert")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault(case: Case, tmp_path, capsys, bert, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a default path (optuna.db, .akd/) lands here, where it is checked
    which = shutil.which  # a machine without Slurm, even where the tests run on a Slurm node
    monkeypatch.setattr(shutil, "which", lambda c, *a, **k: None if c in ("sbatch", "srun") else which(c, *a, **k))
    decl = case.setup(tmp_path)
    if case.text:
        models = {"teacher": bert, "student": f"{bert}#layers=1"}
        optim = 'optim = { name = "adamw", lr = 1e-3, schedule = "linear", batch_size = 8 }'
        profile = PROFILE.format(**models, optim=optim)
    else:
        profile = PROFILE.format(**IMAGES)
    (tmp_path / "mine.toml").write_text(decl + profile)
    before = _digest(tmp_path)
    args = [case.command, str(tmp_path / "mine.toml"), "--profile", "smoke", "--threads", "1", *case.args]
    args += ["--store-dir", str(tmp_path / "store"), "--results-dir", str(tmp_path / "results")]
    args += ["--cache-dir", str(tmp_path / "cache"), "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"]
    assert main(args) == case.code
    err = capsys.readouterr().err
    assert err.startswith("akd: error: ") and err.count("\n") == 1, err
    assert all(w in err for w in case.words) and not any(w in err for w in case.never), err
    after = _digest(tmp_path)
    assert sorted(after) == sorted(before), set(after) ^ set(before)  # nothing written, not even a folder
    assert after == before  # the user's files untouched


def test_the_worker_cap_counts_cores_and_memory_and_yields_to_an_override(monkeypatch):
    from akd import runtime
    from akd.errors import AkdError

    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setattr(runtime, "available_memory", lambda: 3.2 * 2**30)  # room for 2 workers of 1.5 GiB
    runtime.check_workers(2, environ={})
    with pytest.raises(AkdError, match=r"--workers 3 is more than this machine holds \(8 cores and 3.2 GiB"):
        runtime.check_workers(3, environ={})
    monkeypatch.setattr(runtime, "available_memory", lambda: None)  # unknown memory: the cores decide
    runtime.check_workers(8, environ={})
    with pytest.raises(AkdError, match="use --workers 8"):
        runtime.check_workers(9, environ={})
    runtime.check_workers(9, environ={"AKD_MAX_WORKERS": "9"})  # the user's override
    with pytest.raises(AkdError, match="exceeds AKD_MAX_WORKERS=9"):
        runtime.check_workers(10, environ={"AKD_MAX_WORKERS": "9"})
    with pytest.raises(AkdError, match="AKD_MAX_WORKERS must be a whole number"):
        runtime.check_workers(2, environ={"AKD_MAX_WORKERS": "many"})


def test_ctrl_c_in_a_sweep_is_one_line_and_exit_130(tmp_path, capfd, monkeypatch):
    """Optuna logs a trial's exception with its traceback; Ctrl-C's is the CLI's to report, in one line."""
    import akd.jobs

    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.toml").write_text(GOOD_IDX(tmp_path) + SWEEP + PROFILE.format(**IMAGES))

    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(akd.jobs, "train_stage", interrupted)
    capfd.readouterr()
    assert main(["sweep", "mine.toml", "--profile", "smoke", "--space", "lr", "--threads", "1"]) == 130
    err = [ln for ln in capfd.readouterr().err.splitlines() if ln.strip() and "main:" not in ln]
    assert err == ["akd: interrupted; finished runs are in MLflow and the model store"], err


def test_a_full_disk_at_a_models_save_is_one_line_and_the_same_command_finishes(tmp_path, capsys, monkeypatch):
    """Injected where the machine has no small file system to fill: torch's own error for a full disk."""
    import torch

    import akd.store

    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.toml").write_text(GOOD_IDX(tmp_path) + PROFILE.format(**IMAGES))
    args = ["bench", "mine.toml", "--profile", "smoke", "--threads", "1", "--methods", "nokd"]
    save = torch.save

    def full(obj, f, *a, **k):
        if str(f).endswith("model.pt"):
            raise RuntimeError("[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing file")
        return save(obj, f, *a, **k)

    monkeypatch.setattr(akd.store.torch, "save", full)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "akd: error: no space left on the device" in err, err
    store = tmp_path / ".akd" / "models"
    assert not [p.name for p in store.iterdir() if p.name.startswith(".") and not p.name.endswith(".lock")]
    monkeypatch.setattr(akd.store.torch, "save", save)  # space freed: the same command finishes
    assert main(args) == 0
    from akd.errors import write_failure

    assert write_failure(RuntimeError("CUDA error: device-side assert triggered"), "x") is None  # not a disk's
