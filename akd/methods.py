"""The method contract: a method declares stages; the engine runs them and never asks which method.

A :class:`Stage` says which role's model it trains (``student`` or ``ta``), from which role's
logits it learns (``teacher``, ``ta`` or none), for how many epochs, with which :class:`Objective`,
and whether it starts from scratch or from the previous stage's best checkpoint. A ``shared``
stage (TAKD's TA) is stored by its config and reused by every method and invocation that needs it.

A new method is one short file with a function decorated by :func:`register_method`, plus its
import in ``baselines/__init__.py`` (or ``akd/__init__.py`` for the suite's own methods).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from akd.config import BenchConfig
from akd.errors import AkdError


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


class CrossEntropy(Objective):
    def loss(self, logits, teacher_logits, labels, epoch):  # noqa: ANN001
        return F.cross_entropy(logits, labels)


@dataclass(frozen=True)
class Stage:
    name: str
    trains: str  # role whose model this stage trains: "student" or "ta"
    epochs: int
    objective: Objective
    teacher: str | None = None  # role whose logits the objective consumes
    init: str = "scratch"  # "scratch" or "previous" (best checkpoint of the previous stage)
    shared: bool = False  # stored by config and reused across methods and invocations


MethodBuilder = Callable[[BenchConfig], list[Stage]]
_METHODS: dict[str, MethodBuilder] = {}


def register_method(name: str) -> Callable[[MethodBuilder], MethodBuilder]:
    def deco(fn: MethodBuilder) -> MethodBuilder:
        _METHODS[name] = fn
        return fn

    return deco


def _load_all() -> None:
    import akd.annealing  # noqa: F401
    import baselines  # noqa: F401


def available_methods() -> list[str]:
    _load_all()
    return list(_METHODS)


def build_stages(method: str, cfg: BenchConfig) -> list[Stage]:
    _load_all()
    if method not in _METHODS:
        raise AkdError(f"unknown method {method!r}; choose from: {', '.join(_METHODS)}")
    return _METHODS[method](cfg)
