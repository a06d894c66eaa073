"""The method contract: a method declares stages; the engine runs them and never asks which method.

A :class:`Stage` says which role's model it trains (``student`` or ``ta``), from which role's
logits it learns (``teacher``, ``ta`` or none), for how many epochs, with which :class:`Objective`,
and whether it starts from scratch or from the previous stage's best checkpoint. A ``shared``
stage (TAKD's TA) is stored by its config and reused by every method and invocation that needs it.

A new method is one short file with a function decorated by :func:`register_method`, imported by
:mod:`akd.catalog` (built-in) or declared as an ``akd.plugins`` entry point (a package of yours).
Objectives see logits and labels only, never the task: :func:`akd.losses.hard_label_loss` reads
from the labels' dtype whether a batch is classification or regression.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch

from akd.config import BenchConfig
from akd.losses import hard_label_loss
from akd.registry import METHODS

Role = Literal["teacher", "ta", "student"]


class Objective:
    """The loss of one stage. ``teacher_logits`` is None unless the stage names a teacher role."""

    def loss(
        self,
        logits: torch.Tensor,
        teacher_logits: torch.Tensor | None,
        labels: torch.Tensor,
        epoch: int,
    ) -> torch.Tensor:
        raise NotImplementedError

    def epoch_metrics(self, epoch: int) -> dict[str, float]:
        """Per-epoch values worth tracking (e.g. Annealing-KD's temperature)."""
        return {}

    def describe(self) -> dict[str, Any]:
        return {"objective": type(self).__name__, **vars(self)}


class HardLabels(Objective):
    """The task's own loss on the labels: cross-entropy, or MSE for regression."""

    def loss(self, logits, teacher_logits, labels, epoch):  # noqa: ANN001
        return hard_label_loss(logits, labels)


@dataclass(frozen=True)
class Stage:
    name: str
    trains: Role  # whose model this stage trains
    epochs: int
    objective: Objective
    teacher: Role | None = None  # whose logits the objective consumes
    init: Literal["scratch", "previous"] = "scratch"  # "previous": the previous stage's selected checkpoint
    shared: bool = False  # stored by config and reused across methods and invocations


MethodBuilder = Callable[[BenchConfig], list[Stage]]


def register_method(name: str) -> Callable[[MethodBuilder], MethodBuilder]:
    return METHODS.register(name)


def build_stages(method: str, cfg: BenchConfig) -> list[Stage]:
    return METHODS.get(method)(cfg)
