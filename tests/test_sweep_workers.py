"""Sweeps across processes: a killed worker's trial is failed and retried; two "machines" on real servers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
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
    # a budget of 1: the killed trial is the last one, so only the stale-trial check can resume it
    args = sweep_args(bench, "annealing", "--n-trials", "1", "--heartbeat", "1")
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
    # the same command at once: it waits out the grace period (3 heartbeats), fails the silent trial and retries it
    assert main([*args]) == 0
    s = study("tiny-smoke-annealing", storage)
    dead = s.trials[killed_trial]
    assert dead.state.name == "FAIL"
    retries = [t for t in s.trials if t.system_attrs.get("failed_trial") == killed_trial]
    assert len(retries) == 1 and retries[0].state.name == "COMPLETE" and retries[0].params == dead.params
    assert sum(t.state.name == "COMPLETE" for t in s.trials) == 1
    by_number = {r.data.tags["trial_number"]: r for r in of_kind(runs(), "trial")}
    assert by_number[str(killed_trial)].info.status == "FAILED"
    assert by_number[str(retries[0].number)].info.status == "FINISHED"


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """(Optuna storage, MLflow server URL): the PostgreSQL and MLflow servers .ci/run starts
    (AKD_TEST_POSTGRES_URL, AKD_TEST_MLFLOW_URL), else a real MLflow server started here on a free
    port over sqlite, with the Optuna study in sqlite: the test runs on every machine."""
    postgres, mlflow = os.environ.get("AKD_TEST_POSTGRES_URL"), os.environ.get("AKD_TEST_MLFLOW_URL")
    if postgres and mlflow:
        yield postgres, mlflow
        return
    root = tmp_path_factory.mktemp("servers")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    server = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(root / "artifacts"),
         "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=open(root / "mlflow.log", "w"), env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{url}/health", timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError(f"the MLflow server did not start: {(root / 'mlflow.log').read_text()[-1000:]}")
        storage = f"sqlite:///{root / 'optuna.db'}"
        optuna.storages.RDBStorage(storage)  # the schema, made once (as a database server's admin would)
        yield storage, url
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_two_machines_share_one_study_on_real_servers(tmp_path, servers):
    POSTGRES, MLFLOW = servers  # noqa: N806
    # a fresh experiment (named after the benchmark file) and study: the server may hold earlier runs,
    # among them a published teacher of the same recipe, which would then be fetched, not trained
    unique = uuid.uuid4().hex[:8]
    bench = write_bench(tmp_path, name=f"two_machines_{unique}")
    experiment = f"akd-two_machines_{unique}"
    name = f"two-machines-{unique}"
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
    mine = [r for r in runs(MLFLOW, experiment) if r.data.tags.get("study") == name]
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
        for r in runs(MLFLOW, experiment)
        if r.data.tags.get("kind") == "teacher" and r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id
    ]
    trained = [r for r in teacher_runs if r.data.tags.get("trained") == "true"]
    assert len(trained) == 1  # one machine trained it; the other fetched it from the server
    stores = [len(list((tmp_path / m / "store").glob("*/model.pt"))) for m in ("a", "b")]
    assert stores == [1, 1]


def test_claim_elects_the_oldest_run_when_two_start_at_once(in_tmp):
    """Two workers that both looked before either started: the later one deletes its run and joins."""
    from akd.tracking import Tracker

    tracker = Tracker(f"sqlite:///{in_tmp / 'mlflow.db'}", experiment="claims")
    match = {"kind": "study", "study": "s"}
    other = tracker.start("other worker's", match)  # started first, but after our first look
    time.sleep(0.02)
    real_find, looks = tracker.find, []

    def late_find(tags, statuses=("RUNNING", "FINISHED")):  # noqa: ANN001
        looks.append(tags)
        return [] if len(looks) == 1 else real_find(tags, statuses)

    tracker.find = late_find
    assert tracker.claim("mine", match) == (other, False)
    assert [r.info.run_id for r in real_find(match)] == [other]  # ours is deleted: one run for the study


def test_a_trial_started_beyond_the_budget_trains_nothing(monkeypatch):
    """Another worker's trial started between our budget check and our ask: ours is surplus, not run."""
    import akd.sweep.study as study_module

    s = optuna.create_study(direction="maximize")
    s.ask()  # trial 0: another worker's, running; it fills a budget of 1
    checks = []
    real = study_module.counted
    monkeypatch.setattr(
        study_module,
        "counted",
        lambda st, below=None: 0 if not checks.append(1) and len(checks) == 1 else real(st, below),
    )
    ran, waits = [], []

    def other_worker_finishes(seconds):  # our worker waits for trial 0 before it returns
        waits.append(seconds)
        s.tell(0, 0.5)

    monkeypatch.setattr(study_module.time, "sleep", other_worker_finishes)
    study_module.work(s, lambda trial: ran.append(trial.number) or 1.0, n_trials=1, heartbeat=1)
    assert ran == [] and waits == [1]
    ours = s.trials[1]
    assert ours.state.name == "FAIL" and ours.user_attrs.get("surplus") is True
    assert len(s.trials) == 2  # and the worker stopped
