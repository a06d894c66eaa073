"""The analysis data layer (akd.records): the same tidy frames from an MLflow store and from results/."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from akd.records import curves_from_mlflow, curves_from_results, runs_from_mlflow, runs_from_results
from akd.tracking import Tracker


def _child(tracker, parent, kind, name, seed, variant, metrics, method="", status="FINISHED", commit="abc123"):
    tags = {"kind": kind, "seed": str(seed), "benchmark": "fm", "variant": variant, "git_commit": commit}
    if method:
        tags["method"] = method
    params = {"data.dataset": "fashion-mnist", "seed": seed, "student_epochs": 10, "data.selection": "val"}
    params |= {"annealing.phase1_epochs": 10, "annealing.phase2_epochs": 5, "teacher_epochs": 15, "ta_epochs": 10}
    run = tracker.start(name, tags, params, parent=parent)
    for step, value in enumerate(metrics.pop("history", [])):
        tracker.log_metrics(run, {"val_acc": value, "phase": 1.0 + (step > 0)}, step=step)
    tracker.log_metrics(run, metrics)
    tracker.end(run, status=status)
    return run


@pytest.fixture
def store(tmp_path):
    """Two variants' invocations, nested runs, one failed method run and one repeated run."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker(uri, experiment="akd-fm")
    for variant, shift in (("cpu", 0.0), ("cpu-equal", 10.0)):
        parent = tracker.start(f"fm/{variant}", {"kind": "benchmark", "benchmark": "fm", "variant": variant})
        _child(tracker, parent, "teacher", "teacher", 0, variant, {"test_acc": 90.0 + shift})
        for seed in (0, 1):
            _child(tracker, parent, "shared", f"ta/seed{seed}", seed, variant, {"test_acc": 85.0 + seed})
            for i, method in enumerate(("kd", "annealing")):
                value = 80.0 + shift + seed + i
                metrics = {"test_acc": value, "val_acc_best": value - 1, "history": [70.0, value - 1]}
                _child(tracker, parent, "method", f"{method}/seed{seed}", seed, variant, metrics, method)
        # a failed run must be left out, whatever its numbers
        _child(tracker, parent, "method", "nokd/seed0", 0, variant, {"test_acc": 1.0}, "nokd", status="FAILED")
        tracker.end(parent)
    # a later invocation repeats kd seed 0 of "cpu" with other code: the latest counts
    parent = tracker.start("fm/cpu", {"kind": "benchmark", "benchmark": "fm", "variant": "cpu"})
    _child(
        tracker, parent, "method", "kd/seed0", 0, "cpu", {"test_acc": 79.5, "history": [60.0]}, "kd", commit="def456"
    )
    return uri


def test_runs_from_mlflow_are_tidy_finished_and_latest(store):
    df = runs_from_mlflow(store)
    assert list(df.columns[:8]) == ["benchmark", "variant", "dataset", "run", "seed", "metric", "git_commit", "source"]
    assert set(df["metric"]) == {"acc"}
    assert "nokd" not in set(df["run"])  # FAILED
    assert len(df) == 2 * (1 + 2 + 4)  # per variant: teacher, 2 TAs, 2 methods x 2 seeds
    by = df.set_index(["variant", "run", "seed"])
    assert by.loc[("cpu", "kd", 0), "test_acc"] == 79.5  # the repeat
    assert by.loc[("cpu", "kd", 0), "git_commit"] == "def456"
    assert by.loc[("cpu-equal", "annealing", 1), "test_acc"] == 92.0
    assert by.loc[("cpu", "ta", 1), "test_acc"] == 86.0
    assert set(df["dataset"]) == {"fashion-mnist"} and set(df["selection"]) == {"val"}
    assert by.loc[("cpu", "annealing", 0), "epochs"] == 15 and by.loc[("cpu", "kd", 0), "epochs"] == 10
    assert by.loc[("cpu", "teacher", 0), "epochs"] == 15
    assert "val_acc" not in df.columns and "phase" not in df.columns  # histories stay out


def test_runs_from_mlflow_select_by_variant_method_and_code_version(store):
    df = runs_from_mlflow(store, variants=["cpu-equal"], methods=["annealing"])
    assert sorted(df["test_acc"]) == [91.0, 92.0]
    old = runs_from_mlflow(store, variants=["cpu"], methods=["kd"], code_version="abc")
    assert old.set_index("seed").loc[0, "test_acc"] == 80.0  # the repeat was made by other code


def test_curves_from_mlflow(store):
    df = curves_from_mlflow(store, variants=["cpu"], methods=["annealing"])
    seed1 = df[df["seed"] == 1]
    assert seed1["step"].tolist() == [0, 1] and seed1["val_acc"].tolist() == [70.0, 81.0]
    assert seed1["phase"].tolist() == [1.0, 2.0]


def _write(folder, rows, summary=None, curves=None):
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / "runs.csv", index=False)
    if summary is not None:
        (folder / "summary.json").write_text(json.dumps(summary))
    if curves is not None:
        pd.DataFrame(curves).to_csv(folder / "curves.csv", index=False)


def test_runs_from_results_folders(tmp_path):
    root = tmp_path / "results"
    _write(
        root / "fm" / "cpu", [{"run": "kd", "seed": 0, "test_acc": 80.0}, {"run": "kd", "seed": 1, "test_acc": 81.0}]
    )
    summary = {"benchmark": "gm", "variant": "cpu", "data": {"dataset": "movies-sst2"}, "tags": {"git_commit": "c0"}}
    summary["metrics"] = {"reported": "f1", "selection": "f1"}
    summary["config"] = {"student_epochs": 4, "data": {"selection": "test"}}
    curves = [{"run": "kd", "seed": 0, "step": s, "val_acc": 50.0 + s} for s in range(3)]
    _write(root / "gm" / "cpu" / "movies-sst2", [{"run": "nokd", "seed": 0, "test_f1": 70.0}], summary, curves)
    # the table across tasks repeats the task folders' rows: not counted twice
    _write(root / "gm" / "cpu", [{"run": "nokd", "seed": 0, "test_f1": 70.0, "task": "movies-sst2", "metric": "f1"}])
    (root / "fm" / "cpu" / "sweep-tau_max").mkdir()
    df = runs_from_results(root)
    assert len(df) == 3
    gm = df[df["benchmark"] == "gm"].iloc[0]
    assert (gm["dataset"], gm["git_commit"], gm["test_f1"], gm["metric"]) == ("movies-sst2", "c0", 70.0, "f1")
    assert (gm["epochs"], gm["selection"]) == (4, "test")
    fm = df[df["benchmark"] == "fm"]
    assert set(fm["dataset"]) == {"fm"} and list(fm["seed"]) == [0, 1]  # no summary.json: named by its folder
    assert runs_from_results(root, benchmarks=["fm"], methods=["nokd"]).empty
    c = curves_from_results(root)
    assert c["step"].tolist() == [0, 1, 2] and set(c["variant"]) == {"cpu"}


def test_committed_results_load():
    """The committed results read without error, with the keys every notebook uses."""
    df = runs_from_results("results")
    assert {"fashion_mnist", "glue_mini"} <= set(df["benchmark"])
    assert not df.duplicated(["benchmark", "variant", "dataset", "run", "seed"]).any()


def test_a_config_that_was_not_recorded_gives_no_budget_not_the_defaults():
    from akd.records import recorded, run_epochs

    cfg, selection, compare = recorded({})  # a reused run's MLflow params hold its seed alone: nothing else
    assert cfg is None and math.isnan(run_epochs("annealing", cfg)) and compare == "annealing"
    cfg, _, _ = recorded({"student_epochs": 7, "methods": ["kd", "takd"], "ta_epochs": 3})
    assert run_epochs("takd", cfg) == 7 and run_epochs("ta", cfg) == 3


def test_a_teacher_ladders_rungs_are_told_from_a_profiles_own_variants():
    from akd.records import on_ladder

    variants = pd.Series(["study-gap-resnet8", "study-gap-resnet32", "study", "study-tuned", "cpu-equal-budget", "gap"])
    assert on_ladder(variants).tolist() == [True, True, False, False, False, False]


def test_code_is_dirty_for_a_changed_source_file_not_for_rewritten_results(tmp_path, monkeypatch):
    import subprocess

    from akd import provenance

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)  # fmt: skip

    (tmp_path / "results").mkdir()
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "results" / "summary.md").write_text("old\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "c")
    monkeypatch.setattr(provenance, "REPO_ROOT", tmp_path)
    assert provenance.git_state()["git_dirty"] == "false"
    (tmp_path / "results" / "summary.md").write_text("new\n")  # a run rewrote its own outputs
    assert provenance.git_state()["git_dirty"] == "false"
    (tmp_path / "code.py").write_text("x = 2\n")
    assert provenance.git_state()["git_dirty"] == "true"
