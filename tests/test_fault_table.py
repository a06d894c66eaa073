"""The fault suite: every row of tests/fault_rows.py run through the CLI as a user would, in a scratch
folder; then the faults a test injects itself (an interrupt, a full disk, the worker cap).

A row passes when the command exits with its code and one line on stderr holding its words and none
of its never-words, and afterwards nothing is half-written: not a file nor a folder appeared (no
results, store, cache, ``.akd``, ``mlflow.db`` or ``optuna.db``) and the user's own files are
unchanged (SHA-256). A killed pool worker is in test_jobs.py (slow); a killed process at every crash
point in test_faults.py and test_concurrency.py.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
from pathlib import Path

import pytest

from akd.cli import main
from tests.conftest import SMOKE_SIZES, write_cifar
from tests.fault_rows import CASES, GOOD_IDX, IMAGES, INPUTS, PROFILE, SURFACES, SWEEP, Case


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


@pytest.fixture(scope="module")
def cifar(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cifar")
    write_cifar(root, "cifar10", **SMOKE_SIZES)
    return root


def _command(case: Case, tmp: Path, cifar: Path, bert: Path) -> list[str]:
    outputs = ["--store-dir", str(tmp / "store"), "--results-dir", str(tmp / "results")]
    outputs += ["--cache-dir", str(tmp / "cache"), "--tracking-uri", f"sqlite:///{tmp / 'mlflow.db'}"]
    if case.bench == "cifar10":
        if case.args[:1] == ("<replace>",):
            return list(case.args[1:])
        extra = case.setup(tmp, cifar) if case.setup else []
        if extra[:1] in (["bench"], ["cache"]):  # a command of its own
            return extra + ([] if extra[0] == "cache" else outputs)
        return ["bench", "cifar10", "--profile", "smoke", "--data-dir", str(cifar), *outputs, *case.args, *extra]
    decl = case.setup(tmp)
    if case.text:
        models = {"teacher": bert, "student": f"{bert}#layers=1"}
        optim = 'optim = { name = "adamw", lr = 1e-3, schedule = "linear", batch_size = 8 }'
        profile = PROFILE.format(**models, optim=optim)
    else:
        profile = PROFILE.format(**IMAGES)
    (tmp / "mine.toml").write_text(decl + profile)
    return [case.command, str(tmp / "mine.toml"), "--profile", "smoke", "--threads", "1", *case.args, *outputs]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault(case: Case, tmp_path, capsys, bert, cifar, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a default path (optuna.db, .akd/) lands here, where it is checked
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    which = shutil.which  # a machine without Slurm, even where the tests run on a Slurm node
    monkeypatch.setattr(shutil, "which", lambda c, *a, **k: None if c in ("sbatch", "srun") else which(c, *a, **k))
    command = _command(case, tmp_path, cifar, bert)
    before = _digest(tmp_path)
    assert main(command) == case.code
    err = capsys.readouterr().err
    assert err.startswith("akd: error: ") and err.count("\n") == 1, err
    assert all(w in err for w in case.words) and not any(w in err for w in case.never), err
    after = _digest(tmp_path)
    assert sorted(after) == sorted(before), set(after) ^ set(before)  # nothing written, not even a folder
    assert after == before  # the user's files untouched


def test_the_table_covers_every_surface():
    assert len(SURFACES) >= 19 and len(INPUTS) >= 65 and len({c.id for c in CASES}) == len(CASES)


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
    assert main(args) == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "akd: error: no space left on the device" in err, err
    store = tmp_path / ".akd" / "models"
    assert not [p.name for p in store.iterdir() if p.name.startswith(".") and not p.name.endswith(".lock")]
    monkeypatch.setattr(akd.store.torch, "save", save)  # space freed: the same command finishes
    assert main(args) == 0
    from akd.errors import write_failure

    assert write_failure(RuntimeError("CUDA error: device-side assert triggered"), "x") is None  # not a disk's


def test_a_nan_learning_rate_is_refused_before_anything_runs(in_tmp, capsys):
    """Refused while the settings are read: no data loaded, no model built, no store or MLflow file."""
    assert main(["bench", "fashion_mnist", "--set", "optim.lr=nan"]) == 2
    assert "optim.lr='nan' must be a finite number" in capsys.readouterr().err
    assert list(in_tmp.iterdir()) == []


def test_a_crafted_pickle_executes_nothing(tmp_path):
    from akd.errors import AkdError
    from akd.readers import read_cifar

    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    for name in ("train", "test"):
        (folder / name).write_bytes(pickle.dumps({"data": Payload(), "fine_labels": [0]}))
    with pytest.raises(AkdError, match="names posix.system"):
        read_cifar(tmp_path, "cifar100")
    assert not marker.exists()


def test_akd_list_survives_a_broken_benchmark_file(tmp_path, monkeypatch, capsys):
    (tmp_path / "a.toml").write_text('description = "fine"\n[profiles.p]\nabout = "ok"\n')
    (tmp_path / "b.toml").write_text("[[[")
    monkeypatch.setattr("akd.benchfile.BENCHMARK_DIR", tmp_path)
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "a: fine" in out and "--profile p" in out and "b: unusable:" in out and "not valid TOML" in out


def test_an_interrupted_trial_resumes_from_its_checkpoint_and_leaves_none_behind(tmp_path, capsys, monkeypatch):
    """Ctrl-C in a trial's second epoch: its checkpoint is kept and its settings queued again, so the
    same command resumes it (not a fresh draw) and removes the checkpoint once the seed is stored."""
    import json

    import optuna

    from akd import faults

    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.toml").write_text(GOOD_IDX(tmp_path) + SWEEP + PROFILE.format(**IMAGES))
    args = ["sweep", "mine.toml", "--profile", "smoke", "--space", "lr", "--threads", "1"]
    args += ["--set", "student_epochs=3", "--n-trials", "2"]
    point = faults.point

    def ctrl_c(name: str) -> None:
        if name.startswith("nokd/") and name.endswith("checkpointed epoch 0"):
            raise KeyboardInterrupt
        point(name)

    monkeypatch.setattr(faults, "point", ctrl_c)
    assert main(args) == 130
    checkpoints = tmp_path / ".akd" / "models" / "checkpoints"
    assert len(list(checkpoints.glob("*.pt"))) == 1  # kept for the resume
    monkeypatch.setattr(faults, "point", point)
    assert main(args) == 0
    assert list(checkpoints.glob("*")) == []  # removed once the seed's result is stored
    (name,) = optuna.get_all_study_names("sqlite:///optuna.db")
    trials = optuna.load_study(study_name=name, storage="sqlite:///optuna.db").trials
    states = [t.state.name for t in trials]
    assert states == ["FAIL", "COMPLETE", "COMPLETE"], states
    (again,) = [t for t in trials if "resumes" in t.user_attrs]  # queued after the grid's other point
    assert again.user_attrs["resumes"] == 0 and again.params == trials[0].params
    metas = [json.loads(p.read_text()) for p in (tmp_path / ".akd" / "models").glob("*/meta.json")]
    resumed = [m["attempts"] for m in metas if len(m.get("attempts", [])) == 2]
    assert len(resumed) == 1 and resumed[0][1]["epoch"] == 1  # the second attempt began at epoch 1, not 0
    capsys.readouterr()


@pytest.fixture
def small_disk(tmp_path):
    """A real 4 MiB file system (tmpfs), where the machine lets the tests mount one (root, Linux)."""
    import subprocess

    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small file system needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"this machine does not allow a tmpfs mount: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=True)  # this process may hold a lock file open


def test_a_real_full_disk_under_the_store_is_one_line_and_the_same_command_finishes(
    small_disk, tmp_path, capsys, monkeypatch
):
    """The store on a file system filled to 64 KiB short of full: torch's own write error on a real
    ENOSPC, said in one line (exit 4), no half-written entry; with room made, the same command finishes."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.toml").write_text(GOOD_IDX(tmp_path) + PROFILE.format(**IMAGES))
    args = ["bench", "mine.toml", "--profile", "smoke", "--threads", "1", "--methods", "nokd"]
    args += ["--store-dir", str(small_disk / "store")]
    filler = small_disk / "filler"
    with open(filler, "wb") as f:
        f.write(b"\0" * (shutil.disk_usage(small_disk).free - 64 * 1024))
    assert main(args) == 4
    err = capsys.readouterr().err.rstrip("\n").split("\r")[-1]
    assert err.startswith("akd: error: no space left on the device (a model file could not be written): "), err
    assert "Traceback" not in err and "run the same command again" in err
    left = [p.name for p in (small_disk / "store").rglob("*") if p.name.startswith(".")]
    assert all(name.endswith(".lock") for name in left), left  # no temporary left behind
    filler.unlink()  # room made
    assert main(args) == 0
    assert list((small_disk / "store" / "checkpoints").glob("*")) == []


def test_a_real_full_disk_under_the_mlflow_database_is_one_line(small_disk, tmp_path, capsys, monkeypatch):
    """MLflow's sqlite file on a full file system: SQLAlchemy's OperationalError under MLflow's, one line, exit 4."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.toml").write_text(GOOD_IDX(tmp_path) + PROFILE.format(**IMAGES))
    args = ["bench", "mine.toml", "--profile", "smoke", "--threads", "1", "--methods", "nokd"]
    args += ["--tracking-uri", f"sqlite:///{small_disk / 'mlflow.db'}"]
    assert main([*args, "--dry-run"]) == 0  # the database made while there is room
    with open(small_disk / "filler", "wb") as f:
        f.write(b"\0" * shutil.disk_usage(small_disk).free)
    assert main(args) == 4
    err = capsys.readouterr().err.rstrip("\n").split("\r")[-1]
    assert err.startswith("akd: error: ") and "database or disk is full" in err and "run the same command" in err, err
