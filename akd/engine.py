"""The training loop: one function runs any stage of any method on any task.

It knows nothing of methods or task families: a :class:`~akd.methods.Stage` supplies the
objective, the :class:`~akd.tasks.base.Task` the batches, models' inputs and metrics, and the
optimiser recipe (:mod:`akd.optim`) comes fresh per stage from config. The engine feeds the
objective the model's outputs, the frozen teacher's outputs when the stage names a teacher (from a
:class:`~akd.teacher.FrozenLogits`, live or cached) and the labels. The best epoch is chosen on the
task's selection metric over the validation split (or over test under the official protocol,
``data.selection = "test"``, where the task's validation split is the test split).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from akd.checkpoint import rng_state, set_rng_state
from akd.config import OptimConfig
from akd.errors import Diverged
from akd.methods import Objective, Stage
from akd.optim import Recipe
from akd.runtime import Runtime
from akd.tasks.base import SplitName, Task
from akd.teacher import FrozenLogits

State = dict[str, torch.Tensor]
Metrics = dict[str, float]


def predict(model: nn.Module, task: Task, split: SplitName, batch_size: int, rt: Runtime) -> tuple:
    """A model's fp32 outputs on a split, in sample order, and the split's labels."""
    model.eval()
    outputs, labels = [], []
    with torch.inference_mode(), rt.autocast():
        for inputs, y in task.eval_batches(split, batch_size):
            outputs.append(model(rt.layout(inputs)).float())
            labels.append(y)
    return torch.cat(outputs), torch.cat(labels)


def evaluate(model: nn.Module, task: Task, split: SplitName, batch_size: int, rt: Runtime) -> Metrics:
    """Every metric of the task on a split (eval mode, inference mode, the run's layout and autocast)."""
    return task.metrics(*predict(model, task, split, batch_size, rt))


def train_epoch(
    forward: Callable,
    recipe: Recipe,
    objective: Objective,
    source: FrozenLogits | None,
    task: Task,
    seed: int,
    epoch: int,
    rt: Runtime,
) -> tuple[float, Metrics]:
    """One pass over the training split; returns (mean loss, the task's metrics on the batches seen).

    The hot path: inputs come from the task (device-resident, batched augmentation for images),
    the teacher's outputs from ``source`` (live or cached), and running sums stay on the device so
    nothing waits on the GPU until the epoch ends.
    """
    if source is not None:
        source.start_epoch(epoch)
    objective.start_epoch(epoch)
    batch_size = recipe.cfg.batch_size
    step = epoch * recipe.steps_per_epoch
    loss_sum, seen = None, 0
    outputs, targets = [], []
    for idx, x, y in task.train_batches(seed, epoch, batch_size):
        x = rt.layout(x)
        teacher_logits = source.batch(idx, x) if source is not None else None
        recipe.begin(step)
        objective.start_step(step)
        with rt.autocast():
            logits = forward(x).float()
            loss = objective.loss(logits, teacher_logits, y, epoch)
        loss.backward()
        recipe.step()
        batch_loss = loss.detach() * len(y)
        loss_sum = batch_loss if loss_sum is None else loss_sum + batch_loss
        outputs.append(logits.detach())
        targets.append(y)
        seen += len(y)
        step += 1
    if not outputs:
        return 0.0, {}
    return float(loss_sum) / seen, task.metrics(torch.cat(outputs), torch.cat(targets))


@dataclass
class StageResult:
    best_state: State
    best_epoch: int
    val_best: Metrics  # validation metrics at the selected epoch
    test: Metrics  # test metrics at the selected epoch
    test_last: Metrics
    val_last: Metrics
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    extra: dict[str, Metrics] = field(default_factory=dict)  # extra reported splits, at the selected epoch
    test_outputs: torch.Tensor | None = field(default=None, compare=False, repr=False)  # selected, fp32, on CPU

    def metrics(self) -> dict[str, float]:
        """The stage's flat record (see :func:`stage_metrics`), its selected epoch and its time."""
        record = stage_metrics(self.test, self.test_last, self.val_best, self.val_last)
        record |= {f"{split}_{m}": v for split, metrics in self.extra.items() for m, v in metrics.items()}
        return record | {"best_epoch": float(self.best_epoch), "train_seconds": self.seconds}


def stage_metrics(test: Metrics, test_last: Metrics, val_best: Metrics, val_last: Metrics) -> dict[str, float]:
    """One flat record: ``test_<m>``, ``test_<m>_last``, ``val_<m>_best``, ``val_<m>_last`` per metric."""
    out: dict[str, float] = {}
    for name in test:
        out[f"test_{name}"] = test[name]
        out[f"test_{name}_last"] = test_last[name]
        out[f"val_{name}_best"] = val_best[name]
        out[f"val_{name}_last"] = val_last[name]
    return out


def snapshot(model: nn.Module) -> State:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@dataclass
class StageJob:
    """What :func:`train_stage` trains: a stage, its model, its teacher's outputs, data, recipe and hooks.

    ``resume``: a state saved by an earlier process (see ``on_state``); training continues at its
    next epoch exactly as if it had never stopped. ``on_state`` is called after every epoch, before
    ``on_epoch`` (a checkpoint before the epoch is logged), with the epochs done and a function
    returning the complete training state (the caller decides whether to save it). ``on_epoch``
    gets each epoch's record (it may raise: a pruned trial).
    """

    stage: Stage
    model: nn.Module
    source: FrozenLogits | None
    task: Task
    optim: OptimConfig
    seed: int
    rt: Runtime
    on_epoch: Callable[[dict[str, float]], None] | None = None
    desc: str = ""
    resume: dict[str, Any] | None = None
    on_state: Callable[[int, Callable[[], dict[str, Any]]], None] | None = None


def train_stage(job: StageJob) -> StageResult:
    """Train ``job.model`` for the stage's epochs; leave it holding the epoch selected on validation.

    The stage's objective is trained as a copy (a stateful one's parameters start as the method
    built them on every attempt); its parameters join the stage's optimiser and its state the
    checkpoints.
    """
    stage, model, source, task, optim_cfg, seed, rt = (
        job.stage,
        job.model,
        job.source,
        job.task,
        job.optim,
        job.seed,
        job.rt,
    )
    desc, resume, on_state, on_epoch = job.desc, job.resume, job.on_state, job.on_epoch
    start = time.perf_counter()
    rt.place(model)
    forward = rt.forward_fn(model)
    objective = copy.deepcopy(stage.objective)
    objective.setup(task.num_outputs, rt.device)
    steps = task.steps_per_epoch(optim_cfg.batch_size)
    recipe = Recipe(optim_cfg, model, stage.epochs, steps, objective.parameters(), objective.lr_scale)
    key = task.selection_metric
    best_state, best_epoch, best_val = snapshot(model), -1, {key: -math.inf}
    history: list[dict[str, float]] = []
    val: Metrics = {}
    first, before = 0, 0.0  # the first epoch this process trains; seconds spent by earlier processes
    if resume is not None:
        model.load_state_dict(resume["model"])
        recipe.optimizer.load_state_dict(resume["optimizer"])
        objective.load_state_dict(resume.get("objective", {}))
        best_state, best_epoch, best_val = resume["best_state"], resume["best_epoch"], resume["best_val"]
        history, val, first, before = resume["history"], resume["val"], resume["epoch"], resume["seconds"]
        set_rng_state(resume["rng"])

    def state(epoch: int) -> dict[str, Any]:
        return {  # copies: the state stays as it is at this epoch whatever training does next
            "epoch": epoch,
            "model": snapshot(model),
            "optimizer": copy.deepcopy(recipe.optimizer.state_dict()),
            "objective": copy.deepcopy(objective.state_dict()),
            "best_state": best_state,
            "best_epoch": best_epoch,
            "best_val": dict(best_val),
            "history": list(history),
            "val": dict(val),
            "seconds": before + time.perf_counter() - start,
            "rng": rng_state(),
        }

    epochs = range(first, stage.epochs)
    bar = tqdm(
        epochs,
        desc=desc or stage.name,
        unit="epoch",
        leave=False,
        dynamic_ncols=True,
        initial=first,
        total=stage.epochs,
    )
    try:
        for epoch in bar:
            lr = recipe.lr_at(epoch * recipe.steps_per_epoch)
            model.train()
            train_loss, train_metrics = train_epoch(forward, recipe, objective, source, task, seed, epoch, rt)
            if not math.isfinite(train_loss):  # every later number would be chance accuracy
                raise Diverged(
                    f"{desc or stage.name}: training diverged (loss {train_loss} in epoch {epoch}); "
                    "lower optim.lr or check the teacher's outputs"
                )
            val = evaluate(model, task, "val", optim_cfg.eval_batch_size, rt)
            if val[key] > best_val[key]:
                best_state, best_epoch, best_val = snapshot(model), epoch, val
            record = {
                "epoch": float(epoch),
                "train_loss": train_loss,
                **{f"train_{k}": v for k, v in train_metrics.items()},
                **{f"val_{k}": v for k, v in val.items()},
                "lr": lr,
                **objective.epoch_metrics(epoch),
            }
            history.append(record)
            bar.set_postfix(loss=f"{train_loss:.3f}", val=f"{val[key]:.2f}")
            if on_state is not None:
                on_state(epoch + 1, lambda e=epoch + 1: state(e))
            if on_epoch is not None:
                on_epoch(record)  # may raise (a pruned trial): the bar still closes
    finally:
        bar.close()
    if not history:  # zero epochs: a model used as it is (a fine-tuned teacher), measured once
        val = best_val = evaluate(model, task, "val", optim_cfg.eval_batch_size, rt)
    outputs_last, labels = predict(model, task, "test", optim_cfg.eval_batch_size, rt)
    model.load_state_dict(best_state)  # the stage hands on its selected checkpoint
    # Where the selected epoch is the last one (about half the runs), its weights are the ones just
    # measured: one test pass, not two (on a small CPU student a test pass costs as much as 2 to 3
    # training epochs).
    selected_last = not history or best_epoch == int(history[-1]["epoch"])  # no epochs: as it came
    outputs = outputs_last if selected_last else predict(model, task, "test", optim_cfg.eval_batch_size, rt)[0]
    test_last, test_best = task.metrics(outputs_last, labels), task.metrics(outputs, labels)
    extra = {split: evaluate(model, task, split, optim_cfg.eval_batch_size, rt) for split in task.extra_test_splits}
    return StageResult(
        best_state=best_state,
        best_epoch=best_epoch,
        val_best=best_val if best_epoch >= 0 else val,
        test=test_best,
        test_last=test_last,
        val_last=val or best_val,
        history=history,
        seconds=before + time.perf_counter() - start,
        extra=extra,
        test_outputs=outputs.cpu(),
    )
