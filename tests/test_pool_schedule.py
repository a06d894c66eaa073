"""The local pool's scheduling, without processes: which job goes first, who waits, what fails."""

from __future__ import annotations

import threading

import pytest
import torch

from akd.errors import AkdError
from akd.executors import first_step
from akd.methods import Stage
from akd.plan import Run
from akd.pool import JobQueue, critical_path


def _run(name: str, seconds: float, upstream: tuple[str, ...] = (), epochs: int = 1, teacher=None) -> Run:
    stage = Stage(name, "student", epochs, objective=None, teacher=teacher)
    needs = {f"u{i}": k for i, k in enumerate(upstream)}
    return Run(name, "method", 0, [stage], method=name, key=name, needs=needs, seconds=seconds)


def _plan() -> list[Run]:
    # teacher (10 s) -> kd (4), ta (2) -> takd (5), annealing (6); nokd (3) needs nothing
    return [
        _run("teacher", 10),
        _run("nokd", 3),
        _run("kd", 4, ("teacher",)),
        _run("ta", 2, ("teacher",)),
        _run("takd", 5, ("ta",)),
        _run("annealing", 6, ("teacher",)),
    ]


def testcritical_path_adds_the_longest_chain_after_each_job():
    cp = critical_path(_plan())
    # by hand: takd 5; ta 2 + 5 = 7; teacher 10 + max(kd 4, ta 7, annealing 6) = 17
    assert cp == {"teacher": 17, "nokd": 3, "kd": 4, "ta": 7, "takd": 5, "annealing": 6}


def testcritical_path_counts_epochs_where_nothing_was_estimated():
    runs = [_run("a", 0, epochs=3), _run("b", 0, ("a",), epochs=2)]
    assert critical_path(runs) == {"a": 5, "b": 2}


def test_queue_hands_out_ready_jobs_longest_chain_first():
    runs = _plan()
    q = JobQueue(runs, set(), critical_path(runs))
    first, second = q.take(), q.take()
    assert (first.name, second.name) == ("teacher", "nokd")  # nokd waits on nothing: it runs beside the teacher
    q.done(first)
    # the TA (a chain of 7 s) before annealing (6) and KD (4), although it is shorter than both
    assert [q.take().name for _ in range(3)] == ["ta", "annealing", "kd"]


def test_queue_waits_for_upstream_jobs_then_ends():
    runs = [_run("teacher", 1), _run("kd", 1, ("teacher",))]
    q = JobQueue(runs, set(), critical_path(runs))
    teacher = q.take()
    got: list = []
    waiter = threading.Thread(target=lambda: got.append(q.take()))
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive() and not got  # kd waits while the teacher runs
    q.done(teacher)
    waiter.join(5)
    assert [r.name for r in got] == ["kd"]
    q.done(got[0])
    assert q.take() is None


def test_queue_skips_jobs_already_stored_and_refuses_a_missing_upstream():
    runs = [_run("kd", 1, ("teacher",))]
    assert JobQueue(runs, {"teacher"}, critical_path(runs)).take().name == "kd"
    with pytest.raises(AkdError, match="wait on jobs that are not in the plan"):
        JobQueue(runs, set(), critical_path(runs)).take(raising=True)


def test_a_workers_error_reaches_the_driver_and_stops_the_others():
    runs = [_run("a", 1), _run("b", 1), _run("c", 1, ("a",))]
    q = JobQueue(runs, set(), critical_path(runs))
    q.take(), q.take()
    q.stop(RuntimeError("b failed"))
    assert q.take() is None  # a feeder stops
    with pytest.raises(RuntimeError, match="b failed"):
        q.take(raising=True)  # the driver raises it


def test_the_warm_up_step_draws_no_random_numbers():
    torch.manual_seed(7)
    before = torch.get_rng_state()
    first_step()
    assert torch.equal(torch.get_rng_state(), before)


def test_no_kd_starts_beside_the_teacher_it_only_measures_fidelity_against():
    teacher = _run("teacher", 10)
    nokd = _run("nokd", 3)
    nokd.recipe = {"teacher": "teacher"}  # fidelity only: no stage learns from it
    kd = _run("kd", 4, teacher="teacher")
    kd.recipe = {"teacher": "teacher"}
    assert nokd.fidelity_only and nokd.starts_after == [] and nokd.upstream == ["teacher"]
    assert not kd.fidelity_only and kd.starts_after == ["teacher"]
    q = JobQueue([teacher, kd, nokd], set(), critical_path([teacher, kd, nokd]))
    assert [q.take().name, q.take().name] == ["teacher", "nokd"]  # KD waits for the teacher


def test_a_job_waiting_for_a_teacher_that_was_never_stored_fails(tmp_path, monkeypatch):
    import akd.jobs as jobs
    from akd.store import ModelStore

    monkeypatch.setattr(jobs, "AWAIT_S", 0.0)
    runner = jobs.JobRunner.__new__(jobs.JobRunner)
    runner.store, runner.log = ModelStore(tmp_path), print
    with pytest.raises(AkdError, match="the teacher job ended without storing"):
        runner.awaited("0123456789abcdef0123", "teacher")
