"""Jobs: checkpoints and resume, kill -9 anywhere and re-run, added seeds, executors.

The crash test kills the smoke benchmark with SIGKILL at named points (akd.faults) and checks the
re-run against an uninterrupted run: the same runs.csv, bit-identical stored weights, no MLflow run
left RUNNING, one run per job, and every job's training attempts counted.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient

from akd.checkpoint import Checkpointer
from akd.fixtures import write_fashion_mnist
from tests.conftest import SMOKE_SIZES

ROOT = Path(__file__).resolve().parent.parent
VOLATILE = ("seconds", "_forward_images", "_epochs_computed", "_epochs_cached")


def _cli(cwd: Path, data: Path, *extra: str, kill_at: str = "", env: dict | None = None) -> subprocess.CompletedProcess:
    """``akd bench fashion_mnist --profile smoke`` in a process of its own, in ``cwd``."""
    env = {**os.environ, "AKD_KILL_AT": kill_at, "PYTHONPATH": str(ROOT), **(env or {})}
    args = [sys.executable, "-m", "akd.cli", "bench", "fashion_mnist", "--profile", "smoke", "--data-dir", str(data)]
    args += ["--store-dir", "store", "--results-dir", "results", "--cache-dir", "cache"]
    args += ["--tracking-uri", f"sqlite:///{cwd / 'mlflow.db'}", *extra]
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _ok(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 0, done.stderr[-2000:]


def _runs_csv(cwd: Path) -> pd.DataFrame:
    (path,) = (cwd / "results" / "fashion_mnist").glob("*/runs.csv")
    table = pd.read_csv(path)
    return table[[c for c in table.columns if not c.endswith(VOLATILE)]]


def _store(cwd: Path) -> dict[str, dict]:
    """job key -> meta.json of every stored job."""
    return {p.parent.name: json.loads(p.read_text()) for p in (cwd / "store").glob("*/meta.json")}


def _by_name(metas: dict[str, dict]) -> dict[str, dict]:
    out = {}
    for meta in metas.values():
        r = meta["recipe"]
        name = r.get("method") or r.get("role")
        out[name if name == "teacher" else f"{name}/seed{r['seed']}"] = meta
    return out


def _mlflow(cwd: Path):
    client = MlflowClient(f"sqlite:///{cwd / 'mlflow.db'}")
    exp = client.get_experiment_by_name("akd-fashion_mnist")
    return client, client.search_runs([exp.experiment_id], max_results=1000)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fashion")
    write_fashion_mnist(root, **SMOKE_SIZES)
    return root


# ---------------------------------------------------------------- resume, unit level
def test_a_resumed_stage_ends_bit_identical_to_an_uninterrupted_one(tmp_path):
    """Stopped after epoch 1 of 3 and resumed from the saved state in a fresh model: the same
    weights, selected state and history, bit for bit (momentum, best-so-far and step restored)."""
    from akd.bench import init_model
    from akd.engine import StageJob, train_stage
    from akd.methods import HardLabels, Stage
    from akd.runtime import Runtime
    from tests.conftest import tiny_cifar

    rt = Runtime(torch.device("cpu"))
    cfg, task = tiny_cifar(tmp_path, "cifar10", n_train=200, n_test=40, batch_size=32)
    cfg.optim.milestones = [0.3]  # the rate changes inside the stage, after the checkpoint
    stage = Stage("s", "student", 3, HardLabels())
    whole = train_stage(StageJob(stage, init_model(cfg, "student", 0, task, rt), None, task, cfg.optim, 0, rt))

    saved = {}

    def keep(epochs, build):
        if epochs == 1:
            saved.update(build())

    train_stage(StageJob(stage, init_model(cfg, "student", 0, task, rt), None, task, cfg.optim, 0, rt, on_state=keep))
    assert saved["epoch"] == 1 and len(saved["history"]) == 1
    fresh = init_model(cfg, "student", 5, task, rt)  # other weights: everything must come from the state
    resumed = train_stage(StageJob(stage, fresh, None, task, cfg.optim, 0, rt, resume=saved))
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in whole.history]
    assert resumed.best_epoch == whole.best_epoch and resumed.test == whole.test
    assert all(torch.equal(resumed.best_state[k], whole.best_state[k]) for k in whole.best_state)


def test_a_resumed_ctkd_stage_restores_its_learned_temperature(tmp_path):
    """An objective with parameters (CTKD's temperature): stopped after epoch 1 of 3 and resumed, the
    temperature, the student and the history end bit-identical to an uninterrupted stage."""
    from akd.bench import init_model
    from akd.engine import StageJob, train_stage
    from akd.methods import Stage
    from akd.runtime import Runtime
    from akd.teacher import FrozenLogits, freeze
    from baselines.ctkd import CTKDSettings, CurriculumKD
    from tests.conftest import tiny_cifar

    rt = Runtime(torch.device("cpu"))
    cfg, task = tiny_cifar(tmp_path, "cifar10", n_train=200, n_test=40, batch_size=32)
    teacher = freeze(init_model(cfg, "teacher", 9, task, rt))
    stage = Stage("s", "student", 3, CurriculumKD(CTKDSettings(lambda_epochs=2)), teacher="teacher")

    def job(seed_model: int, **hooks) -> StageJob:
        source = FrozenLogits(teacher, "teacher", cfg.teacher, task, 0, 32, rt, None, 64)
        return StageJob(
            stage, init_model(cfg, "student", seed_model, task, rt), source, task, cfg.optim, 0, rt, **hooks
        )

    whole = train_stage(job(0))
    saved = {}
    train_stage(job(0, on_state=lambda epochs, build: saved.update(build()) if epochs == 1 else None))
    assert saved["objective"]["theta"].item() != 1.0  # the temperature moved in epoch 0
    resumed = train_stage(job(5, resume=saved))
    assert [h["temperature"] for h in resumed.history] == [h["temperature"] for h in whole.history]
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in whole.history]
    assert all(torch.equal(resumed.best_state[k], whole.best_state[k]) for k in whole.best_state)


def test_checkpoints_are_due_by_epochs_or_minutes(tmp_path, monkeypatch):
    now = [0.0]
    monkeypatch.setattr("akd.checkpoint.time.monotonic", lambda: now[0])
    by_epochs = Checkpointer(tmp_path / "a.pt", every_epochs=2)
    assert [by_epochs.due() for _ in range(2)] == [False, True]
    by_epochs.save({"x": 1})
    assert by_epochs.due() is False and by_epochs.load() == {"x": 1}
    by_minutes = Checkpointer(tmp_path / "b.pt", every_epochs=0, every_minutes=5)
    assert by_minutes.due() is False
    now[0] = 299.0
    assert by_minutes.due() is False
    now[0] = 300.0
    assert by_minutes.due() is True
    assert not list(tmp_path.glob(".*"))  # no temporary file left beside the checkpoints
    (tmp_path / "c.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(Exception, match="unreadable.*delete it"):
        Checkpointer(tmp_path / "c.pt").load()


# ---------------------------------------------------------------- kill -9 anywhere, re-run
KILLS = (
    "teacher teacher epoch 1",  # teacher training
    "cache write",  # a cache fill: the teacher's test outputs, for No-KD's fidelity after its training
    "cache write#2",  # a cache fill: the teacher's outputs for KD's first epoch (No-KD's filled first)
    "kd/seed0 done",  # between jobs
    "annealing/seed0 phase1 checkpointed epoch 0",  # Annealing-KD phase 1, its epoch 0 not yet in MLflow
    "annealing/seed0 phase2 epoch 0",  # Annealing-KD phase 2
    "ctkd/seed0 main checkpointed epoch 0",  # CTKD: its learned temperature must come back from the checkpoint
)


@pytest.mark.slow
def test_killed_anywhere_and_rerun_equals_an_uninterrupted_run(tmp_path, data):
    clean, crashed = tmp_path / "clean", tmp_path / "crashed"
    clean.mkdir(), crashed.mkdir()
    args = ("--seeds", "0", "--methods", "nokd", "kd", "takd", "annealing", "ctkd")
    _ok(_cli(clean, data, *args))
    for point in KILLS:
        done = _cli(crashed, data, *args, kill_at=point)
        assert done.returncode == -signal.SIGKILL, (point, done.stderr[-2000:])
    _ok(_cli(crashed, data, *args))

    pd.testing.assert_frame_equal(_runs_csv(crashed), _runs_csv(clean))
    a, b = _store(clean), _store(crashed)
    assert set(a) == set(b)  # the same jobs, by content key
    assert {k: m["sha256"] for k, m in a.items()} == {k: m["sha256"] for k, m in b.items()}  # bit-identical weights
    assert not list((crashed / "store" / "checkpoints").glob("*"))  # finished jobs leave no checkpoint

    attempts = {name: [(t["stage"], t["epoch"]) for t in m["attempts"]] for name, m in _by_name(b).items()}
    assert attempts == {
        "teacher": [(0, 0), (0, 1)],  # resumed at the epoch it died in
        "nokd/seed0": [(0, 0), (1, 0)],  # died measuring fidelity: resumed after its only stage
        "kd/seed0": [(0, 0), (0, 0)],  # died in its first epoch, before any checkpoint
        "ta/seed0": [(0, 0)],
        "takd/seed0": [(0, 0)],
        "annealing/seed0": [(0, 0), (0, 1), (1, 0)],  # resumed inside phase 1, then at phase 2's start
        "ctkd/seed0": [(0, 0), (0, 1)],  # resumed after epoch 0 with its temperature and its momentum
    }

    client, runs = _mlflow(crashed)
    assert {r.info.status for r in runs} == {"FINISHED"}
    (parent,) = [r for r in runs if r.data.tags.get("kind") == "benchmark"]  # continued, never duplicated
    jobs = [r for r in runs if r.data.tags.get("kind") != "benchmark"]
    assert sorted(r.data.tags["job_key"] for r in jobs) == sorted(b)  # one run per job
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in jobs)
    ann = next(r for r in jobs if r.info.run_name == "annealing/seed0")
    assert ann.data.tags.get("died") == "true"  # marked KILLED by the next invocation, then continued
    steps = [m.step for m in client.get_metric_history(ann.info.run_id, "train_loss")]
    assert sorted(steps) == [0, 1, 2]  # every epoch logged once, across three processes
    clean_ann = next(r for r in _mlflow(clean)[1] if r.info.run_name == "annealing/seed0")
    assert ann.data.metrics["test_acc"] == clean_ann.data.metrics["test_acc"]


@pytest.mark.slow
def test_adding_a_seed_trains_only_that_seeds_jobs(tmp_path, data):
    _ok(_cli(tmp_path, data, "--seeds", "0", "--methods", "kd", "takd"))
    first = _by_name(_store(tmp_path))
    done = _cli(tmp_path, data, "--seeds", "0", "1", "--methods", "kd", "takd")
    _ok(done)
    second = _by_name(_store(tmp_path))
    new = {name for name in second if name not in first}
    assert new == {"ta/seed1", "kd/seed1", "takd/seed1"}
    assert all(second[name] == first[name] for name in first)  # untouched: same attempts, same results
    _, runs = _mlflow(tmp_path)
    parents = sorted((r for r in runs if r.data.tags.get("kind") == "benchmark"), key=lambda r: r.info.start_time)
    assert len(parents) == 2  # another command (another seed list): a parent run of its own
    children = {r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[1].info.run_id}
    assert {n for n, r in children.items() if r.data.tags.get("trained") != "false"} == new
    assert {n for n, r in children.items() if r.data.tags.get("trained") == "false"} == set(first)
    table = pd.read_csv(next((tmp_path / "results" / "fashion_mnist").glob("*/runs.csv")))
    assert len(table) == 1 + 2 * 3  # every row of the new command, reused ones included


@pytest.mark.slow
def test_epochs_redone_after_the_last_checkpoint_are_logged_once_in_the_reopened_run(tmp_path, data):
    # 5 epochs, a checkpoint every 3: epoch 3 is logged, then the process dies in epoch 4
    args = ("--seeds", "0", "--methods", "nokd", "--set", "student_epochs=5", "--set", "jobs.checkpoint_epochs=3")
    for _ in range(2):  # the resumed attempt dies at the same point
        done = _cli(tmp_path, data, *args, kill_at="nokd/seed0 main epoch 4")
        assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    client, runs = _mlflow(tmp_path)
    (job,) = [r for r in runs if r.data.tags.get("method") == "nokd"]
    assert job.info.status == "RUNNING"  # as the resumed attempt left it: its run was reopened, not left KILLED
    _ok(_cli(tmp_path, data, *args))
    client, runs = _mlflow(tmp_path)
    (job,) = [r for r in runs if r.data.tags.get("method") == "nokd" and r.data.tags.get("trained") != "false"]
    assert job.info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(job.info.run_id, "train_loss")]
    assert sorted(steps) == [0, 1, 2, 3, 4]  # epoch 3, trained three times, logged once
    attempts = [(a["stage"], a["epoch"]) for a in _by_name(_store(tmp_path))["nokd/seed0"]["attempts"]]
    assert attempts == [(0, 0), (0, 3), (0, 3)]


@pytest.mark.slow
def test_local_pool_gives_the_inline_results(tmp_path, data):
    inline, pool = tmp_path / "inline", tmp_path / "pool"
    inline.mkdir(), pool.mkdir()
    _ok(_cli(inline, data, "--threads", "1"))  # a pool worker on 2 cores: 1 thread
    done = _cli(pool, data, "--executor", "pool", "--workers", "2")
    _ok(done)
    assert "done (worker process)" in done.stdout
    pd.testing.assert_frame_equal(_runs_csv(pool), _runs_csv(inline))
    assert {k: m["sha256"] for k, m in _store(pool).items()} == {k: m["sha256"] for k, m in _store(inline).items()}
    _, runs = _mlflow(pool)
    assert {r.info.status for r in runs} == {"FINISHED"} and len(runs) == 1 + 1 + 2 * 9  # TA and eight methods


@pytest.mark.slow
def test_a_pool_worker_killed_mid_job_is_replaced_and_the_results_are_the_inline_ones(tmp_path, data):
    inline, pool = tmp_path / "inline", tmp_path / "pool"
    inline.mkdir(), pool.mkdir()
    args = ("--methods", "nokd", "kd", "annealing")
    _ok(_cli(inline, data, *args, "--threads", "1"))
    once = tmp_path / "killed"  # the first spawned worker to reach a job's epoch 1 dies, SIGKILL, once
    done = _cli(pool, data, *args, "--executor", "pool", "--workers", "2", kill_at="pool-worker:* main epoch 1",
                env={"AKD_KILL_ONCE": str(once)})  # fmt: skip
    _ok(done)
    assert once.exists() and "its worker process died; running it again on a fresh worker" in done.stdout
    pd.testing.assert_frame_equal(_runs_csv(pool), _runs_csv(inline))  # the same command finished it
    assert {k: m["sha256"] for k, m in _store(pool).items()} == {k: m["sha256"] for k, m in _store(inline).items()}


@pytest.mark.slow
def test_a_job_whose_pool_worker_dies_every_time_stops_in_one_line_with_the_machine_code(tmp_path, data):
    """A worker killed at the same point on every try (the OOM killer, say): three deaths, then exit 4 and
    one line, and the finished jobs stay stored for the same command to reuse."""
    done = _cli(tmp_path, data, "--methods", "nokd", "--executor", "pool", "--workers", "2",
                kill_at="pool-worker:nokd/* main epoch 1")  # fmt: skip
    assert done.returncode == 4, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]  # after the dead worker's half-drawn progress bar (cleared on a tty)
    assert re.search(r"akd: error: nokd/seed\d: its worker process died 3 times[^\r]*$", last), last
    assert "Traceback" not in done.stderr and done.stdout.count("its worker process died; running it again") == 2


@pytest.mark.slow
def test_sigterm_to_a_pools_process_group_exits_143_in_one_line_and_the_same_command_finishes(tmp_path, data):
    """A scheduler's time limit signals every process of the job: the workers stop as interrupts (no
    dead-worker retry, no pool renewed), the command says so in one line, and a rerun finishes."""
    import signal
    import time

    args = [sys.executable, "-m", "akd.cli", "bench", "fashion_mnist", "--profile", "smoke", "--data-dir", str(data)]
    args += ["--store-dir", "store", "--results-dir", "results", "--cache-dir", "cache", "--methods", "nokd", "kd"]
    args += ["--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--executor", "pool", "--workers", "2"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 300
    while len(list((tmp_path / "store" / "checkpoints").glob("*.pt"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # two jobs under way, one on a spawned worker (their first checkpoints written)
    os.killpg(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert last.endswith("akd: terminated; finished runs are in MLflow and the model store; the same command resumes")
    assert "Traceback" not in err and "worker process died" not in err
    _, runs = _mlflow(tmp_path)
    assert "RUNNING" not in {r.info.status for r in runs}  # each worker's job marked its run on the way out
    _ok(_cli(tmp_path, data, "--methods", "nokd", "kd", "--executor", "pool", "--workers", "2"))


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["submitit-local", "submitit-debug"])
def test_submitit_runs_the_stages_as_dependent_arrays(tmp_path, data, executor):
    inline, sub = tmp_path / "inline", tmp_path / "sub"
    inline.mkdir(), sub.mkdir()
    args = ("--seeds", "0", "1", "--methods", "kd", "takd")
    _ok(_cli(inline, data, *args))
    done = _cli(sub, data, *args, "--executor", executor, "--jobs-dir", str(sub / "jobs"))
    _ok(done)
    arrays = [line for line in done.stdout.splitlines() if line.startswith("submitted ")]
    assert [line.split(" (")[0] for line in arrays] == ["submitted 1 jobs", "submitted 2 jobs", "submitted 4 jobs"]
    assert "(teacher)" in arrays[0] and "(ta/seed0, ta/seed1)" in arrays[1]
    pd.testing.assert_frame_equal(_runs_csv(sub), _runs_csv(inline))
    _, runs = _mlflow(sub)
    assert {r.info.status for r in runs} == {"FINISHED"} and len(runs) == 1 + 1 + 2 * 3


def test_slurm_arrays_wait_on_the_stage_before_and_carry_the_options(monkeypatch, tmp_path):
    """On Slurm every stage is submitted at once, each array ``afterok`` on the one before, with the
    partition, GPUs and time limit asked for; a requeued job resumes (its callable checkpoints)."""
    import submitit

    from akd.executors import JobCall, SlurmOptions, Submitit
    from akd.plan import Run

    calls: list[tuple[str, dict]] = []

    class Job:
        def __init__(self, job_id):
            self.job_id = job_id

        def result(self):
            return None

    class FakeExecutor:
        def __init__(self, folder, cluster):
            calls.append(("init", {"folder": folder, "cluster": cluster}))
            self.next = 100

        def update_parameters(self, **params):
            calls.append(("params", params))

        def map_array(self, fn, specs, names):
            assert isinstance(fn, JobCall) and len(specs) == len(names)
            calls.append(("array", {"names": list(names)}))
            self.next += 1
            return [Job(f"{self.next}_{i}") for i in range(len(names))]

    monkeypatch.setattr(submitit, "AutoExecutor", FakeExecutor)

    class Runner:  # what the executor reads of a BenchmarkRunner
        cfg = type("Cfg", (), {"benchmark": "cifar100"})()
        tracker = type("T", (), {"uri": "http://mlflow:5000", "experiment": "akd-cifar100"})()
        store = type("S", (), {"root": tmp_path})()
        parent, command, log = "p", "akd bench", staticmethod(lambda *_: None)

    runs = [Run("teacher", "teacher", 0, [])] + [Run(f"ta/seed{s}", "shared", s, []) for s in (0, 1)]
    runs += [Run(f"kd/seed{s}", "method", s, [], "kd") for s in (0, 1)]
    options = SlurmOptions(partition="gpu", gpus=1, cpus=8, time_min=600, account="lab")
    ex = Submitit("slurm", tmp_path / "jobs", options)
    ex.run(Runner(), runs)
    arrays = [c[1]["names"] for c in calls if c[0] == "array"]
    assert arrays == [["teacher"], ["ta/seed0", "ta/seed1"], ["kd/seed0", "kd/seed1"]]
    first = next(c[1] for c in calls if c[0] == "params")
    assert first["slurm_partition"] == "gpu" and first["gpus_per_node"] == 1 and first["timeout_min"] == 600
    assert first["cpus_per_task"] == 8 and first["slurm_account"] == "lab"
    deps = [c[1]["slurm_additional_parameters"]["dependency"] for c in calls if "slurm_additional_parameters" in c[1]]
    assert deps == ["afterok:101", "afterok:102"]  # students wait for the TAs, the TAs for the teacher
    assert ex.job_ids == [["101_0"], ["102_0", "102_1"], ["103_0", "103_1"]]
    requeued = JobCall().checkpoint("spec", "kd/seed0")
    assert isinstance(requeued.function, JobCall) and requeued.args == ("spec", "kd/seed0")
