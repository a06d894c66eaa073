"""The training loop: one function runs any stage of any method.

It knows nothing of methods: a :class:`~akd.methods.Stage` supplies the objective, and the engine
feeds it the student logits, the (frozen) teacher logits when the stage names a teacher, and the
labels. A fresh SGD and step schedule are made per stage; the best epoch is chosen on the
validation split (or on test under the official protocol, ``data.selection = "test"``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from akd.config import DataConfig, OptimConfig
from akd.data import Split, SplitData, augment, epoch_plan, normalize
from akd.methods import Stage

State = dict[str, torch.Tensor]


def step_lr(epoch: int, epochs: int, base_lr: float, milestones: list[float], gamma: float) -> float:
    """Learning rate at a 0-based epoch: ``base * gamma^k``, k = milestones passed.

    A milestone fraction f switches at epoch ``int(f * epochs)``: for 200 epochs and (0.5, 0.75),
    epochs 0-99 use 0.1, 100-149 use 0.01 and 150-199 use 0.001. A milestone never falls on
    epoch 0, so a one-epoch stage trains at the base rate.
    """
    passed = sum(epoch >= max(1, int(m * epochs)) for m in milestones)
    return base_lr * gamma**passed


@torch.no_grad()
def evaluate(model: nn.Module, split: Split, data: SplitData, batch_size: int) -> float:
    """Top-1 accuracy in percent."""
    model.eval()
    correct = 0
    for i in range(0, len(split), batch_size):
        x = normalize(split.images[i : i + batch_size], data)
        correct += int((model(x).argmax(1) == split.labels[i : i + batch_size]).sum())
    return 100.0 * correct / max(1, len(split))


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, data: SplitData) -> torch.Tensor:
    model.eval()
    return model(normalize(images, data))


def batches(n: int, seed: int, epoch: int, data_cfg: DataConfig, batch_size: int):
    """Yield (indices, shifts, flips) per batch; all a pure function of (seed, epoch, index)."""
    plan = epoch_plan(n, seed, epoch, data_cfg.pad)
    flips = plan.flips if data_cfg.flip else torch.zeros_like(plan.flips)
    for i in range(0, n, batch_size):
        idx = plan.order[i : i + batch_size]
        if len(idx) < 2:  # BatchNorm cannot train on a single sample
            continue
        yield idx, plan.shifts[idx], flips[idx]


@dataclass
class StageResult:
    best_state: State
    best_epoch: int
    best_val_acc: float
    test_acc: float  # at the best validation epoch
    test_acc_last: float
    val_acc_last: float
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def _snapshot(model: nn.Module) -> State:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def train_stage(
    stage: Stage,
    model: nn.Module,
    teacher: nn.Module | None,
    data: SplitData,
    data_cfg: DataConfig,
    optim_cfg: OptimConfig,
    seed: int,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    desc: str = "",
) -> StageResult:
    start = time.perf_counter()
    opt = torch.optim.SGD(
        model.parameters(),
        lr=optim_cfg.lr,
        momentum=optim_cfg.momentum,
        weight_decay=optim_cfg.weight_decay,
    )
    if teacher is not None:
        teacher.eval()
    best_state, best_epoch, best_val = _snapshot(model), -1, -1.0
    history: list[dict[str, float]] = []
    n = len(data.train)
    bar = tqdm(range(stage.epochs), desc=desc or stage.name, unit="epoch", leave=False, dynamic_ncols=True)
    for epoch in bar:
        lr = step_lr(epoch, stage.epochs, optim_cfg.lr, optim_cfg.milestones, optim_cfg.gamma)
        for group in opt.param_groups:
            group["lr"] = lr
        model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        for idx, shifts, flips in batches(n, seed, epoch, data_cfg, optim_cfg.batch_size):
            idx = idx.to(data.train.images.device)
            x = normalize(augment(data.train.images[idx], shifts, flips, data_cfg.pad), data)
            y = data.train.labels[idx]
            teacher_logits = None
            if teacher is not None:
                with torch.no_grad():
                    teacher_logits = teacher(x)
            logits = model(x)
            loss = stage.objective.loss(logits, teacher_logits, y, epoch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
        val_acc = evaluate(model, data.val, data, optim_cfg.eval_batch_size)
        if val_acc > best_val:
            best_state, best_epoch, best_val = _snapshot(model), epoch, val_acc
        record = {
            "epoch": float(epoch),
            "train_loss": loss_sum / max(1, seen),
            "train_acc": 100.0 * correct / max(1, seen),
            "val_acc": val_acc,
            "lr": lr,
            **stage.objective.epoch_metrics(epoch),
        }
        history.append(record)
        bar.set_postfix(loss=f"{record['train_loss']:.3f}", val=f"{val_acc:.2f}")
        if on_epoch is not None:
            on_epoch(record)
    bar.close()
    test_last = evaluate(model, data.test, data, optim_cfg.eval_batch_size)
    val_last = history[-1]["val_acc"] if history else best_val
    model.load_state_dict(best_state)  # the stage hands on its selected checkpoint
    test_best = evaluate(model, data.test, data, optim_cfg.eval_batch_size)
    return StageResult(
        best_state=best_state,
        best_epoch=best_epoch,
        best_val_acc=best_val,
        test_acc=test_best,
        test_acc_last=test_last,
        val_acc_last=val_last,
        history=history,
        seconds=time.perf_counter() - start,
    )
