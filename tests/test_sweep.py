"""Sweeps: the MLflow tree, outputs, resuming, grids, the pruner's marks and --from-sweep."""

from __future__ import annotations

import csv
from pathlib import Path

import optuna
import pytest

import akd.sweep.study as study_module
from akd.cli import main
from akd.jobs import JobRunner
from tests.sweep_fixture import best, of_kind, runs, study, sweep_args, write_bench


class PruneTrialOne(optuna.pruners.BasePruner):
    """Prunes trial 1 after its first reported epoch, nothing else."""

    def prune(self, study, trial):  # noqa: ANN001
        return trial.number == 1 and bool(trial.intermediate_values)


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """3 trials, trial 1 pruned; then resumed to 5; then re-run at 5 (nothing to do)."""
    root = tmp_path_factory.mktemp("sweep")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.setattr(study_module, "pruner_for", lambda space, steps: PruneTrialOne())
        bench = write_bench(root)
        assert main(sweep_args(bench, "annealing", "--n-trials", "3")) == 0
        first = {r.info.run_id: r for r in of_kind(runs(), "trial")}
        states_first = [t.state.name for t in study("tiny-smoke-annealing").trials]
        assert main(sweep_args(bench, "annealing", "--n-trials", "5")) == 0
        after_resume = runs()
        assert main(sweep_args(bench, "annealing", "--n-trials", "5")) == 0
        final = runs()
    return {
        "root": root,
        "first": first,
        "states_first": states_first,
        "after_resume": after_resume,
        "final": final,
        "study": study("tiny-smoke-annealing", f"sqlite:///{root}/optuna.db"),
    }


def test_mlflow_tree_parent_and_one_child_per_trial(swept):
    assert swept["states_first"] == ["COMPLETE", "PRUNED", "COMPLETE"]
    parents = of_kind(swept["final"], "study")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    parent = parents[0].info.run_id
    trials = of_kind(swept["final"], "trial")
    assert sorted(int(r.data.tags["trial_number"]) for r in trials) == [0, 1, 2, 3, 4]
    assert all(r.data.tags["mlflow.parentRunId"] == parent for r in trials)
    pruned = [r for r in trials if r.data.tags["trial_state"] == "PRUNED"]
    assert [r.data.tags["trial_number"] for r in pruned] == ["1"] and pruned[0].info.status == "KILLED"
    done = [r for r in trials if r.data.tags["trial_state"] == "COMPLETE"]
    assert len(done) == 4 and all(r.info.status == "FINISHED" for r in done)
    for r in done:  # the sampled settings, the objective and per-epoch values
        assert {"annealing.tau_max", "annealing.phase1_epochs", "annealing.phase2_epochs"} <= set(r.data.params)
        assert "objective" in r.data.metrics and "test_acc_seed0" in r.data.metrics
        assert "objective" in r.data.metrics and r.data.metrics["objective"] == r.data.metrics["val_acc_best_seed0"]
    assert "best_objective" in parents[0].data.metrics
    assert any(k.startswith("best.annealing.") for k in parents[0].data.tags)


def test_resume_continues_to_the_count_without_repeats(swept):
    s = swept["study"]
    assert [t.number for t in s.trials] == [0, 1, 2, 3, 4]
    assert sum(t.state.name in ("COMPLETE", "PRUNED") for t in s.trials) == 5
    first_ids = set(swept["first"])
    resumed = {r.info.run_id for r in of_kind(swept["after_resume"], "trial")}
    assert first_ids < resumed and len(resumed) == 5  # the first three kept, two added
    assert {r.info.run_id for r in of_kind(swept["final"], "trial")} == resumed  # a finished sweep adds nothing
    assert len(swept["final"]) == len(swept["after_resume"])
    kinds = sorted(r.data.tags.get("kind") for r in swept["final"])
    assert kinds == ["study", "teacher"] + ["trial"] * 5  # a stored teacher is reused without a run of its own
    teachers = [r for r in of_kind(swept["final"], "teacher") if r.data.tags.get("trained") == "true"]
    assert len(teachers) == 1  # trained once, reused silently by every later trial and invocation


def test_outputs_written(swept):
    folder = swept["root"] / "results/tiny/smoke/sweep-annealing"
    for name in ("trials.csv", "best.json", "history.png", "history.pdf"):
        assert (folder / name).stat().st_size > 0, name
    rows = list(csv.DictReader((folder / "trials.csv").open()))
    assert [r["state"] for r in rows] == [t.state.name for t in swept["study"].trials]
    doc = best(folder)["methods"]["annealing"]
    complete = [t for t in swept["study"].trials if t.state.name == "COMPLETE"]
    top = max(complete, key=lambda t: t.value)
    assert doc["best"]["objective"] == top.value and doc["best"]["params"] == top.params
    assert doc["trials"] == {"complete": 4, "pruned": 1, "fail": 0}
    about = best(folder)
    assert len(about["provenance"]["git_commit"]) == 40 and "version.torch" in about["provenance"]
    assert about["command"].startswith("akd sweep")
    assert (folder / "history.pdf").read_bytes()[:4] == b"%PDF"


def test_from_sweep_runs_the_best_settings(swept, monkeypatch):
    from akd.cli import _config, build_parser

    monkeypatch.chdir(swept["root"])
    folder = swept["root"] / "results/tiny/smoke/sweep-annealing"
    args = build_parser().parse_args(["bench", str(swept["root"] / "tiny.toml"), "--from-sweep", str(folder)])
    cfg = _config(args)
    params = best(folder)["methods"]["annealing"]["best"]["params"]
    assert cfg.annealing.tau_max == params["annealing.tau_max"]
    assert cfg.annealing.phase1_epochs == params["annealing.phase1_epochs"]
    assert cfg.annealing.phase2_epochs == params["annealing.phase2_epochs"]
    assert cfg.variant == "smoke-sweep-annealing"
    other = 3 - params["annealing.tau_max"]  # 1 <-> 2
    args = build_parser().parse_args(
        ["bench", str(swept["root"] / "tiny.toml"), "--from-sweep", str(folder), "--set", f"annealing.tau_max={other}"]
    )
    assert _config(args).annealing.tau_max == other  # an explicit --set wins over the sweep's value


def test_grid_runs_every_point_and_seed_once(in_tmp, monkeypatch):
    bench = write_bench(in_tmp)
    trained: list[tuple] = []
    original = JobRunner.train_method

    def spy(self, job, teacher, reference=None):  # noqa: ANN001
        if job.run.kind == "method":  # the teacher trains through it too
            trained.append((self.cfg.annealing.tau_max, job.run.seed))
        return original(self, job, teacher, reference)

    monkeypatch.setattr(JobRunner, "train_method", spy)
    assert main(sweep_args(bench, "tau_max", "--seeds", "0", "1")) == 0
    assert sorted(trained) == [(1, 0), (1, 1), (2, 0), (2, 1)]
    assert main(sweep_args(bench, "tau_max", "--seeds", "0", "1")) == 0  # done: nothing runs again
    assert len(trained) == 4
    folder = in_tmp / "results/tiny/smoke/sweep-tau_max"
    rows = list(csv.DictReader((folder / "grid.csv").open()))
    assert sorted((int(r["annealing.tau_max"]), int(r["seed"])) for r in rows) == sorted(trained)
    table = (folder / "grid.md").read_text()
    assert "| 1 |" in table and "| 2 |" in table
    # seed k's epochs are logged (and reported to the pruner) at steps k * max_epochs + epoch: 3 epochs each
    from mlflow.tracking import MlflowClient

    trial_run = of_kind(runs(), "trial")[0].info.run_id
    history = MlflowClient(f"sqlite:///{in_tmp / 'mlflow.db'}").get_metric_history(trial_run, "val_acc")
    assert sorted(m.step for m in history) == [0, 1, 2, 3, 4, 5]
    assert (folder / "grid.png").exists() and (folder / "grid.pdf").exists()


def test_fair_space_tunes_each_method_with_the_same_budget(in_tmp, monkeypatch):
    import akd.sweep.trials as trials

    bench = write_bench(in_tmp)
    loads = []
    original = trials.load_task
    monkeypatch.setattr(trials, "load_task", lambda *a, **k: loads.append(1) or original(*a, **k))
    assert main(sweep_args(bench, "fair")) == 0
    assert len(loads) == 1  # the data are loaded once for every method's study
    for method in ("nokd", "kd"):
        s = study(f"tiny-smoke-fair-{method}")
        assert len([t for t in s.trials if t.state.name == "COMPLETE"]) == 2
    table = (in_tmp / "results/tiny/smoke/sweep-fair/table.md").read_text()
    assert "Each method tuned with 2 trials" in table
    assert "| nokd |" in table and "| kd |" in table


def test_phase1_loss_kl_trains_with_the_kl_objective(in_tmp):
    from akd.annealing import AnnealedKL
    from akd.benchfile import load_benchmark
    from akd.methods import build_stages

    bench = write_bench(in_tmp)
    cfg = load_benchmark(str(bench), "smoke", {"annealing": {"phase1_loss": "kl"}})
    stages = build_stages("annealing", cfg)
    assert isinstance(stages[0].objective, AnnealedKL)


def test_sweep_seeds_do_not_make_a_new_variant(in_tmp):
    bench = write_bench(in_tmp)
    assert main(sweep_args(bench, "tau_max", "--seeds", "1", "--n-trials", "1")) == 0
    assert (Path(in_tmp) / "results/tiny/smoke/sweep-tau_max/best.json").exists()


def test_two_local_workers_run_each_grid_point_once(in_tmp):
    bench = write_bench(in_tmp)
    assert main(sweep_args(bench, "tau_max", "--workers", "2")) == 0
    s = study("tiny-smoke-tau_max")
    done = [t for t in s.trials if t.state.name == "COMPLETE"]
    assert sorted(t.params["annealing.tau_max"] for t in done) == [1, 2]
    assert all(t.state.name != "RUNNING" for t in s.trials)
    rows = list(csv.DictReader((in_tmp / "results/tiny/smoke/sweep-tau_max/grid.csv").open()))
    assert sorted(int(r["annealing.tau_max"]) for r in rows) == [1, 2]
