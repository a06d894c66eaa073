"""Fidelity beside accuracy: how closely a student matches its teacher on the test split.

Stanton et al. (NeurIPS 2021, "Does knowledge distillation really work?") show that a student can
gain accuracy while matching its teacher poorly. Every student run with a teacher therefore also
records, on the test split at its selected epoch:

- ``test_agreement``: the share (%) of test samples on which the student's top-1 class is the
  teacher's;
- ``test_kl_teacher``: KL(teacher || student) of their softmax outputs at temperature 1, in nats,
  averaged over samples.

Classification only (a regression task's one output has no top-1 or softmax). The teacher's test
outputs are computed once per teacher: kept with the model object, and in the teacher-output
cache when one is on (keyed by the weights, the task's data and the runtime, like training
outputs), so later invocations read them.
"""

from __future__ import annotations

import weakref

import torch
import torch.nn.functional as F
from torch import nn

from akd.cache import LogitCache
from akd.engine import predict
from akd.runtime import Runtime
from akd.tasks.base import Task
from akd.teacher import frozen_digest

_TEST_OUTPUTS: weakref.WeakKeyDictionary[nn.Module, torch.Tensor] = weakref.WeakKeyDictionary()


def fidelity(student: torch.Tensor, teacher: torch.Tensor) -> dict[str, float]:
    """Top-1 agreement (%) and mean KL(teacher || student) in nats, from two [N, C] output tables."""
    agree = (student.argmax(1) == teacher.argmax(1)).float().mean().item() * 100
    log_p, log_q = F.log_softmax(teacher.double(), 1), F.log_softmax(student.double(), 1)
    kl = (log_p.exp() * (log_p - log_q)).sum(1).mean().item()
    return {"test_agreement": agree, "test_kl_teacher": kl}


def teacher_test_outputs(
    teacher: nn.Module, arch: str, task: Task, rt: Runtime, cache: LogitCache | None, batch_size: int
) -> torch.Tensor:
    """The frozen teacher's fp32 outputs on the test split, in sample order, computed once."""
    if teacher not in _TEST_OUTPUTS:

        def compute() -> torch.Tensor:
            return predict(teacher, task, "test", batch_size, rt)[0].cpu()

        if cache is None:
            table = compute()
        else:
            identity = {"split": "test", "arch": arch, "weights": frozen_digest(teacher), **task.identity()}
            table, _ = cache.get(identity | {"runtime": rt.describe()}, 0, compute)
        _TEST_OUTPUTS[teacher] = table.float().clone()
    return _TEST_OUTPUTS[teacher]


def student_fidelity(
    student: nn.Module,
    teacher: nn.Module,
    arch: str,
    task: Task,
    rt: Runtime,
    cache: LogitCache | None,
    batch_size: int,
    outputs: torch.Tensor | None = None,
) -> dict[str, float]:
    """:func:`fidelity` of ``student`` (as it is now: its selected checkpoint) to ``teacher``; {} for regression.

    ``outputs``: the student's test outputs where the run already has them (its last stage's
    selected checkpoint, :attr:`StageResult.test_outputs`), else they are computed here."""
    if task.regression:
        return {}
    reference = teacher_test_outputs(teacher, arch, task, rt, cache, batch_size)
    if outputs is None:
        outputs, _ = predict(student, task, "test", batch_size, rt)
    return fidelity(outputs.cpu(), reference)
