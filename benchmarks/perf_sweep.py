"""The sweep runner's cost (``nox -s perf``, part ``trials``): what a study pays beyond its trials' training.

1. **Overhead**: a 12-trial Annealing-KD sweep (TPE, no pruner, one seed) on a CIFAR-100-shaped
   fixture, its teacher trained beforehand. The sweep's wall time (the whole command: data, study,
   MLflow, outputs and figures) against the sum of its trials' own ``train_seconds``, which include
   the teacher's passes over the training split (computed once per (seed, epoch) into the cache,
   then read). Goal: at most 1.15x.
2. **Workers**: an 8-point tau_max grid (identical work either way) run by 2 worker processes of
   one thread each against 1 worker with 2 threads.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import optuna

from akd.cli import main as akd

SPACES = """
[sweeps.annealing]
method = "annealing"
pruner = "none"
params = { "annealing.tau_max" = [1, 4], "annealing.phase1_epochs" = [4, 8], "annealing.phase2_epochs" = [0, 3] }

[sweeps.grid]
method = "annealing"
grid = { "annealing.tau_max" = [1, 2, 3, 4, 5, 6, 7, 8] }
"""


def _bench_file(workdir: Path, images: int) -> Path:
    path = workdir / "perfsweep.toml"
    path.write_text(
        f"""description = "nox -s perf: the sweep runner"
[defaults]
teacher = "resnet20"
student = "resnet8"
teacher_epochs = 2
student_epochs = 4
seeds = [0]
data = {{ dataset = "cifar100", data_dir = "{workdir / "data"}", train_subset = {images}, val_subset = 300 }}
annealing = {{ tau_max = 8, phase1_epochs = 8, phase2_epochs = 0 }}
[profiles.perf]
about = "perf"
"""
        + SPACES
    )
    return path


def _sweep(bench: Path, workdir: Path, space: str, name: str, *more: str) -> float:
    store = workdir / f"store-{name}"  # the teacher only: no sweep reuses another's trained seeds
    shutil.copytree(workdir / "store", store)
    args = ["sweep", str(bench), "--profile", "perf", "--space", space, "--study-name", name,
            "--storage", f"sqlite:///{workdir / 'optuna.db'}", "--tracking-uri", f"sqlite:///{workdir / 'mlflow.db'}",
            "--store-dir", str(store), "--cache-dir", str(workdir / "cache"),
            "--results-dir", str(workdir / "results"), *more]  # fmt: skip
    start = time.perf_counter()
    if akd(args) != 0:
        raise RuntimeError(f"akd {' '.join(args)} failed")
    return time.perf_counter() - start


def trials_timing(workdir: Path, images: int, log) -> dict:
    bench = _bench_file(workdir, images)
    tracking = f"sqlite:///{workdir / 'mlflow.db'}"
    teacher = ["bench", str(bench), "--profile", "perf", "--methods", "kd", "--tracking-uri", tracking,
               "--store-dir", str(workdir / "store"), "--cache-dir", str(workdir / "cache"),
               "--results-dir", str(workdir / "results")]  # fmt: skip
    if akd(teacher) != 0:  # the teacher, trained and stored before anything is timed
        raise RuntimeError("training the perf sweep's teacher failed")
    wall = _sweep(bench, workdir, "annealing", "overhead", "--n-trials", "12")
    study = optuna.load_study(study_name="overhead", storage=f"sqlite:///{workdir / 'optuna.db'}")
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    complete = len(done)
    # a trial that samples settings already trained reuses them: count each setting's training once
    done = list({tuple(sorted(t.params.items())): t for t in reversed(done)}.values())[::-1]
    train = sum(t.user_attrs["train_seconds"] for t in done)
    computed = sum(r.get("teacher_epochs_computed", 0) for t in done for r in t.user_attrs["per_seed"].values())
    span = (max(t.datetime_complete for t in done) - min(t.datetime_start for t in done)).total_seconds()
    log(f"sweep overhead: {len(done)} trials, wall {wall:.1f} s, trials' training {train:.1f} s")
    one = _sweep(bench, workdir, "grid", "grid-1x2", "--workers", "1", "--threads", "2")
    two = _sweep(bench, workdir, "grid", "grid-2x1", "--workers", "2")
    log(f"sweep workers: 1 worker x 2 threads {one:.1f} s, 2 workers x 1 thread {two:.1f} s")
    busy = {name: _trained(workdir, name) for name in ("grid-1x2", "grid-2x1")}
    return {
        "trials": complete,
        "distinct_settings": len(done),
        "wall_s": wall,
        "trials_span_s": span,
        "train_s": train,
        "teacher_epochs_computed": computed,
        "epochs_trained": sum(t.params["annealing.phase1_epochs"] + t.params["annealing.phase2_epochs"] for t in done),
        "wall_over_train": wall / train,
        "span_over_train": span / train,
        "grid_points": 8,
        "one_worker_two_threads_s": one,
        "two_workers_one_thread_s": two,
        "speedup_two_workers": one / two,
        # the trials' own training: 1 worker trains them one after another; 2 workers side by side
        "grid_train_1x2_s": busy["grid-1x2"],
        "grid_train_2x1_s": busy["grid-2x1"],
        "steady_speedup_two_workers": busy["grid-1x2"] / (busy["grid-2x1"] / 2),
    }


def _trained(workdir: Path, name: str) -> float:
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{workdir / 'optuna.db'}")
    return sum(t.user_attrs["train_seconds"] for t in study.trials if t.state.name == "COMPLETE")


def trials_lines(t: dict) -> list[str]:
    return [
        "",
        f"The sweep runner (`akd sweep`, one process per worker): a {t['trials']}-trial Annealing-KD sweep "
        f"({t['distinct_settings']} distinct settings, each trained once: a trial that samples settings already "
        f"trained reuses their stored seeds; {t['epochs_trained']} student epochs in all; the teacher's outputs "
        "computed for "
        f"{t['teacher_epochs_computed']:.0f} (seed, epoch) pairs, then read from the cache), "
        "teacher trained beforehand:",
        "",
        "| measure | seconds | / trials' training |",
        "|---|---:|---:|",
        f"| trials' own training (`train_seconds`, teacher passes included) | {t['train_s']:.1f} | 1.00 |",
        f"| first trial's start to last trial's end | {t['trials_span_s']:.1f} | {t['span_over_train']:.2f} |",
        f"| whole command (data, study, MLflow, tables, figures) | {t['wall_s']:.1f} | {t['wall_over_train']:.2f} |",
        "",
        f"An {t['grid_points']}-point grid (the same work either way): 1 worker with 2 threads "
        f"{t['one_worker_two_threads_s']:.1f} s, 2 workers with 1 thread each {t['two_workers_one_thread_s']:.1f} s "
        f"({t['speedup_two_workers']:.2f}x). Training alone (the trials' `train_seconds`: "
        f"{t['grid_train_1x2_s']:.1f} s one after another, against {t['grid_train_2x1_s']:.1f} s of worker time "
        f"shared by 2) runs {t['steady_speedup_two_workers']:.2f}x as fast with 2 workers; the rest is each worker's "
        "start-up (imports, data, study, MLflow), which a sweep of short trials pays in full.",
    ]
