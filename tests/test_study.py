"""``akd study``: every method tuned at one budget on tuning seeds, then tested on other seeds.

The end-to-end test runs a smoke-sized study on the CIFAR-10 fixture (three methods, two trials
each, two test seeds), is killed in the middle of the tuning, re-run, and then checked: tuning and
test seeds disjoint, the same number of trials and the same epochs for every method, and every
reported number from the test seeds alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from akd.benchfile import load_benchmark, read_benchmark_file
from akd.errors import AkdError
from akd.methods import student_epochs
from akd.plan import build_plan
from akd.store import ModelStore
from akd.sweep.space import load_space, parse_space, with_settings
from akd.sweep.tune_test import Clock, check_space, load_study, midpoint
from akd.tasks.base import load_task, teacher_task
from tests.sweep_fixture import study, write_bench

ROOT = Path(__file__).resolve().parents[1]

STUDY = """methods = ["nokd", "kd", "annealing"]
teacher_train_subset = 512

[profiles.smoke.study]
space = "tuned"
tuning_seeds = [7]
n_trials = 2

[sweeps.tuned]
n_trials = 2
pruner = "none"
budget = 2
[sweeps.tuned.methods]
nokd = { "optim.lr" = { low = 0.05, high = 0.2, log = true } }
kd = { "optim.lr" = { low = 0.05, high = 0.2, log = true }, "kd.temperature" = [1.0, 4.0] }
annealing = { "annealing.phase1_epochs" = [1, 2], "annealing.phase2_epochs" = "rest" }
"""


def _cfg(tmp_path: Path, spaces: str = STUDY):
    bench = write_bench(tmp_path, spaces, name="tiny")
    cfg = load_benchmark(str(bench), "smoke", {"annealing": {"tau_max": 1}})
    return bench, cfg, read_benchmark_file(str(bench))


# ---------------------------------------------------------------------------- the budget's rest
def test_rest_takes_what_the_budget_leaves(tmp_path):
    _, cfg, spec = _cfg(tmp_path)
    space = load_space(spec, "smoke", "tuned", cfg)
    arm = next(a for a in space.arms if a.method == "annealing")
    assert arm.budget == 2 and arm.rest == "annealing.phase2_epochs"
    for phase1, phase2 in ((1, 1), (2, 0)):
        settings = arm.complete(cfg, {"annealing.phase1_epochs": phase1})
        assert settings["annealing.phase2_epochs"] == phase2
        assert student_epochs("annealing", with_settings(cfg, "annealing", settings)) == 2
    assert all(a.max_epochs == 2 for a in space.arms)
    assert arm.describe()["budget"] == 2  # in the study's fingerprint: another budget is another study


@pytest.mark.parametrize(
    "table, words",
    [
        ('budget = 3\n[sweeps.t.methods]\nkd = { "kd.temperature" = [1.0, 4.0] }', "trains its student 2 epochs"),
        ('[sweeps.t.methods]\nannealing = { "annealing.phase2_epochs" = "rest" }', "needs the space's budget"),
        (
            'budget = 1\n[sweeps.t.methods]\nannealing = { "annealing.phase1_epochs" = [1, 2], '
            '"annealing.phase2_epochs" = "rest" }',
            "more than the budget",
        ),
    ],
)
def test_a_space_off_its_budget_is_refused(tmp_path, table, words):
    _, cfg, _ = _cfg(tmp_path)
    spec = {"sweeps": {}}
    import tomllib

    spec["sweeps"]["t"] = tomllib.loads("[sweeps.t]\n" + table)["sweeps"]["t"]
    with pytest.raises(AkdError, match=words):
        load_space(spec, "smoke", "t", cfg)


def test_midpoint_is_inside_every_range(tmp_path):
    _, cfg, spec = _cfg(tmp_path)
    space = load_space(spec, "smoke", "tuned", cfg)
    kd = next(a for a in space.arms if a.method == "kd")
    mid = midpoint(kd)
    assert mid["optim.lr"] == pytest.approx((0.05 * 0.2) ** 0.5)  # geometric for a log range
    assert mid["kd.temperature"] == pytest.approx(2.5)


# ---------------------------------------------------------------------------- the study's table
def test_tuning_seeds_that_are_test_seeds_are_refused(tmp_path):
    _, cfg, spec = _cfg(tmp_path)
    spec["profiles"]["smoke"]["study"]["tuning_seeds"] = [1, 7]
    with pytest.raises(AkdError, match=r"tuning seed\(s\) 1 are also test seeds"):
        load_study(spec, cfg)
    del spec["profiles"]["smoke"]["study"]
    with pytest.raises(AkdError, match="declares no study"):
        load_study(spec, cfg)


def test_a_study_space_tunes_every_method_at_one_budget(tmp_path):
    _, cfg, spec = _cfg(tmp_path)
    space = load_space(spec, "smoke", "tuned", cfg)
    check_space(space, cfg)
    cfg.methods = ["nokd", "kd", "annealing", "takd"]
    with pytest.raises(AkdError, match="lacks takd"):
        check_space(space, cfg)
    cfg.methods = ["nokd", "kd", "annealing"]
    unbudgeted = parse_space("u", {"methods": {m: {"optim.lr": [0.05, 0.2]} for m in cfg.methods}}, "u")
    with pytest.raises(AkdError, match="declares no budget"):
        check_space(unbudgeted, cfg)


def test_clock_adds_up_the_attempts(tmp_path):
    path = tmp_path / "clock.json"
    first = Clock(path)
    first.start("tuning")
    first.doc["walls"]["tuning"]["0"] = 0  # as if just started
    first.current = ("tuning", first.current[1] - 30)  # 30 s in, then killed (no end())
    first._write()
    first.close()
    second = Clock(path)
    second.start("tuning")
    second.current = ("tuning", second.current[1] - 10)
    second.end()
    assert second.attempts() == 2
    assert second.wall("tuning") == pytest.approx(40, abs=1)
    assert second.notes() == []
    second.doc["attempts"][0]["note"] = "killed on purpose"  # written by hand in the clock's file
    second.close()
    assert Clock(path).notes() == ["attempt 0: killed on purpose"]  # printed under the cost table


def test_each_step_is_measured_against_the_plan_printed_before_it_began(tmp_path):
    """Attempt 0 plans (teacher 10 s, tuning 100 s) and trains the teacher; attempt 1 probes a
    faster machine (5 s, 60 s) and runs the tuning: the teacher keeps attempt 0's estimate, the
    tuning gets attempt 1's, and a step no attempt began gets the latest plan's."""
    path = tmp_path / "clock.json"
    first = Clock(path)
    first.estimate({"teacher": 10.0, "tuning": 100.0, "tuned": 50.0})
    first.start("teacher")
    first.end()
    first.close()
    second = Clock(path)
    second.estimate({"teacher": 5.0, "tuning": 60.0, "tuned": 30.0})
    second.start("teacher")  # everything stored: a moment, not the step's beginning
    second.end()
    second.start("tuning")
    second.end()
    latest = {"teacher": 5.0, "tuning": 60.0, "tuned": 30.0}
    assert second.step_estimates(latest) == {"teacher": 10.0, "tuning": 60.0, "tuned": 30.0}
    second.close()


# ---------------------------------------------------------------------------- the teacher's own data
def test_teacher_trains_on_its_own_samples_and_keys_stay_put(tmp_path):
    _, cfg, _ = _cfg(tmp_path)
    task = load_task(cfg)
    own = teacher_task(cfg, task)
    assert own.size("train") == 512 and task.size("train") == 256
    assert own.size("val") == task.size("val") and own.size("test") == task.size("test")
    assert torch_equal(own.data.val.images, task.data.val.images)  # the same held-out validation split
    rows = {bytes(x.numpy()) for x in own.data.train.images}
    assert all(bytes(x.numpy()) in rows for x in task.data.train.images)  # the students' images are among its
    first = build_plan(cfg, task, ModelStore(tmp_path / "s"))[0]
    key = first.key
    assert first.recipe["data"]["config"]["train_subset"] == 512  # its own samples, on record
    assert first.recipe["data"]["fingerprint"] == own.fingerprint != task.fingerprint
    cfg.teacher_train_subset = -1
    same = build_plan(cfg, task, ModelStore(tmp_path / "s"))[0]
    assert same.key != key and same.recipe["data"]["config"]["train_subset"] == 256
    cfg.teacher_train_subset = 256  # the students' own: the same teacher as -1
    assert build_plan(cfg, task, ModelStore(tmp_path / "s"))[0].key == same.key


def torch_equal(a, b) -> bool:
    return bool((a == b).all())


# ---------------------------------------------------------------------------- end to end
def _akd(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg", **env}
    full.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run(
        [sys.executable, "-m", "akd.cli", *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=900
    )


@pytest.mark.slow
def test_study_tunes_then_tests_on_other_seeds_and_survives_a_kill(tmp_path):
    bench, cfg, _ = _cfg(tmp_path)
    args = ["study", str(bench), "--profile", "smoke", "--store-dir", "store", "--heartbeat", "1"]
    args += ["--set", "annealing.tau_max=1"]
    killed = _akd(args, tmp_path, AKD_KILL_AT="kd/seed7 main checkpointed epoch 0")
    assert killed.returncode != 0
    assert not list(tmp_path.glob("results/**/study.md"))  # nothing reported from a study cut short
    done = _akd(args, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    variant = next(p for p in (tmp_path / "results/tiny").iterdir() if not p.name.endswith("-tuned"))
    tuned = variant.with_name(variant.name + "-tuned")
    trials = pd.read_csv(variant / "sweep-tuned/trials.csv")
    complete = trials[trials.state == "COMPLETE"]
    # every method the same number of trials, each trial the same epoch budget
    assert complete.groupby("method").size().to_dict() == {"nokd": 2, "kd": 2, "annealing": 2}
    ann = complete[complete.method == "annealing"]
    assert ((ann["param:annealing.phase1_epochs"] + ann["param:annealing.phase2_epochs"]) == 2).all()
    # tuning seeds only in the trials, test seeds only in the reported runs
    assert [c for c in trials.columns if "seed" in c] == ["val_acc_best_seed7", "test_acc_seed7"]
    for folder in (variant, tuned):
        runs = pd.read_csv(folder / "runs.csv")
        assert set(runs[runs.run != "teacher"].seed) == {0, 1}
        assert list(runs.run).count("teacher") == 1  # the one teacher, trained on its own 512 samples
    # the reported numbers are the test seeds' own
    doc = json.loads((variant / "study.json").read_text())
    runs = pd.read_csv(tuned / "runs.csv")
    for method in ("nokd", "kd", "annealing"):
        assert doc["results"][f"tuned/{method}"] == list(runs[runs.run == method].test_acc)
    assert doc["tuning_seeds"] == [7] and doc["test_seeds"] == [0, 1]
    # the tuner sees validation numbers only
    shown = [ln for p in (killed, done) for ln in (p.stdout + p.stderr).splitlines() if ln.startswith("trial ")]
    assert shown and not any("test" in ln for ln in shown)
    # the tuned runs used the tuned settings: Annealing-KD's phases sum to the budget
    tuned_cfg = json.loads((tuned / "summary.json").read_text())
    phases = tuned_cfg["config"]["annealing"]
    assert phases["phase1_epochs"] + phases["phase2_epochs"] == 2
    assert set(tuned_cfg["tuned"]) == {"nokd", "kd", "annealing"}
    # the kill cost one attempt, and no finished trial was run again
    assert doc["attempts"] == 2
    kd = study(f"tiny-{variant.name}-tuned-kd", f"sqlite:///{tmp_path / 'optuna.db'}")
    assert sum(t.state.name == "COMPLETE" for t in kd.trials) == 2
    assert "Tuned at equal budget" in (variant / "study.md").read_text()


def test_a_tuned_learning_rate_is_the_students_and_the_teacher_stays(tmp_path):
    _, cfg, spec = _cfg(tmp_path)
    task = load_task(cfg)
    store = ModelStore(tmp_path / "s")
    base = build_plan(cfg, task, store)
    trial = with_settings(cfg, "kd", {"optim.lr": 0.05, "kd.temperature": 2.0})
    plan = build_plan(trial, task, store)
    assert plan[0].kind == "teacher" and plan[0].key == base[0].key  # one teacher for every trial
    assert plan[0].recipe["optim"]["lr"] == cfg.optim.lr == 0.1
    kd = next(r for r in plan if r.method == "kd")
    assert kd.recipe["optim"]["lr"] == 0.05  # the student trains at the trial's rate
    cfg.teacher_lr = 0.0
    assert build_plan(cfg, task, store)[0].key == base[0].key  # 0 = optim.lr: the keys of before
    cfg.teacher_lr = 0.2
    assert build_plan(cfg, task, store)[0].key != base[0].key


def test_other_optimiser_settings_cannot_be_swept(tmp_path):
    _, cfg, _ = _cfg(tmp_path)
    space = {"sweeps": {"w": {"method": "kd", "params": {"optim.weight_decay": [1e-5, 1e-3]}}}}
    with pytest.raises(AkdError, match="every trial would train a teacher of its own"):
        load_space(space, "smoke", "w", cfg)


def test_takds_assistant_keeps_the_profiles_rate_in_a_trial(tmp_path):
    _, cfg, _ = _cfg(tmp_path)
    cfg.methods = ["takd"]
    task = load_task(cfg)
    store = ModelStore(tmp_path / "s")
    base = {r.name: r for r in build_plan(cfg, task, store)}
    trial = {r.name: r for r in build_plan(with_settings(cfg, "takd", {"optim.lr": 0.05}), task, store)}
    assert trial["ta/seed0"].key == base["ta/seed0"].key  # one TA per seed for every trial and protocol
    assert trial["takd/seed0"].recipe["optim"]["lr"] == 0.05 != base["takd/seed0"].recipe["optim"]["lr"]


def test_the_teacher_trains_on_its_own_samples_the_students_on_theirs(tmp_path, monkeypatch):
    from akd import jobs
    from akd.bench import run_benchmark
    from akd.tracking import Tracker

    monkeypatch.chdir(tmp_path)
    _, cfg, _ = _cfg(tmp_path)
    cfg.methods, cfg.seeds = ["kd"], [0]
    seen: dict[str, int] = {}
    real = jobs.train_stage

    def spy(work):  # noqa: ANN001
        seen[work.desc.split()[0]] = work.task.size("train")
        return real(work)

    monkeypatch.setattr(jobs, "train_stage", spy)
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", experiment="akd-tiny")
    run_benchmark(cfg, tracker, ModelStore(tmp_path / "store"), None, log=lambda *_: None)
    assert seen == {"teacher": 512, "kd/seed0": 256}
