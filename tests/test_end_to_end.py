"""The smoke benchmark end to end: nested MLflow runs, metrics, summary, and a re-run that trains
nothing. On Fashion-MNIST fixtures in the real IDX format (every machine); the recorded numbers on
the real Fashion-MNIST (Debian's package) in the last test."""

import json

import pytest
from mlflow.tracking import MlflowClient

from akd.cli import main
from akd.fixtures import write_fashion_mnist
from tests.conftest import SMOKE_SIZES, write_cifar

pytestmark = pytest.mark.slow
FIDELITY = {"test_agreement", "test_kl_teacher"}


def _bench(tmp, *extra):
    args = [
        "bench",
        *extra,
        "--profile",
        "smoke",
        "--store-dir",
        str(tmp / "store"),
        "--results-dir",
        str(tmp / "results"),
        "--tracking-uri",
        f"sqlite:///{tmp / 'mlflow.db'}",
    ]
    assert main(args) == 0


def _runs(tmp, experiment):
    client = MlflowClient(f"sqlite:///{tmp / 'mlflow.db'}")
    exp = client.get_experiment_by_name(experiment)
    return client, client.search_runs([exp.experiment_id], max_results=1000)


@pytest.fixture(scope="module")
def fashion(tmp_path_factory):
    """The smoke profile on a Fashion-MNIST fixture (gzipped IDX files, torchvision's layout)."""
    tmp = tmp_path_factory.mktemp("fashion")
    write_fashion_mnist(tmp / "data", **SMOKE_SIZES)
    _bench(tmp, "fashion_mnist", "--data-dir", str(tmp / "data"), "--cache-dir", str(tmp / "cache"))
    return tmp


@pytest.fixture(scope="module")
def real_fashion(tmp_path_factory, real_fashion_mnist):
    tmp = tmp_path_factory.mktemp("real_fashion")
    # the four methods the golden numbers were recorded with
    _bench(tmp, "fashion_mnist", "--cache-dir", str(tmp / "cache"), "--methods", "nokd", "kd", "takd", "annealing")
    return tmp


def test_nested_runs_with_metrics_and_provenance(fashion):
    client, runs = _runs(fashion, "akd-fashion_mnist")
    parents = [r for r in runs if r.data.tags.get("kind") == "benchmark"]
    assert len(parents) == 1
    parent = parents[0]
    children = {r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    methods = ("nokd", "kd", "takd", "annealing", "ctkd", "dkd", "dist", "mse_logit", "ta")  # the profile's eight
    expected = {"teacher"} | {f"{m}/seed{s}" for m in methods for s in (0, 1)}
    assert set(children) == expected
    for run in children.values():
        assert run.info.status == "FINISHED"
        assert {"test_acc", "test_acc_last", "val_acc_best"} <= set(run.data.metrics)  # values: golden test
        tags = run.data.tags
        assert tags["benchmark"] == "fashion_mnist" and tags["profile"] == "smoke"
        assert tags["git_commit"] and tags["version.torch"] and "seed" in tags
        # the hardware decides the last bits: recorded beside the software
        assert tags["host.cpu"] and tags["device.name"] and int(tags["host.cpu_threads"]) >= 1
        assert tags["deterministic"] in ("true", "false") and tags["job_key"]
    ann = children["annealing/seed1"]
    assert ann.data.tags["method"] == "annealing" and ann.data.params["annealing.tau_max"] == "2"
    assert children["dkd/seed0"].data.params["dkd.beta"] == "8.0"  # a method's own settings, from its spec
    assert children["ctkd/seed0"].data.tags["method"] == "ctkd" and "temperature" in children["ctkd/seed0"].data.metrics
    scale = [m.value for m in client.get_metric_history(ann.info.run_id, "scale")]
    phase = [m.value for m in client.get_metric_history(ann.info.run_id, "phase")]
    val = client.get_metric_history(ann.info.run_id, "val_acc")
    assert scale == [0.5, 1.0]  # tau_max 2 over 2 phase-1 epochs
    assert sorted(phase) == [1.0, 1.0, 2.0] and [m.step for m in val] == [0, 1, 2]
    lr = [m.value for m in client.get_metric_history(ann.info.run_id, "lr")]
    # 2 epochs: both milestones (int(1.0), int(1.5)) fall on epoch 1; phase 2 starts afresh at 0.1
    assert lr == pytest.approx([0.1, 0.001, 0.1])
    artifacts = {a.path for a in client.list_artifacts(ann.info.run_id)}
    assert {"config.json", "history.json"} <= artifacts
    history = json.loads(open(client.download_artifacts(ann.info.run_id, "history.json")).read())
    assert len(history) == 3 and history[0]["temperature"] == 2.0


def test_experiment_opens_as_model_training_and_students_record_fidelity(fashion):
    """The experiment's kind makes MLflow's UI open its runs table (not the GenAI view); every
    student run records its agreement with the teacher and KL(teacher || student) on test, and
    runs carry the method tag the UI groups by (teacher and TA runs too)."""
    client, runs = _runs(fashion, "akd-fashion_mnist")
    exp = client.get_experiment_by_name("akd-fashion_mnist")
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    students = [r for r in runs if r.data.tags.get("kind") == "method"]
    assert len(students) == 16  # eight methods x 2 seeds
    for run in students:
        m = run.data.metrics
        assert FIDELITY <= set(m), run.info.run_name
        assert 0 <= m["test_agreement"] <= 100 and m["test_kl_teacher"] >= 0
    others = [r for r in runs if r.data.tags.get("kind") in ("teacher", "shared")]
    assert {r.data.tags["method"] for r in others} == {"teacher", "ta"}
    assert not any(FIDELITY & set(r.data.metrics) for r in others)


def test_teacher_forward_passes_are_counted_and_shared(fashion):
    """Per seed the teacher runs once per epoch used (epochs 0-1, by KD); the TA stage and
    Annealing-KD phase 1 read those epochs from the cache."""
    _, runs = _runs(fashion, "akd-fashion_mnist")
    (parent,) = [r for r in runs if r.data.tags.get("kind") == "benchmark"]
    assert parent.data.metrics["teacher_epochs_computed"] == 4  # 2 seeds x epochs {0, 1}
    # per seed: TA 1 + Annealing-KD 2 + CTKD, DKD, DIST and MSE-logit 2 each
    assert parent.data.metrics["teacher_epochs_cached"] == 2 * (1 + 2 + 4 * 2)
    assert parent.data.metrics["ta_epochs_computed"] == 4
    by_name = {r.info.run_name: r.data.metrics for r in runs}
    assert by_name["kd/seed0"]["teacher_forward_images"] == 2 * 512
    assert by_name["annealing/seed1"]["teacher_forward_images"] == 0
    assert by_name["annealing/seed1"]["teacher_epochs_cached"] == 2


def test_summary_table(fashion):
    folder = fashion / "results" / "fashion_mnist" / "smoke"
    import pandas as pd

    table = pd.read_csv(folder / "summary.csv")
    assert table["run"].tolist() == [
        "teacher",
        "ta",
        "nokd",
        "kd",
        "takd",
        "annealing",
        "ctkd",
        "dkd",
        "dist",
        "mse_logit",
    ]
    assert table.set_index("run").loc["kd", "n_seeds"] == 2
    runs = pd.read_csv(folder / "runs.csv")
    kd = runs[runs["run"] == "kd"]["test_acc"]
    assert table.set_index("run").loc["kd", "test_acc_mean"] == pytest.approx(kd.mean(), abs=1e-3)
    ann = runs[runs["run"] == "annealing"].iloc[0]
    # the row covers both phases: its time is their sum; its epoch counts phase 1's (2) before phase 2's
    assert ann["train_seconds"] == pytest.approx(ann["phase1.train_seconds"] + ann["phase2.train_seconds"], abs=2e-4)
    assert ann["best_epoch"] == 2 + ann["phase2.best_epoch"] == 2
    text = (folder / "summary.md").read_text()
    from akd.provenance import cpu_model

    assert f"Hardware: {cpu_model()}, " in text and "Reruns are bit-identical on the same hardware" in text
    summary = json.loads((folder / "summary.json").read_text())
    tags = summary["tags"]
    assert tags["host.cpu"] == cpu_model() and tags["deterministic"] == "false"
    # the plan's estimate beside the measured wall, for the runs this invocation trained
    assert summary["estimated_seconds"] > 0
    assert f"(the plan estimated {summary['estimated_seconds'] / 60:.1f}) on " in text
    assert "| Annealing-KD | resnet8 |" in text
    assert "Annealing-KD minus KD: " in text and "not distinguishable at 2 seeds" in text  # 2 seeds never decide
    assert "trained the student for 3 epochs, the other methods for 2" in text  # 2+1 vs 2
    assert "student resnet8 (2 ep; Annealing-KD 3 ep)" in text  # the header's budgets, from the specs' stages
    curves = pd.read_csv(folder / "curves.csv")  # per epoch, for the analysis figures
    ann = curves[(curves["run"] == "annealing") & (curves["seed"] == 1)]
    assert ann["step"].tolist() == [0, 1, 2] and ann["phase"].tolist() == [1, 1, 2]
    assert ann["temperature"].tolist()[:2] == [2.0, 1.0] and {"val_acc", "train_loss", "lr"} <= set(curves)
    assert len(curves[curves["run"] == "kd"]) == 2 * 2  # 2 seeds x 2 epochs


def test_second_invocation_trains_nothing_and_creates_no_run(fashion):
    """The same command again: every job is stored, so nothing trains, the command's parent run is
    continued (not duplicated) and no run is added; the summary's rows are the same."""
    folder = fashion / "results" / "fashion_mnist" / "smoke"
    before = (folder / "runs.csv").read_text()
    _, runs_before = _runs(fashion, "akd-fashion_mnist")
    _bench(fashion, "fashion_mnist", "--data-dir", str(fashion / "data"), "--cache-dir", str(fashion / "cache"))
    _, runs = _runs(fashion, "akd-fashion_mnist")
    assert sorted(r.info.run_id for r in runs) == sorted(r.info.run_id for r in runs_before)
    assert all(r.info.status == "FINISHED" for r in runs)
    assert (folder / "runs.csv").read_text() == before
    (parent,) = [r for r in runs if r.data.tags.get("kind") == "benchmark"]
    (earlier,) = [r for r in runs_before if r.data.tags.get("kind") == "benchmark"]
    # the command's totals cover the jobs it trained, in whichever attempt: none were added
    assert parent.data.metrics["teacher_epochs_computed"] == earlier.data.metrics["teacher_epochs_computed"] == 4


def test_cifar10_path_on_fixture_with_paper_column(tmp_path):
    write_cifar(tmp_path / "data", "cifar10", **SMOKE_SIZES)
    _bench(tmp_path, "cifar10", "--data-dir", str(tmp_path / "data"), "--seeds", "0", "--methods", "kd", "annealing")
    # fewer seeds and methods than the profile: a variant, so the profile's own summary is not overwritten
    assert not (tmp_path / "results" / "cifar10" / "smoke").exists()
    (folder,) = (tmp_path / "results" / "cifar10").glob("smoke-custom-*")
    text = (folder / "summary.md").read_text()
    assert "| KD | resnet8 |" in text and "| 88.45 |" in text and "| 89.44 |" in text
    assert "--methods kd annealing" in text  # the exact command that made it
    assert "TAKD" not in text.split("|---|")[1].split("\n\n")[0]


def test_user_named_teacher_and_ta_checkpoints_are_used_not_trained(tmp_path):
    import torch

    from akd.models import build_model

    write_cifar(tmp_path / "data", "cifar10", **SMOKE_SIZES)
    torch.manual_seed(0)
    torch.save(build_model("resnet14", 3, 10).state_dict(), tmp_path / "teacher.pt")
    torch.save({"state_dict": build_model("resnet8", 3, 10).state_dict()}, tmp_path / "ta.pt")
    _bench(
        tmp_path,
        "cifar10",
        "--data-dir",
        str(tmp_path / "data"),
        "--seeds",
        "0",
        "--methods",
        "takd",
        "--set",
        f"teacher_checkpoint={tmp_path / 'teacher.pt'}",
        "--set",
        f"ta_checkpoint={tmp_path / 'ta.pt'}",
    )
    client, runs = _runs(tmp_path, "akd-cifar10")
    by_name = {r.info.run_name: r for r in runs}
    for name in ("teacher", "ta/seed0"):
        assert by_name[name].data.tags["trained"] == "false"
        assert client.get_metric_history(by_name[name].info.run_id, "train_loss") == []
    assert len(client.get_metric_history(by_name["takd/seed0"].info.run_id, "train_loss")) == 2
    # nothing trained; each checkpoint is kept in the store with its accuracies, keyed by its bytes and the data
    from akd.store import ModelStore

    store = ModelStore(tmp_path / "store")
    for name, file in (("teacher", "teacher.pt"), ("ta/seed0", "ta.pt")):
        state, meta = store.load(by_name[name].data.tags["store_key"])
        assert meta["recipe"]["checkpoint"] == str(tmp_path / file) and "fingerprint" in meta["recipe"]["data"]
        assert meta["results"]["test_acc"] == by_name[name].data.metrics["test_acc"]
        original = torch.load(tmp_path / file)
        original = original.get("state_dict", original)
        assert all(torch.equal(state[k], original[k]) for k in original)


def test_smoke_numbers_unchanged_since_recorded(real_fashion):
    """Every final metric and per-epoch loss of the smoke benchmark equals the numbers recorded
    before the task refactor (issue 8), bit for bit, on the kind of machine that recorded them.
    Re-record deliberately with AKD_RECORD_GOLDEN=1 when a change is meant to alter results."""
    import os

    from tests import golden

    numbers = golden.smoke_numbers(f"sqlite:///{real_fashion / 'mlflow.db'}", "akd-fashion_mnist")
    if os.environ.get("AKD_RECORD_GOLDEN"):
        golden.record("fashion_mnist_smoke", numbers)
    expected = golden.recorded("fashion_mnist_smoke")
    if expected["machine"] != golden.machine():
        pytest.skip(f"recorded on {expected['machine']}, this is {golden.machine()}: float order differs")
    assert set(numbers) == set(expected["runs"])
    for run, recorded in expected["runs"].items():
        assert {k: numbers[run][k] for k in recorded} == recorded, run
        # metrics added since the recording: only the fidelity ones, and only on student runs
        assert set(numbers[run]) - set(recorded) == (FIDELITY if "/" in run and not run.startswith("ta/") else set())
