"""Tests that guard the science: each kills a one-line change that would silently corrupt results.

Checked by breaking the code on purpose (``nox -s mutants`` applies each change below in a copy of
the repository and runs these tests; every change must make at least one test fail):

1. ``evaluate()`` returns a constant                 -> test_evaluation_counts_correct_predictions
2. the best epoch is chosen on the test split         -> test_best_epoch_is_selected_on_validation_only
3. Annealing-KD's phase 2 starts from scratch         -> test_phase2_starts_from_phase1_selected_checkpoint
4. the phase-1 loss ignores the annealing scale       -> test_phase1_objective_applies_the_annealing_scale
5. the summary's verdict has the wrong sign        -> test_verdict_direction_and_noise_caveat
6. KD's two weights are passed swapped                -> test_kd_and_takd_objectives_weight_each_term_as_named
7. the stage hands on its last, not its selected, checkpoint -> test_best_epoch_is_selected_on_validation_only
8. the selected epoch's test number reuses the last epoch's pass
                                                      -> test_test_split_is_measured_again_only_where_...
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from akd.config import BenchConfig, DataConfig, comparison_pairs
from akd.data import SplitData
from akd.engine import StageJob, evaluate, train_stage
from akd.methods import HardLabels, Stage, build_stages
from akd.readers import Split
from akd.results import compare, verdict
from akd.runtime import Runtime
from akd.tasks.image import ImageTask

CPU = Runtime(torch.device("cpu"), channels_last=False)


def _images(n: int, first_pixel: list[int] | None = None) -> torch.Tensor:
    x = torch.zeros(n, 1, 2, 2, dtype=torch.uint8)
    if first_pixel is not None:
        x[:, 0, 0, 0] = torch.tensor(first_pixel, dtype=torch.uint8)
    return x


def _task(train: Split, val: Split, test: Split, classes: int) -> ImageTask:
    # mean 0 and std 255: a pixel of 255 becomes 1.0, 0 stays 0.0; no crop, no flip
    unit = torch.ones(1, 1, 1, 1)
    data = SplitData(train, val, test, classes, mean=0 * unit, std=255 * unit, fingerprint="hand")
    return ImageTask(DataConfig(pad=0, flip=False), data)


class FirstPixel(nn.Module):
    """Predicts class 1 when the first pixel is bright, class 0 otherwise."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bright = x[:, 0, 0, 0]
        return torch.stack([0.5 - bright, bright - 0.5], dim=1)


def test_evaluation_counts_correct_predictions():
    # predictions 1, 1, 0, 0, 1 against labels 1, 0, 0, 1, 1: 3 of 5 correct = 60 %,
    # counted across batches of 2 (2 + 1 + ... ) so the running sum must span batches
    split = Split(_images(5, [255, 255, 0, 0, 255]), torch.tensor([1, 0, 0, 1, 1]))
    flipped = Split(split.images, 1 - split.labels)
    task = _task(split, split, flipped, 2)
    assert evaluate(FirstPixel(), task, "val", 2, CPU) == {"acc": pytest.approx(60.0)}
    assert evaluate(FirstPixel(), task, "test", 2, CPU) == {"acc": pytest.approx(40.0)}


# The class a scripted model predicts for every input after each training epoch.
SCRIPT = [0, 1, 2]


class Scripted(nn.Module):
    """After training epoch e (counted by its training-mode calls) it predicts class SCRIPT[e]
    for every input. Its step count is a buffer, so loading a checkpoint restores that epoch."""

    def __init__(self, batches_per_epoch: int) -> None:
        super().__init__()
        self.batches_per_epoch = batches_per_epoch
        self.w = nn.Parameter(torch.zeros(()))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.steps += 1
        epoch = int(self.steps - 1) // self.batches_per_epoch
        logits = torch.zeros(len(x), len(SCRIPT))
        logits[:, SCRIPT[epoch]] = 5.0
        return logits + 0 * self.w


def test_best_epoch_is_selected_on_validation_only():
    # Validation favours epoch 1 (75 %); the test split favours epoch 0 (50 %); the last epoch is 2.
    train = Split(_images(8), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1]))
    val = Split(_images(4), torch.tensor([1, 1, 1, 0]))  # accuracy by epoch: 25, 75, 0
    test = Split(_images(6), torch.tensor([0, 0, 0, 2, 2, 1]))  # accuracy by epoch: 50, 16.7, 33.3
    task = _task(train, val, test, 3)
    cfg = BenchConfig()
    cfg.optim.batch_size = 4
    model = Scripted(batches_per_epoch=2)
    stage = Stage("main", "student", len(SCRIPT), HardLabels())
    result = train_stage(StageJob(stage, model, None, task, cfg.optim, 0, CPU))
    assert [h["val_acc"] for h in result.history] == pytest.approx([25.0, 75.0, 0.0])
    assert result.best_epoch == 1 and result.val_best == {"acc": pytest.approx(75.0)}
    assert result.test == {"acc": pytest.approx(100 / 6)}  # test accuracy AT the validation-selected epoch
    assert result.test_last == {"acc": pytest.approx(200 / 6)}
    assert result.val_last == {"acc": 0.0}
    assert result.metrics()["test_acc"] == pytest.approx(100 / 6) and result.metrics()["best_epoch"] == 1
    # the model hands on its selected checkpoint (phase 2 and stored teachers start from it)
    assert int(model.steps) == 2 * 2 and evaluate(model, task, "val", 4, CPU) == {"acc": pytest.approx(75.0)}


def _count_test_passes(task: ImageTask) -> list[str]:
    seen: list[str] = []
    inner = task.eval_batches

    def counted(split, batch_size):
        seen.append(split)
        return inner(split, batch_size)

    task.eval_batches = counted  # type: ignore[method-assign]
    return seen


@pytest.mark.parametrize("val_labels, best, passes", [([1, 1, 1, 0], 1, 2), ([2, 2, 2, 0], 2, 1)])
def test_test_split_is_measured_again_only_where_the_selected_epoch_is_not_the_last(val_labels, best, passes):
    """Selected epoch 1 of 3: the test split at the last epoch and at the selected one (two passes).
    Selected epoch 2, the last: its weights were just measured, one pass serves both numbers; the
    selected checkpoint's outputs (class SCRIPT[best] everywhere) are handed on for fidelity."""
    train = Split(_images(8), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1]))
    test = Split(_images(6), torch.tensor([0, 0, 0, 2, 2, 1]))  # accuracy by epoch: 50, 16.7, 33.3
    task = _task(train, Split(_images(4), torch.tensor(val_labels)), test, 3)
    splits = _count_test_passes(task)
    cfg = BenchConfig()
    cfg.optim.batch_size = 4
    stage = Stage("main", "student", 3, HardLabels())
    result = train_stage(StageJob(stage, Scripted(2), None, task, cfg.optim, 0, CPU))
    assert result.best_epoch == best and splits.count("test") == passes
    assert result.test == {"acc": pytest.approx([50.0, 100 / 6, 200 / 6][best])}
    assert result.test_last == {"acc": pytest.approx(200 / 6)}
    assert result.test_outputs is not None and result.test_outputs.argmax(1).tolist() == [SCRIPT[best]] * 6


def test_phase1_objective_applies_the_annealing_scale():
    cfg = BenchConfig()
    cfg.annealing.tau_max, cfg.annealing.phase1_epochs, cfg.annealing.phase2_epochs = 2, 4, 1
    phase1, phase2 = build_stages("annealing", cfg)
    s, t = torch.tensor([[1.0, 2.0]]), torch.tensor([[4.0, 4.0]])
    y = torch.tensor([0])
    # epochs 0-1: scale 1/2, target [2, 2], squared errors [1, 0] -> 0.5 (mean over classes)
    # epochs 2-3: scale 1, target [4, 4], squared errors [9, 4] -> 6.5
    got = [phase1.objective.loss(s, t, y, e).item() for e in range(4)]
    assert got == pytest.approx([0.5, 0.5, 6.5, 6.5])
    assert phase1.teacher == "teacher" and phase1.init == "scratch" and phase1.epochs == 4
    # phase 2: cross-entropy on the labels only, from phase 1's selected checkpoint, no teacher
    assert phase2.teacher is None and phase2.init == "previous" and phase2.epochs == 1
    ce = math.log(1 + math.exp(1.0))  # CE([1, 2], label 0) = log(e^1 + e^2) - 1
    assert phase2.objective.loss(s, None, y, 0).item() == pytest.approx(ce, rel=1e-6)


def test_kd_and_takd_objectives_weight_each_term_as_named():
    # T = 1: KL(p_t || p_s) = 0.130812 and CE = ln 2 (see test_losses); asymmetric weights
    s, t, y = torch.zeros(2, 2), torch.tensor([[math.log(3), 0.0]] * 2), torch.tensor([0, 0])
    kl, ce = 0.130812, math.log(2)
    cfg = BenchConfig()
    cfg.kd.temperature, cfg.kd.w_kd, cfg.kd.w_ce = 1.0, 0.8, 0.2
    (kd,) = build_stages("kd", cfg)
    assert kd.objective.loss(s, t, y, 0).item() == pytest.approx(0.8 * kl + 0.2 * ce, abs=1e-6)
    cfg.takd.ta.temperature, cfg.takd.ta.w_kd, cfg.takd.ta.w_ce = 1.0, 0.3, 0.7
    cfg.takd.student.temperature, cfg.takd.student.w_kd, cfg.takd.student.w_ce = 1.0, 0.6, 0.1
    ta, student = build_stages("takd", cfg)
    assert ta.objective.loss(s, t, y, 0).item() == pytest.approx(0.3 * kl + 0.7 * ce, abs=1e-6)
    assert student.objective.loss(s, t, y, 0).item() == pytest.approx(0.6 * kl + 0.1 * ce, abs=1e-6)
    assert (ta.trains, ta.teacher, student.trains, student.teacher) == ("ta", "teacher", "student", "ta")


def test_verdict_direction_and_noise_caveat():
    """The verdict is Annealing-KD minus each method, paired by seed, Holm-corrected across them:
    a large, consistent difference decides at 3 seeds (t test), a noisy one does not."""
    per_seed = {"nokd": [90.0, 91.0, 89.0], "kd": [70.0, 71.5, 70.5], "takd": [79.0, 81.5, 79.0]}
    per_seed["annealing"] = [80.0, 81.0, 79.5]
    rows = [{"run": run, "seed": s, "test_acc": v[s]} for run, v in per_seed.items() for s in range(3)]
    pairs = compare(rows, "acc", comparison_pairs("annealing", ["nokd", "kd", "takd", "annealing"]))
    lines = verdict(rows, "acc", pairs)
    assert [line.split(" [")[0] for line in lines] == [
        "Annealing-KD minus No-KD: \u22129.83 points",
        "Annealing-KD minus KD: +9.50 points",
        "Annealing-KD minus TAKD: +0.33 points",
    ]
    assert lines[0].endswith("Annealing-KD is worse.") and lines[1].endswith("Annealing-KD is better.")
    assert "not distinguishable at 3 seeds" in lines[2]
    assert "better on 0 of 3 seeds" in lines[0] and "better on 3 of 3 seeds" in lines[1]
    assert all("Holm-adjusted over 3 comparisons" in line for line in lines)


def test_phase2_starts_from_phase1_selected_checkpoint(tmp_path, monkeypatch):
    """Through the runner: phase 2's starting weights are phase 1's selected checkpoint, bit for
    bit, not a fresh student."""
    import akd.jobs
    from akd.cli import main
    from tests.conftest import write_cifar

    entries: list[tuple[str, dict, dict]] = []
    real = akd.jobs.train_stage

    def spy(job):
        start = {k: v.clone() for k, v in job.model.state_dict().items()}
        result = real(job)
        entries.append((job.stage.name, start, result.best_state))
        return result

    monkeypatch.setattr(akd.jobs, "train_stage", spy)
    write_cifar(tmp_path / "data", "cifar10", n_train=200, n_test=40)
    args = ["bench", "cifar10", "--profile", "smoke", "--data-dir", str(tmp_path / "data"), "--seeds", "0"]
    args += ["--methods", "annealing", "--no-cache", "--store-dir", str(tmp_path / "store")]
    args += ["--results-dir", str(tmp_path / "results"), "--tracking-uri", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    args += ["--set", "data.train_subset=0", "--set", "data.val_subset=0", "--set", "data.test_subset=0"]
    assert main(args) == 0
    stages = {name: (start, best) for name, start, best in entries}
    phase1_start, phase1_best = stages["phase1"]
    phase2_start, _ = stages["phase2"]
    assert all(torch.equal(phase2_start[k], phase1_best[k]) for k in phase1_best)
    assert not all(torch.equal(phase2_start[k], phase1_start[k]) for k in phase1_start)
