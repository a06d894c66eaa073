"""The fault suite's rows: every bad input or fault a user can meet, with its expected exit code, the
words its one-line message must hold and words it must never hold. Run by tests/test_fault_table.py
through the CLI, each in a scratch folder; afterwards nothing may be half-written and the user's own
files are as they were. Add a row with every handler.

Two kinds of row: ``SURFACES`` use the user's own benchmark file (IDX, ImageFolder or TSV data, a
sweep, executors, trackers); ``INPUTS`` (settings, data files, checkpoints, outputs, services) run
the built-in ``cifar10`` benchmark on a CIFAR-10 fixture.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.fault_setups import (
    best_json,
    broken_toml,
    cache_under_a_file,
    clear_a_file,
    clear_a_repo,
    clear_the_store_root,
    crafted_pickle,
    data_dir_is_a_file,
    fashion_named_folder_is_empty,
    garbage_teacher,
    idx_task,
    idx_truncated,
    idx_wrong_magic,
    integer_teacher,
    nan_teacher,
    object_array_pickle,
    other_sqlite,
    png_task,
    results_under_a_file,
    store_under_a_file,
    truncated_pickle,
    tsv_task,
    user_file,
    wrong_arch_teacher,
    wrong_shape_pickle,
)


@dataclass
class Case:
    id: str
    setup: Callable[..., object] | None  # writes the files (fault_setups); returns the [task] table or arguments
    code: int
    words: tuple[str, ...]
    never: tuple[str, ...] = ()  # words the message must not hold
    text: bool = False  # a text task (a tiny BERT as every model)
    args: tuple[str, ...] = ()  # appended to the command
    command: str = "bench"  # or "sweep" (the space "lr" below)
    bench: str = "mine"  # the user's benchmark file, or "cifar10": the built-in on a CIFAR-10 fixture


PROFILE = """
[defaults]
teacher = "{teacher}"
ta = "{teacher}"
student = "{student}"
methods = ["nokd", "kd"]
{optim}

[profiles.smoke]
teacher_epochs = 1
student_epochs = 1
seeds = [0]
"""
IMAGES = {"teacher": "resnet8", "student": "resnet8", "optim": "optim = { batch_size = 8 }"}
SWEEP = '\n[sweeps.lr]\nmethod = "nokd"\ngrid = { "optim.lr" = [0.05, 0.1] }\n'
GOOD_IDX = lambda t: idx_task(t, np.arange(50) % 4)  # noqa: E731

SURFACES = [
    # resources: workers past the machine's cores or memory, refused before one starts
    Case(
        "pool workers 100",
        GOOD_IDX,
        2,
        ("--workers 100 is more than this machine holds", "AKD_MAX_WORKERS"),
        args=("--executor", "pool", "--workers", "100"),
    ),
    # a tracking store MLflow would fail on after minutes, refused at once (a dry run too)
    Case(
        "tracking store random bytes",
        lambda t: user_file(t, "mlflow.db", os.urandom(4096)) + GOOD_IDX(t),
        2,
        ("mlflow.db is not a SQLite database",),
        args=("--dry-run",),
    ),
    Case("tracking store a folder", lambda t: user_file(t, "mlflow.db/") + GOOD_IDX(t), 2, ("mlflow.db is a folder",)),
    Case(
        "tracking store another database",
        lambda t: user_file(t, "mlflow.db", other_sqlite()) + GOOD_IDX(t),
        2,
        ("a SQLite database of something else (tables: notes)",),
    ),
    # a best.json from anyone: its shape checked, and it never moves the data
    Case(
        "best.json params a list",
        lambda t: best_json(t, [["optim.lr", 0.1]]) + GOOD_IDX(t),
        2,
        ("nokd's best params are a list, not settings",),
        args=("--from-sweep", "best.json"),
    ),
    Case(
        "best.json moves the data",
        lambda t: best_json(t, {"data.data_dir": "/elsewhere"}) + GOOD_IDX(t),
        2,
        ("data.data_dir is not a setting a sweep chooses",),
        args=("--from-sweep", "best.json"),
    ),
    # the executor checked first, a dry run included
    Case(
        "slurm without slurm",
        GOOD_IDX,
        2,
        ("--executor slurm: sbatch and srun not found",),
        args=("--executor", "slurm"),
    ),
    Case(
        "slurm without slurm, dry run",
        GOOD_IDX,
        2,
        ("sbatch and srun not found",),
        args=("--executor", "slurm", "--dry-run"),
    ),
    Case(
        "sweep workers 100",
        lambda t: GOOD_IDX(t) + SWEEP,
        2,
        ("--workers 100 is more than this machine holds",),
        args=("--space", "lr", "--workers", "100"),
        command="sweep",
    ),
    # silent nonsense: a scored split of one class reports 100 %
    Case("idx one class", lambda t: idx_task(t, np.zeros(50, np.uint8)), 2, ("train split holds one class",)),
    Case("image folder one class", lambda t: png_task(t, ("cat",)), 2, ("holds one class", "label 0")),
    Case("idx without images", lambda t: idx_task(t, np.zeros(0, np.uint8)), 2, ("train-images holds no images",)),
    # advice that loses data: the files are the user's own
    Case(
        "user idx truncated",
        lambda t: idx_task(t, np.arange(50) % 4, cut=7),
        2,
        ("truncated", "akd never deletes your data"),
        ("delete them", "delete it"),
    ),
    # labels parsed and checked at load, not found when training diverges
    Case(
        "regression label a word",
        lambda t: tsv_task(t, lambda i: "high" if i == 3 else "0.5", 1, '["pearson"]'),
        2,
        ("label 'high' of example 4", "is not a finite number"),
        text=True,
    ),
    Case(
        "regression label nan",
        lambda t: tsv_task(t, lambda i: "nan" if i == 5 else str(i / 10), 1, '["pearson"]'),
        2,
        ("label 'nan' of example 6", "is not a finite number"),
        text=True,
    ),
    Case(
        "class label a word without label_names",
        lambda t: tsv_task(t, lambda i: "pos" if i % 2 else "neg", 2, '["acc"]'),
        2,
        ("label 'neg' of example 1", "declare label_names"),
        text=True,
    ),
    Case(
        "text one class",
        lambda t: tsv_task(t, lambda i: "1", 2, '["acc"]'),
        2,
        ("holds one class",),
        text=True,
    ),
    # a metric that cannot apply, found before the teacher trains
    Case(
        "binary f1 on three classes",
        lambda t: tsv_task(t, lambda i: str(i % 3), 3, '["acc", "f1"]'),
        2,
        ("[task] metric f1 is the F1 of class 1 of two", "f1_macro"),
        text=True,
    ),
    Case(
        "pearson on classes",
        lambda t: tsv_task(t, lambda i: str(i % 2), 2, '["pearson"]'),
        2,
        ("pearson scores real values",),
        text=True,
    ),
]


def given(id: str, args: list[str], words: str, setup: Callable[[Path, Path], list[str]] | None = None) -> Case:
    """A row of the built-in benchmark: exit 2, its arguments (``<replace>`` first: the whole command)."""
    return Case(id, setup, 2, (words,), args=tuple(args), bench="cifar10")


S = "--set"
INPUTS = [
    # settings: type, finiteness, range
    given("lr-nan", [S, "optim.lr=nan"], "optim.lr='nan' must be a finite number"),
    given("lr-inf", [S, "optim.lr=inf"], "optim.lr='inf' must be a finite number"),
    given("lr-zero", [S, "optim.lr=0"], "optim.lr must be > 0"),
    given("gamma-nan", [S, "optim.gamma=nan"], "optim.gamma='nan' must be a finite number"),
    given("gamma-zero", [S, "optim.gamma=0"], "optim.gamma (the learning-rate decay factor) must be in (0, 1]"),
    given("kd-temperature-nan", [S, "kd.temperature=nan"], "kd.temperature='nan' must be a finite"),
    given("kd-temperature-inf", [S, "kd.temperature=inf"], "kd.temperature='inf' must be a finite"),
    given("kd-weights-zero", [S, "kd.w_kd=0", S, "kd.w_ce=0"], "kd.w_kd and kd.w_ce are both 0"),
    given("takd-temperature-negative", [S, "takd.ta.temperature=-1"], "takd.ta.temperature must be > 0"),
    given("batch-size-1", [S, "optim.batch_size=1"], "optim.batch_size must be >= 2"),
    given("eval-batch-0", [S, "optim.eval_batch_size=0"], "optim.eval_batch_size must be >= 1"),
    given("momentum-negative", [S, "optim.momentum=-0.9"], "optim.momentum must be in [0, 1)"),
    given("weight-decay-negative", [S, "optim.weight_decay=-1e-4"], "optim.weight_decay must be >= 0"),
    given("milestones-unsorted", [S, "optim.milestones=0.75,0.5"], "optim.milestones must be increasing"),
    given("pad-negative", [S, "data.pad=-1"], "data.pad must be in 0..16"),
    given("subset-negative", [S, "data.train_subset=-5"], "data.train_subset (0 = all) must be >= 0"),
    given("val-fraction-nan", [S, "data.val_fraction=nan"], "data.val_fraction='nan' must be a finite"),
    given("selection-unknown", [S, "data.selection=train"], "data.selection must be 'val' or 'test'"),
    given("dataset-unknown", [S, "data.dataset=imagenet"], "unknown dataset 'imagenet'"),
    given("flip-not-bool", [S, "data.flip=maybe"], "data.flip='maybe' is not a valid bool"),
    given("epochs-fractional", [S, "teacher_epochs=2.5"], "teacher_epochs='2.5' is not a valid int"),
    given("epochs-zero", [S, "student_epochs=0"], "student_epochs must be >= 1"),
    given("phase2-negative", [S, "annealing.phase2_epochs=-1"], "annealing.phase2_epochs must be >= 0"),
    given("mse-reduction", [S, "annealing.mse_reduction=median"], "mse_reduction must be 'mean' or 'sum'"),
    given("cache-max-gb-nan", [S, "cache.max_gb=nan"], "cache.max_gb='nan' must be a finite"),
    given("cache-dtype", [S, "cache.dtype=int8"], "cache.dtype must be 'float32' or 'float16'"),
    given("unknown-setting", [S, "optim.lrr=0.1"], "unknown setting 'optim.lrr'; known: name, lr, momentum"),
    given("threads-negative", ["--threads", "-1"], "threads must be >= 0"),
    given("device-unknown", ["--device", "tpu"], "unknown device 'tpu'"),
    given("seeds-repeated", ["--seeds", "0", "0"], "seeds repeats 0"),
    given("seed-negative", ["--seeds", "-1"], "every seed must be >= 0"),
    given("methods-repeated", ["--methods", "kd", "kd"], "methods repeats kd"),
    # where results go
    given("label-climbs-to-profile", ["--label", "/../smoke"], "label '/../smoke' is not a safe name"),
    given("label-escapes", ["--label", "/../../../../x"], "is not a safe name"),
    given("benchmark-set", [S, "benchmark=cifar100"], "setting benchmark cannot be changed"),
    given("paper-table-of-other-data", [S, "paper_table=cifar100"], "'cifar100' has no numbers for 'cifar10'"),
    given("benchmark-path", ["<replace>", "bench", "../cifar10"], "benchmark '../cifar10' is not a safe name"),
    given("profile-unknown", ["--profile", "../x"], "has no profile '../x'"),
    given("benchmark-toml-broken", [], "is not valid TOML", broken_toml),
    # data
    given("train-subset-1", [S, "data.train_subset=1"], "a training step needs at least 2"),
    given("subset-too-large", [S, "data.train_subset=100000"], "data.train_subset=100000 exceeds the"),
    given("data-truncated", [], "data_batch_3 is corrupt or not a CIFAR file", truncated_pickle),
    given("data-crafted-pickle", [], "which a CIFAR file never holds", crafted_pickle),
    given("data-object-array", [], "object array, which a CIFAR file never holds", object_array_pickle),
    given("data-wrong-shape", [], "has no uint8 'data' array of shape [N, 3072]", wrong_shape_pickle),
    given("data-dir-is-a-file", [], "data.txt is a file, not a folder", data_dir_is_a_file),
    given("idx-wrong-magic", [], "is not an IDX file of the expected kind", idx_wrong_magic),
    given("idx-truncated", [], "are truncated or do not match", idx_truncated),
    given("fashion-named-folder-missing", [], "fashion_mnist is not in", fashion_named_folder_is_empty),
    # checkpoints
    given("teacher-nan", [], "fc.weight holds NaN or infinite values", nan_teacher),
    given("teacher-integer", [], "holds torch.int64 values where torch.float32 belong", integer_teacher),
    given("teacher-garbage", [], "teacher.pt is corrupt or not a torch file", garbage_teacher),
    given("teacher-wrong-architecture", [], "does not fit the configured architecture", wrong_arch_teacher),
    given("teacher-missing", [S, "teacher_checkpoint=/no/such.pt"], "teacher_checkpoint /no/such.pt does not exist"),
    # outputs and services
    given("results-under-a-file", [], "afile is not a folder", results_under_a_file),
    given(
        "results-read-only-fs", ["--results-dir", "/proc/akd"], "results folder /proc/akd/cifar10/smoke is not writable"
    ),
    given("store-under-a-file", [], "model store", store_under_a_file),
    given("cache-under-a-file", [], "teacher-output cache", cache_under_a_file),
    given("tracking-unknown-scheme", ["--tracking-uri", "foo://bar"], "has unknown scheme 'foo'"),
    given("tracking-no-scheme", ["--tracking-uri", "mlruns"], "has no scheme"),
    given("tracking-unreachable", ["--tracking-uri", "http://127.0.0.1:9"], "is not reachable"),
    given("tracking-read-only", ["--tracking-uri", "sqlite:////proc/akd/mlflow.db"], "MLflow store folder"),
    given("cache-clear-a-repo", [], "is not a teacher-output cache", clear_a_repo),
    given("cache-clear-store-root", [], "is not a teacher-output cache", clear_the_store_root),
    given("cache-clear-a-file", [], "afile is a file, not a teacher-output cache", clear_a_file),
]
CASES = SURFACES + INPUTS
