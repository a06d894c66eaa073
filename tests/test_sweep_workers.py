"""Sweeps across processes: a killed worker's trial is failed and retried; two "machines" on real servers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import optuna
import pytest

from akd.cli import main
from tests.sweep_fixture import SPACES, of_kind, runs, study, sweep_args, write_bench

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _akd(args: list[str], cwd) -> subprocess.Popen:  # noqa: ANN001
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.Popen(
        [sys.executable, "-m", "akd.cli", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_killed_worker_trial_is_marked_failed_and_retried(in_tmp):
    # trials of 8-10 epochs: seconds long, so the poller below finds one mid-training
    long_trials = SPACES.replace('"annealing.phase1_epochs" = [2, 3]', '"annealing.phase1_epochs" = [8, 10]')
    bench = write_bench(in_tmp, long_trials, epochs=8)
    args = sweep_args(bench, "annealing", "--n-trials", "2", "--heartbeat", "1")
    worker = _akd(args, in_tmp)
    storage = f"sqlite:///{in_tmp}/optuna.db"
    deadline = time.monotonic() + 180
    killed_trial = None
    while time.monotonic() < deadline and worker.poll() is None:  # wait until a trial is mid-training
        try:
            trials = optuna.load_study(study_name="tiny-smoke-annealing", storage=storage).trials
        except (KeyError, Exception):  # noqa: BLE001  (the study or its tables do not exist yet)
            trials = []
        # early in training (1 to 4 of its 8+ epochs reported): far from the trial's last instants
        running = [t for t in trials if t.state.name == "RUNNING" and 1 <= len(t.intermediate_values) <= 4]
        if running:
            killed_trial = running[0].number
            worker.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    worker.wait()
    assert killed_trial is not None, worker.stderr.read()[-2000:]
    time.sleep(4)  # past the grace period (3 heartbeats)
    assert main([*args]) == 0  # the same command again: the stale trial is failed, then retried
    s = study("tiny-smoke-annealing", storage)
    dead = s.trials[killed_trial]
    assert dead.state.name == "FAIL"
    retries = [t for t in s.trials if t.system_attrs.get("failed_trial") == killed_trial]
    assert len(retries) == 1 and retries[0].state.name == "COMPLETE" and retries[0].params == dead.params
    assert sum(t.state.name == "COMPLETE" for t in s.trials) == 2
    by_number = {r.data.tags["trial_number"]: r for r in of_kind(runs(), "trial")}
    assert by_number[str(killed_trial)].info.status == "FAILED"
    assert by_number[str(retries[0].number)].info.status == "FINISHED"


POSTGRES = os.environ.get("AKD_TEST_POSTGRES_URL")
MLFLOW = os.environ.get("AKD_TEST_MLFLOW_URL")


@pytest.mark.skipif(
    not (POSTGRES and MLFLOW),
    reason="needs AKD_TEST_POSTGRES_URL and AKD_TEST_MLFLOW_URL (.ci/run starts both servers on 127.0.0.1)",
)
def test_two_machines_share_one_study_on_real_servers(tmp_path):
    bench = write_bench(tmp_path)
    name = f"two-machines-{uuid.uuid4().hex[:8]}"
    n_trials = 4
    workers = []
    for machine in ("a", "b"):  # separate working folders and model stores: two machines
        cwd = tmp_path / machine
        cwd.mkdir()
        args = sweep_args(
            bench,
            "annealing",
            "--n-trials",
            str(n_trials),
            "--study-name",
            name,
            "--storage",
            POSTGRES,
            "--tracking-uri",
            MLFLOW,
            "--store-dir",
            str(cwd / "store"),
        )
        workers.append(_akd(args, cwd))
    errors = [w.communicate(timeout=600)[1] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], "\n".join(e[-2000:] for e in errors)
    s = optuna.load_study(study_name=name, storage=POSTGRES)
    finished = [t for t in s.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == n_trials
    assert len({tuple(sorted(t.params.items())) + (t.number,) for t in finished}) == n_trials
    mine = [r for r in runs(MLFLOW) if r.data.tags.get("study") == name]
    trials = of_kind(mine, "trial")
    by_trial = {}
    for r in trials:
        by_trial.setdefault(r.data.tags["trial_number"], []).append(r)
    assert all(len(v) == 1 for v in by_trial.values())  # every trial one MLflow run
    assert {str(t.number) for t in finished} <= set(by_trial)
    parents = of_kind(mine, "study")
    assert len(parents) == 1
    teacher_runs = [
        r
        for r in runs(MLFLOW)
        if r.data.tags.get("kind") == "teacher" and r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id
    ]
    trained = [r for r in teacher_runs if r.data.tags.get("trained") == "true"]
    assert len(trained) == 1  # one machine trained it; the other fetched it from the server
    stores = [len(list((tmp_path / m / "store").glob("*/model.pt"))) for m in ("a", "b")]
    assert stores == [1, 1]
