"""Sweeps across processes: a killed worker's trial is failed and retried; two "machines" on real servers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient

from akd.cli import main
from tests.sweep_fixture import SPACES, of_kind, runs, study, sweep_args, write_bench

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _akd(args: list[str], cwd, **env_vars: str) -> subprocess.Popen:  # noqa: ANN001
    env = {**os.environ, "PYTHONPATH": ROOT, **env_vars}
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


def _trial_seeds(store: Path) -> dict[int, dict]:
    """seed -> meta.json of every stored trial seed (the sweep's jobs)."""
    metas = [json.loads(p.read_text()) for p in store.glob("*/meta.json")]
    return {m["recipe"]["seed"]: m for m in metas if m["recipe"].get("kept") == "results"}


@pytest.mark.slow
def test_a_retried_trial_reuses_the_seed_its_dead_worker_finished_and_resumes_the_other(in_tmp):
    bench = write_bench(in_tmp, epochs=2)
    args = sweep_args(bench, "annealing", "--n-trials", "1", "--heartbeat", "1", "--seeds", "0", "1")
    # seed 0 finishes; seed 1 dies in phase 1, after its first epoch's checkpoint
    killed = _akd(args, in_tmp, AKD_KILL_AT="annealing/seed1 phase1 checkpointed epoch 0")
    assert killed.wait(timeout=300) == -signal.SIGKILL, killed.stderr.read()[-2000:]
    before = _trial_seeds(in_tmp / "store")
    assert list(before) == [0] and [a["stage"] for a in before[0]["attempts"]] == [0]
    assert main([*args]) == 0  # waits out the grace period, fails the silent trial, retries it
    s = study("tiny-smoke-annealing", f"sqlite:///{in_tmp}/optuna.db")
    dead, retry = s.trials
    assert dead.state.name == "FAIL" and retry.state.name == "COMPLETE" and retry.params == dead.params
    after = _trial_seeds(in_tmp / "store")
    assert after[0] == before[0]
    # not trained again: the retry's seed-0 record is the stored one, to its training time
    assert retry.user_attrs["per_seed"]["0"] == {k: v for k, v in before[0]["results"].items() if "." not in k}
    assert after[0]["trial"] == dead.number and after[1]["trial"] == retry.number
    assert [(a["stage"], a["epoch"]) for a in after[1]["attempts"]] == [(0, 0), (0, 1)]  # resumed at epoch 1
    assert not list((in_tmp / "store" / "checkpoints").glob("*.pt"))  # each removed once its job was stored
    # the retried trial's MLflow run holds every epoch of both seeds, each once
    (trial_run,) = [r for r in of_kind(runs(), "trial") if r.data.tags["trial_number"] == str(retry.number)]
    client = MlflowClient(f"sqlite:///{in_tmp / 'mlflow.db'}")
    steps = [m.step for m in client.get_metric_history(trial_run.info.run_id, "train_loss")]
    max_epochs = 3 + 1  # the space's longest trial: phase1_epochs 3 + phase2_epochs 1
    assert sorted(steps) == sorted(set(steps)) and len(steps) == 2 * sum(dead.params[k] for k in PHASES)
    assert {st // max_epochs for st in steps} == {0, 1}
    # the same command uninterrupted, in another folder: the same trial, the same value to the last bit
    ref = in_tmp / "ref"
    ref.mkdir()
    assert _akd([*args[:1], str(write_bench(ref, epochs=2)), *args[2:]], ref).wait(timeout=300) == 0
    (uninterrupted,) = study("tiny-smoke-annealing", f"sqlite:///{ref}/optuna.db").trials
    assert uninterrupted.params == retry.params and uninterrupted.value == retry.value
    counters = ("seconds", "_forward_images", "_epochs_computed", "_epochs_cached")  # work done, not results
    ref_seed1 = _trial_seeds(ref / "store")[1]["results"]
    assert {k: v for k, v in ref_seed1.items() if not k.endswith(counters)} == {
        k: v for k, v in after[1]["results"].items() if not k.endswith(counters)
    }


PHASES = ("annealing.phase1_epochs", "annealing.phase2_epochs")


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
    metas = [[json.loads(p.read_text()) for p in (tmp_path / m / "store").glob("*/meta.json")] for m in "ab"]
    assert [sum(m["recipe"].get("kept") != "results" for m in ms) for ms in metas] == [1, 1]  # each its teacher
    seeds = [m for ms in metas for m in ms if m["recipe"].get("kept") == "results"]  # trial seeds: results only
    assert seeds and {m["trial"] for m in seeds} <= {t.number for t in finished}


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
