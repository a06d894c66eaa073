"""The plan's time estimate, computed by hand from fixed model speeds."""

from __future__ import annotations

import pytest
import torch

from akd import plan
from akd.config import BenchConfig, DataConfig
from akd.data import Split, SplitData
from akd.runtime import Runtime
from akd.store import ModelStore
from akd.tasks.image import ImageTask


def _data(n_train: int, n_val: int, n_test: int = 1) -> ImageTask:
    def split(n):
        return Split(torch.zeros(n, 1, 4, 4, dtype=torch.uint8), torch.zeros(n, dtype=torch.long))

    data = SplitData(split(n_train), split(n_val), split(n_test), 10, torch.zeros(1), torch.ones(1), "x")
    return ImageTask(DataConfig(), data)


@pytest.mark.parametrize("cache", [True, False])
def test_estimate_pays_each_teacher_epoch_once_with_the_cache(cache, monkeypatch, tmp_path):
    # train / inference images per second: student 100 / 200, teacher 10 / 50
    speeds = {"resnet8": (100.0, 200.0), "resnet14": (10.0, 50.0)}
    monkeypatch.setattr(plan, "_speeds", lambda arch, *args: speeds[arch])
    monkeypatch.setattr(plan, "RUN_OVERHEAD_S", 3.0)
    monkeypatch.setattr(plan, "EPOCH_OVERHEAD_S", 0.5)
    cfg = BenchConfig(teacher="resnet14", student="resnet8", teacher_epochs=1, student_epochs=4, seeds=[0])
    cfg.methods = ["kd", "annealing"]
    cfg.annealing.tau_max, cfg.annealing.phase1_epochs, cfg.annealing.phase2_epochs = 2, 3, 1
    cfg.cache.enabled = cache
    data = _data(n_train=1000, n_val=100, n_test=400)
    runs = plan.build_plan(cfg, data, ModelStore(tmp_path))
    seconds = plan.estimate_seconds(cfg, runs, data, Runtime(torch.device("cpu")))
    student_epoch = 1000 / 100 + 100 / 200 + 0.5  # train + validation + the epoch's bookkeeping: 11 s
    # the test split at the last epoch, and at the selected one in about half the runs: 1.5 passes, 3 s
    student_test = 1.5 * 400 / 200
    teacher_pass = 1000 / 50  # 20 s
    teacher_test = 400 / 50  # fidelity: the student's test outputs are at hand, the teacher's made once
    assert seconds["teacher"] == pytest.approx(3 + 1 * (1000 / 10 + 100 / 50 + 0.5) + 1.5 * 400 / 50)
    assert seconds["kd/seed0"] == pytest.approx(3 + 4 * (student_epoch + teacher_pass) + student_test + teacher_test)
    # phase 1 uses teacher epochs 0-2, which KD already paid for when the cache is on
    phase1_teacher = 0 if cache else 3 * teacher_pass
    assert seconds["annealing/seed0"] == pytest.approx(3 + 4 * student_epoch + 2 * student_test + phase1_teacher)


def test_without_augmentation_one_teacher_pass_is_paid_for(monkeypatch, tmp_path):
    speeds = {"resnet8": (100.0, 200.0), "resnet14": (10.0, 50.0)}
    monkeypatch.setattr(plan, "_speeds", lambda arch, *args: speeds[arch])
    monkeypatch.setattr(plan, "RUN_OVERHEAD_S", 0.0)
    monkeypatch.setattr(plan, "EPOCH_OVERHEAD_S", 0.0)
    cfg = BenchConfig(teacher="resnet14", student="resnet8", teacher_epochs=1, student_epochs=4, seeds=[0, 1])
    cfg.methods, cfg.cache.enabled = ["kd"], False
    task = _data(n_train=1000, n_val=100)
    task.cfg = DataConfig(pad=0, flip=False)
    seconds = plan.estimate_seconds(
        cfg, plan.build_plan(cfg, task, ModelStore(tmp_path)), task, Runtime(torch.device("cpu"))
    )
    student_epoch = 1000 / 100 + 100 / 200
    test = 1.5 / 200  # one test sample: at the last epoch, at the selected one in half the runs
    assert seconds["kd/seed0"] == pytest.approx(4 * student_epoch + 1000 / 50 + test + 1 / 50)  # the one pass
    assert seconds["kd/seed1"] == pytest.approx(4 * student_epoch + test)


def test_takds_student_learns_from_the_shared_ta_of_its_seed(tmp_path):
    cfg = BenchConfig(teacher="resnet14", ta="resnet8", student="resnet8", seeds=[0, 1], methods=["takd"])
    runs = {r.name: r for r in plan.build_plan(cfg, _data(n_train=100, n_val=10), ModelStore(tmp_path))}
    for seed in (0, 1):
        student, ta = runs[f"takd/seed{seed}"], runs[f"ta/seed{seed}"]
        assert student.recipe["stages"][0]["learns_from"] == ta.key != runs["teacher"].key
        assert ta.recipe["teacher"] == runs["teacher"].key


def test_every_methods_run_is_keyed_by_its_own_settings(tmp_path):
    cfg = BenchConfig(teacher="resnet14", student="resnet8", seeds=[0], methods=["dkd", "kd"])
    before = {r.name: r.key for r in plan.build_plan(cfg, _data(n_train=100, n_val=10), ModelStore(tmp_path))}
    cfg.dkd.beta = 2.0
    after = {r.name: r.key for r in plan.build_plan(cfg, _data(n_train=100, n_val=10), ModelStore(tmp_path))}
    assert before["dkd/seed0"] != after["dkd/seed0"] and before["kd/seed0"] == after["kd/seed0"]


class _ModeRecorder(torch.nn.Module):
    """Records, per forward pass, whether it ran in training mode and with gradients."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 2)
        self.modes: list[tuple[bool, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.modes.append((self.training, torch.is_grad_enabled()))
        return self.linear(x)


class _CountingTask:
    """A task whose batches hold fewer samples than asked for (a short last batch, a subset), and
    which records the batch sizes it was asked for."""

    name, num_outputs, regression = "counting", 2, False

    def __init__(self) -> None:
        self.asked: dict[str, set[int]] = {"train": set(), "val": set()}

    def build_model(self, arch: str) -> torch.nn.Module:
        model = _ModeRecorder()
        self.modes = model.modes
        return model.eval()  # as a pretrained text model loads

    def train_batches(self, seed: int, epoch: int, batch_size: int):
        self.asked["train"].add(batch_size)
        for _ in range(2):
            yield torch.arange(3), torch.randn(3, 4), torch.zeros(3, dtype=torch.long)

    def eval_batches(self, split: str, batch_size: int):
        self.asked[split].add(batch_size)
        yield torch.randn(5, 4), torch.zeros(5, dtype=torch.long)


def test_speeds_are_probed_on_the_tasks_own_batches_counting_their_samples(monkeypatch):
    # a clock that ticks one second per reading: a window of PROBE_CALLS (5) calls reads it after the
    # 5th call (one tick past the start, enough) and at its end: 2 seconds
    ticks = iter(range(1000))
    monkeypatch.setattr(plan.time, "perf_counter", lambda: float(next(ticks)))
    task = _CountingTask()
    optim = plan.OptimConfig(name="sgd", batch_size=8, eval_batch_size=64)
    train, infer = plan._probe("linear", task, 8, Runtime(torch.device("cpu")), optim)
    assert task.asked == {"train": {8}, "val": {64}}  # the run's batch sizes, train and evaluation
    # train steps in training mode (dropout on, as a run trains), inference in eval mode
    assert {training for training, grad in task.modes if grad} == {True}
    assert {training for training, grad in task.modes if not grad} == {False}
    assert plan.PROBE_CALLS == 5
    assert train == pytest.approx(3 * 5 / 2)  # 3 samples per batch, not the 8 asked for
    assert infer == pytest.approx(5 * 5 / 2)
