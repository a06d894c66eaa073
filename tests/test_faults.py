"""Faults during a run (a full disk, a diverging loss) and results filed by the data they came from."""

from __future__ import annotations

import errno
import json

import pytest
import torch
from mlflow.tracking import MlflowClient

from akd.cli import main
from akd.config import BenchConfig, DataConfig
from akd.errors import AkdError
from tests.conftest import SMOKE_SIZES, tiny_cifar, write_cifar


def _bench(tmp, data_dir, *extra):
    return main(
        [
            *("bench", "cifar10", "--profile", "smoke", "--data-dir", str(data_dir), "--methods", "nokd"),
            *("--seeds", "0", "--store-dir", str(tmp / "store"), "--results-dir", str(tmp / "results")),
            *("--tracking-uri", f"sqlite:///{tmp / 'mlflow.db'}", *extra),
        ]
    )


def _error(err: str) -> str:
    """The error line, after any progress bars tqdm drew (and cleared with carriage returns)."""
    assert err.count("\n") == 1 and err.endswith("\n")
    return err.rstrip("\n").split("\r")[-1]


def _runs(tmp):
    client = MlflowClient(f"sqlite:///{tmp / 'mlflow.db'}")
    return client.search_runs([client.get_experiment_by_name("akd-cifar10").experiment_id])


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    write_cifar(root, "cifar10", **SMOKE_SIZES)
    return root


def test_a_full_disk_at_the_end_fails_in_one_line_and_leaves_no_run_running(cifar, in_tmp, capsys, monkeypatch):
    def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr("akd.results.atomic_write", full)
    assert _bench(in_tmp, cifar) == 4  # the machine failed: the same command finishes once there is room
    out, err = capsys.readouterr()
    line = _error(err)
    assert line.startswith("akd: error: No space left on device: ") and "summary.json" in line
    assert "| No-KD | resnet8 |" in out  # the finished benchmark's table is not lost
    statuses = {r.data.tags["kind"]: r.info.status for r in _runs(in_tmp)}
    assert statuses == {"benchmark": "FAILED", "method": "FINISHED"}  # the student run itself finished
    assert not (in_tmp / "results").exists() or not list((in_tmp / "results").rglob("summary.*"))


def test_a_diverging_loss_stops_the_run(cifar, in_tmp, capsys):
    assert _bench(in_tmp, cifar, "--set", "optim.lr=1e30") == 3  # diverged: its own exit code
    err = capsys.readouterr().err
    assert _error(err).startswith("akd: error: nokd/seed0 main: training diverged (loss nan in epoch 0)")
    assert {r.info.status for r in _runs(in_tmp)} == {"FAILED"}  # the child and the parent
    assert not (in_tmp / "results").exists()


def test_engine_refuses_a_non_finite_loss(tmp_path):
    from akd.bench import init_model
    from akd.engine import StageJob, train_stage
    from akd.methods import Objective, Stage
    from akd.runtime import Runtime

    class Infinite(Objective):
        def loss(self, logits, teacher_logits, labels, epoch):
            return logits.sum() * float("inf")

    rt = Runtime(torch.device("cpu"))
    cfg, data = tiny_cifar(tmp_path, "cifar10", n_train=60, n_test=10, batch_size=16)
    model = init_model(cfg, "student", 0, data, rt)
    with pytest.raises(AkdError, match="training diverged"):
        train_stage(StageJob(Stage("s", "student", 2, Infinite()), model, None, data, cfg.optim, 0, rt))


def test_results_made_from_other_data_are_never_overwritten(cifar, in_tmp, capsys):
    other = in_tmp / "other"
    write_cifar(other, "cifar10", **SMOKE_SIZES, seed=1)
    assert _bench(in_tmp, cifar, "--label", "mine") == 0
    first = in_tmp / "results" / "cifar10" / "smoke-mine"
    recorded = json.loads((first / "summary.json").read_text())["data"]
    assert recorded["folder"] == str((cifar / "cifar-10-batches-py").resolve())
    summary = (first / "summary.md").read_text()
    assert _bench(in_tmp, cifar, "--label", "mine") == 0  # the same data: the same folder
    assert sorted(p.name for p in first.parent.iterdir()) == ["smoke-mine"]
    assert _bench(in_tmp, other, "--label", "mine") == 0  # other data: its own folder
    out = capsys.readouterr().out
    assert "holds results on other data" in out and "Data: cifar10 read from" in out
    (diverted,) = [p for p in first.parent.iterdir() if p.name != "smoke-mine"]
    fingerprint = json.loads((diverted / "summary.json").read_text())["data"]["fingerprint"]
    assert diverted.name == f"smoke-mine-data-{fingerprint[:8]}" and fingerprint != recorded["fingerprint"]
    assert "Data: cifar10 from" in summary and (first / "summary.md").read_text().count("No-KD") == 1


def test_legacy_results_without_a_data_record(tmp_path):
    from types import SimpleNamespace

    from akd.results import other_data_label

    folder = tmp_path / "cifar10" / "smoke"
    folder.mkdir(parents=True)
    (folder / "summary.md").write_text("made before data were recorded")
    task = SimpleNamespace(fingerprint="0123456789abcdef")
    cfg = BenchConfig(benchmark="cifar10", profile="smoke", data=DataConfig(dataset="cifar10"))
    assert other_data_label(cfg, task, tmp_path) is None  # the default data folder: as before
    cfg.data.data_dir = "/elsewhere"
    assert other_data_label(cfg, task, tmp_path) == "data-01234567"


def test_an_mlflow_failure_mid_run_is_one_line(tmp_path):
    from akd.tracking import Tracker

    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", experiment="x")
    with pytest.raises(AkdError, match=r"^MLflow tracking at sqlite:///.* failed: Run with id=nope not found$"):
        tracker.end("nope", ok=False)
