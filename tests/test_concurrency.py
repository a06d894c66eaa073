"""Two processes sharing one fresh model store, one fresh sqlite MLflow store and one cache."""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import SMOKE_SIZES, write_cifar

REPO = Path(__file__).resolve().parent.parent


def _open_tracker(uri: str, go: str, out: str) -> None:
    from akd.tracking import Tracker

    while not os.path.exists(go):  # start together: the check-then-create window is hit
        time.sleep(0.001)
    Path(out).write_text(Tracker(uri, experiment="akd-race").experiment_id)


def test_fresh_sqlite_store_opened_by_two_processes_at_once(tmp_path):
    uri, go = f"sqlite:///{tmp_path / 'mlflow.db'}", str(tmp_path / "go")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_open_tracker, args=(uri, go, str(tmp_path / f"id{i}"))) for i in range(2)]
    for p in procs:
        p.start()
    time.sleep(4)  # both have imported mlflow and are waiting
    Path(go).touch()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    ids = {(tmp_path / f"id{i}").read_text() for i in range(2)}
    assert len(ids) == 1 and MlflowClient(uri).get_experiment_by_name("akd-race").experiment_id in ids


@pytest.mark.slow
def test_two_benchmarks_sharing_jobs_train_each_once(tmp_path):
    """Two commands at once on one store whose plans share the teacher, the TA and TAKD's run: each
    shared job is trained by one process while the other waits for its lock, then reuses it."""
    write_cifar(tmp_path / "data", "cifar10", **SMOKE_SIZES)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = [
        *("bench", "cifar10", "--profile", "smoke", "--data-dir", str(tmp_path / "data"), "--threads", "1"),
        *("--seeds", "0", "--store-dir", str(tmp_path / "store")),
        *("--cache-dir", str(tmp_path / "cache"), "--tracking-uri", uri),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "akd.cli", *args, "--methods", *methods, "--results-dir", str(tmp_path / f"r{i}")],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i, methods in enumerate((("kd", "takd"), ("takd", "nokd")))
    ]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("akd-cifar10").experiment_id], max_results=100)
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert sum(r.data.tags.get("kind") == "benchmark" for r in runs) == 2
    trained: dict[str, int] = {}
    for r in runs:
        if r.data.tags.get("kind") != "benchmark" and r.data.tags.get("trained") != "false":
            trained[r.info.run_name] = trained.get(r.info.run_name, 0) + 1
    assert trained == {"teacher": 1, "ta/seed0": 1, "kd/seed0": 1, "takd/seed0": 1, "nokd/seed0": 1}
    reused = sorted(r.info.run_name for r in runs if r.data.tags.get("trained") == "false")
    assert reused == ["ta/seed0", "takd/seed0", "teacher"]  # by the process that did not train them
    assert any("waiting for another process" in out for out in outputs)
    entries = [p for p in (tmp_path / "store").iterdir() if not p.name.startswith(".") and p.name != "checkpoints"]
    assert len(entries) == 5  # each job once, and no temporary folder or checkpoint left
    assert not [p for p in (tmp_path / "store").iterdir() if p.name.startswith(".") and p.is_dir()]
    assert not list((tmp_path / "store" / "checkpoints").iterdir())


def test_an_experiment_created_by_another_client_meanwhile_is_reused(tmp_path, monkeypatch):
    """On a tracking server no file lock helps: the check-then-create race is caught and resolved."""
    from mlflow.tracking import MlflowClient as Client

    from akd.tracking import Tracker

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    existing = Client(uri).create_experiment("akd-race")  # the other client won
    real = Client.get_experiment_by_name
    calls = []

    def not_yet(self, name):  # our first look happened before the other client created it
        calls.append(name)
        return None if len(calls) == 1 else real(self, name)

    monkeypatch.setattr(Client, "get_experiment_by_name", not_yet)
    assert Tracker(uri, experiment="akd-race").experiment_id == existing and len(calls) == 2


def test_temporary_names_are_unique_across_hosts_whose_pids_repeat(tmp_path, monkeypatch):
    """Two writers on two hosts of a shared file system can hold the same pid: the temporary name is
    random and created exclusively, so the second writer gets a name of its own, never the first's file."""
    import secrets

    from akd.hashing import atomic_write, temp_beside

    monkeypatch.setattr(os, "getpid", lambda: 4242)
    tokens = iter(["aaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"])
    monkeypatch.setattr(secrets, "token_hex", lambda n: next(tokens))
    first, fd1 = temp_beside(tmp_path / "summary.md")
    second, fd2 = temp_beside(tmp_path / "summary.md")  # the same random draw: refused by O_EXCL, drawn again
    os.close(fd1), os.close(fd2)
    assert first.name == ".summary.md.aaaaaaaaaaaaaaaa.tmp" and second.name == ".summary.md.bbbbbbbbbbbbbbbb.tmp"
    monkeypatch.undo()
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "table.md", "| a |\n")
    finally:
        os.umask(old)
    assert (tmp_path / "table.md").stat().st_mode & 0o777 == 0o644  # an ordinary file, readable by the group
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.name, second.name, "table.md"]
