"""The task contract: what the engine, the methods and the cache may ask of any data.

A :class:`Task` owns its splits and everything that depends on their kind:

- the training batches of an epoch, a pure function of (seed, epoch, sample index): the engine
  and the teacher-output cache both draw them from :meth:`Task.train_batches`, so a cached teacher
  saw exactly what a live one would;
- evaluation batches of a split, in sample order;
- a model built by name for a role (the outputs: classes, or one value for regression);
- its metrics as a dict, with one named *selection metric* (higher is better) that decides every
  best epoch and best checkpoint;
- its identity: what, besides a model's weights, changes that model's outputs on the training
  inputs (data fingerprint, normalisation, augmentation, tokenizer, ...).

Labels are int64 class indices (classification) or float targets (regression); the hard-label loss
follows from their dtype (:func:`akd.losses.hard_label_loss`). Model inputs are whatever the task's
models take (an image tensor, a dict of token tensors); the engine only passes them on.
Tasks register under a name in :data:`akd.registry.TASKS` as a :class:`TaskSpec`.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from akd.config import BenchConfig
from akd.registry import TASKS
from akd.tasks.metrics import Metric

SplitName = str  # "train", "val", "test", or one of a task's extra_test_splits
Inputs = Any  # a tensor, or a dict of tensors: whatever the task's models take
TrainBatch = tuple[torch.Tensor, Inputs, torch.Tensor]  # (sample indices, inputs, labels)


class Task(ABC):
    name: str
    num_outputs: int  # classes, or 1 for a regression task
    metrics_fns: dict[str, Metric]  # name -> metric; every one is reported
    selection_metric: str  # the metric every best-epoch decision maximises
    extra_test_splits: tuple[str, ...] = ()  # more reported splits (MNLI's mismatched dev set), never selected on
    submission_files: dict[str, str] = {}  # unlabelled split -> the benchmark server's file name (GLUE)
    fingerprint: str  # identifies the exact data and split
    source: str  # where the data were read from

    @property
    def report_metric(self) -> str:
        """The metric summary tables show (the paper's); the selection metric unless a task says otherwise."""
        return self.selection_metric

    @property
    def regression(self) -> bool:
        return self.num_outputs == 1

    @property
    @abstractmethod
    def augmented(self) -> bool:
        """True when a training input depends on the seed and epoch, not only on its sample."""

    @abstractmethod
    def size(self, split: SplitName) -> int: ...

    @abstractmethod
    def steps_per_epoch(self, batch_size: int) -> int: ...

    @abstractmethod
    def train_batches(self, seed: int, epoch: int, batch_size: int) -> Iterator[TrainBatch]: ...

    @abstractmethod
    def eval_batches(self, split: SplitName, batch_size: int) -> Iterator[tuple[Inputs, torch.Tensor]]: ...

    @abstractmethod
    def build_model(self, arch: str) -> nn.Module: ...

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """What changes a frozen model's outputs on the training inputs, besides its weights."""

    @abstractmethod
    def example_inputs(self, batch_size: int, device: torch.device) -> Inputs:
        """Random inputs of a training batch's shape (timing probes)."""

    def describe(self) -> str:
        return f"{self.name} read from {self.source or '?'} (fingerprint {self.fingerprint})"

    def submission_text(self, split: str, outputs: torch.Tensor) -> str:
        """A benchmark server's prediction file for an unlabelled split (see ``submission_files``)."""
        raise NotImplementedError(f"{self.name} has no server submission format")

    def metrics(self, outputs: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        return {name: fn(outputs, labels) for name, fn in self.metrics_fns.items()}


@dataclass(frozen=True)
class TaskSpec:
    """A registered task: how to load it, and the config checks that need no data."""

    load: Callable[[BenchConfig, torch.device], Task]
    check: Callable[[BenchConfig], None] = field(default=lambda cfg: None)


def load_task(cfg: BenchConfig, device: torch.device | str = "cpu") -> Task:
    spec: TaskSpec = TASKS.get(cfg.data.dataset)
    task = spec.load(cfg, torch.device(device))
    task.device = torch.device(device)
    task.teacher_data = task  # the split the teacher trains on (teacher_train_subset: see teacher_task)
    return task


def teacher_task(cfg: BenchConfig, task: Task) -> Task:
    """The task the teacher trains on: ``task`` itself, or, with ``teacher_train_subset`` set, the same
    data with the teacher's own training samples (the same validation and test splits, the same
    normalisation), loaded once per task object."""
    n = cfg.teacher_train_subset
    if n == -1 or n == cfg.data.train_subset:
        return task
    held = getattr(task, "teacher_data", task)
    if held is task or held.teacher_subset != n:
        own = copy.deepcopy(cfg)
        own.data.train_subset, own.teacher_train_subset = n, -1
        held = load_task(own, getattr(task, "device", "cpu"))
        held.teacher_subset = n
        task.teacher_data = held
    return held
