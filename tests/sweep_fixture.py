"""A tiny benchmark file with sweep spaces, on a CIFAR-10 fixture (a trial takes about a second)."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
from mlflow.tracking import MlflowClient

from akd.fixtures import write_cifar

SPACES = """
[sweeps.annealing]
method = "annealing"
params = { "annealing.tau_max" = [1, 2], "annealing.phase1_epochs" = [2, 3], "annealing.phase2_epochs" = [0, 1] }

[sweeps.tau_max]
method = "annealing"
grid = { "annealing.tau_max" = [1, 2] }

[sweeps.fair]
n_trials = 2
[sweeps.fair.methods]
nokd = { "optim.lr" = { low = 0.02, high = 0.2, log = true } }
kd = { "kd.temperature" = [1.0, 8.0] }
"""


def write_bench(root: Path, spaces: str = SPACES, name: str = "tiny", epochs: int = 2) -> Path:
    data = root / "data"
    if not (data / "cifar-10-batches-py").exists():
        write_cifar(data, "cifar10", n_train=1300, n_test=128)
    path = root / f"{name}.toml"
    path.write_text(
        f"""description = "sweep tests"
[defaults]
teacher = "resnet8"
ta = "resnet8"
student = "resnet8"
teacher_epochs = 1
ta_epochs = 1
student_epochs = {epochs}
seeds = [0, 1]
data = {{ dataset = "cifar10", data_dir = "{data}", train_subset = 256, val_subset = 128, test_subset = 128 }}
optim = {{ batch_size = 64 }}
annealing = {{ tau_max = 2, phase1_epochs = {epochs}, phase2_epochs = 1 }}

[profiles.smoke]
about = "tests"
"""
        + spaces
    )
    return path


def sweep_args(bench: Path, space: str, *more: str) -> list[str]:
    return ["sweep", str(bench), "--profile", "smoke", "--space", space, "--store-dir", "store", *more]


def runs(tracking: str | None = None, experiment: str = "akd-tiny") -> list:
    # absolute: MLflow caches a store per URI, so a relative one would keep reading the first test's file
    client = MlflowClient(tracking or f"sqlite:///{Path.cwd() / 'mlflow.db'}")
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], max_results=1000) if exp else []


def of_kind(all_runs: list, kind: str) -> list:
    return [r for r in all_runs if r.data.tags.get("kind") == kind]


def study(name: str, storage: str | None = None) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=storage or f"sqlite:///{Path.cwd() / 'optuna.db'}")


def best(folder: Path) -> dict:
    return json.loads((folder / "best.json").read_text())
