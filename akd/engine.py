"""The training loop: one function runs any stage of any method.

It knows nothing of methods: a :class:`~akd.methods.Stage` supplies the objective, and the engine
feeds it the student logits, the frozen teacher's logits when the stage names a teacher (from a
:class:`~akd.teacher.FrozenLogits`, live or cached), and the labels. A fresh SGD and step schedule
are made per stage; the best epoch is chosen on the validation split (or on test under the
official protocol, ``data.selection = "test"``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from akd.config import DataConfig, OptimConfig
from akd.data import Split, SplitData, normalize, train_batches
from akd.errors import AkdError
from akd.methods import Objective, Stage
from akd.runtime import Runtime
from akd.teacher import FrozenLogits

State = dict[str, torch.Tensor]


def step_lr(epoch: int, epochs: int, base_lr: float, milestones: list[float], gamma: float) -> float:
    """Learning rate at a 0-based epoch: ``base * gamma^k``, k = milestones passed.

    A milestone fraction f switches at epoch ``int(f * epochs)``: for 200 epochs and (0.5, 0.75),
    epochs 0-99 use 0.1, 100-149 use 0.01 and 150-199 use 0.001. A milestone never falls on
    epoch 0, so a one-epoch stage trains at the base rate.
    """
    passed = sum(epoch >= max(1, int(m * epochs)) for m in milestones)
    return base_lr * gamma**passed


def evaluate(model: nn.Module, split: Split, data: SplitData, batch_size: int, rt: Runtime) -> float:
    """Top-1 accuracy in percent (eval mode, inference mode, the run's layout and autocast)."""
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=split.labels.device)
    with torch.inference_mode(), rt.autocast():
        for i in range(0, len(split), batch_size):
            x = rt.layout(normalize(split.images[i : i + batch_size], data))
            correct += (model(x).argmax(1) == split.labels[i : i + batch_size]).sum()
    return 100.0 * int(correct) / max(1, len(split))


def train_epoch(
    forward: Callable[[torch.Tensor], torch.Tensor],
    opt: torch.optim.Optimizer,
    objective: Objective,
    source: FrozenLogits | None,
    data: SplitData,
    data_cfg: DataConfig,
    batch_size: int,
    seed: int,
    epoch: int,
    rt: Runtime,
) -> tuple[float, float]:
    """One pass over the training split; returns (mean loss, accuracy in percent).

    The hot path: inputs come from device-resident uint8 tensors with batched crop and flip, the
    teacher's logits from ``source`` (live or cached), and running sums stay on the device so
    nothing waits on the GPU until the epoch ends.
    """
    if source is not None:
        source.start_epoch(epoch)
    dev = data.train.labels.device
    loss_sum, correct, seen = torch.zeros((), device=dev), torch.zeros((), dtype=torch.long, device=dev), 0
    for idx, x, y in train_batches(data, data_cfg, seed, epoch, batch_size):
        x = rt.layout(x)
        teacher_logits = source.batch(idx, x) if source is not None else None
        with rt.autocast():
            logits = forward(x).float()
            loss = objective.loss(logits, teacher_logits, y, epoch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_sum += loss.detach() * len(y)
        correct += (logits.detach().argmax(1) == y).sum()
        seen += len(y)
    return float(loss_sum) / max(1, seen), 100.0 * int(correct) / max(1, seen)


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
    source: FrozenLogits | None,
    data: SplitData,
    data_cfg: DataConfig,
    optim_cfg: OptimConfig,
    seed: int,
    rt: Runtime,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    desc: str = "",
) -> StageResult:
    """Train ``model`` for the stage's epochs; leave it holding the epoch selected on validation."""
    start = time.perf_counter()
    rt.place(model)
    forward = rt.forward_fn(model)
    opt = torch.optim.SGD(
        model.parameters(),
        lr=optim_cfg.lr,
        momentum=optim_cfg.momentum,
        weight_decay=optim_cfg.weight_decay,
    )
    best_state, best_epoch, best_val = _snapshot(model), -1, -1.0
    history: list[dict[str, float]] = []
    bar = tqdm(range(stage.epochs), desc=desc or stage.name, unit="epoch", leave=False, dynamic_ncols=True)
    for epoch in bar:
        lr = step_lr(epoch, stage.epochs, optim_cfg.lr, optim_cfg.milestones, optim_cfg.gamma)
        for group in opt.param_groups:
            group["lr"] = lr
        model.train()
        train_loss, train_acc = train_epoch(
            forward, opt, stage.objective, source, data, data_cfg, optim_cfg.batch_size, seed, epoch, rt
        )
        if not math.isfinite(train_loss):  # every later number would be chance accuracy
            bar.close()
            raise AkdError(
                f"{desc or stage.name}: training diverged (loss {train_loss} in epoch {epoch}); "
                "lower optim.lr or check the teacher's outputs"
            )
        val_acc = evaluate(model, data.val, data, optim_cfg.eval_batch_size, rt)
        if val_acc > best_val:
            best_state, best_epoch, best_val = _snapshot(model), epoch, val_acc
        record = {
            "epoch": float(epoch),
            "train_loss": train_loss,
            "train_acc": train_acc,
            "val_acc": val_acc,
            "lr": lr,
            **stage.objective.epoch_metrics(epoch),
        }
        history.append(record)
        bar.set_postfix(loss=f"{train_loss:.3f}", val=f"{val_acc:.2f}")
        if on_epoch is not None:
            on_epoch(record)
    bar.close()
    test_last = evaluate(model, data.test, data, optim_cfg.eval_batch_size, rt)
    val_last = history[-1]["val_acc"] if history else best_val
    model.load_state_dict(best_state)  # the stage hands on its selected checkpoint
    test_best = evaluate(model, data.test, data, optim_cfg.eval_batch_size, rt)
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
