"""The method contract: a method declares stages; the engine runs them and never asks which method.

A :class:`Stage` says which role's model it trains (``student`` or ``ta``), from which role's
logits it learns (``teacher``, ``ta`` or none), for how many epochs, with which :class:`Objective`,
and whether it starts from scratch or from the previous stage's best checkpoint. A ``shared``
stage (TAKD's TA) is stored by its config and reused by every method and invocation that needs it.

A method is one file: a settings dataclass (fields declared with :func:`akd.settings.setting`,
their ranges checked for it; an optional ``check(self, cfg)`` for combinations) and a stage
builder, registered together with the name, colour and marker the reports use::

    @dataclass
    class MySettings:
        beta: float = setting(8.0, low=0)

    @register_method("mine", settings=MySettings, label="Mine", color="#117733", marker="D")
    def mine(cfg):
        return [Stage("main", "student", cfg.student_epochs, MyObjective(cfg.mine.beta), teacher="teacher")]

``mine = { beta = 4 }`` in a profile, ``--set mine.beta=4`` and sweep spaces over ``mine.beta``
then work like the suite's own settings. Built-in methods are imported by :mod:`akd.catalog`; a
package of yours declares an ``akd.plugins`` entry point.

An :class:`Objective` sees logits and labels only, never the task (:func:`akd.losses.hard_label_loss`
reads from the labels' dtype whether a batch is classification or regression). It may own
parameters (a learnable temperature), optimised in the stage's optimiser; schedules over epochs
(:meth:`Objective.start_epoch`) and steps (:meth:`Objective.start_step`); and a state that
checkpoints keep, so a killed run resumes bit-identically.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from akd.config import BenchConfig
from akd.errors import AkdError
from akd.losses import hard_label_loss
from akd.registry import METHODS
from akd.settings import check_ranges

Role = Literal["teacher", "ta", "student"]


class Objective:
    """The loss of one stage. ``teacher_logits`` is None unless the stage names a teacher role.

    Stateless by default. A stateful objective overrides :meth:`parameters` (trained with the
    model, at ``lr_scale`` times the stage's rate), :meth:`state_dict`/:meth:`load_state_dict`
    (kept in checkpoints) and :meth:`setup` (built for the task's outputs, on the training device). The engine trains a
    deep copy per stage, so a retried job starts from the objective as the method built it.
    """

    lr_scale: float = 1.0  # the learning rate of the objective's parameters, relative to the stage's

    def loss(
        self,
        logits: torch.Tensor,
        teacher_logits: torch.Tensor | None,
        labels: torch.Tensor,
        epoch: int,
    ) -> torch.Tensor:
        raise NotImplementedError

    def start_epoch(self, epoch: int) -> None:
        """Called before each 0-based epoch's first batch (schedules over epochs)."""

    def start_step(self, step: int) -> None:
        """Called before each training step, counted from 0 over the stage (schedules over steps)."""

    def parameters(self) -> list[torch.nn.Parameter]:
        return []

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""

    def setup(self, outputs: int, device: torch.device) -> None:
        """Called once before training with the model's number of outputs and the device: build and
        place the objective's parameters here (before the optimiser is made)."""

    def epoch_metrics(self, epoch: int) -> dict[str, float]:
        """Per-epoch values worth tracking (e.g. Annealing-KD's temperature)."""
        return {}

    def describe(self) -> dict[str, Any]:
        """What the objective computes (hashed into the run's content key): its class and its settings."""
        own = {k: v for k, v in vars(self).items() if not k.startswith("_") and not isinstance(v, torch.nn.Module)}
        return {"objective": type(self).__name__, **own}


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
ROLE_NAMES = ("teacher", "ta", "student")


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: its stages, its settings and how reports show it."""

    name: str
    build: MethodBuilder
    settings: type | None = None  # a dataclass: cfg.<name> holds one (defaults, types, ranges)
    label: str = ""  # "" = the name
    color: str = "#555555"
    marker: str = "x"
    linestyle: Any = "-"
    regression: str = ""  # "" = it has a one-output form; else why it refuses a regression task


def register_method(
    name: str,
    *,
    settings: type | None = None,
    label: str = "",
    color: str = "#555555",
    marker: str = "x",
    linestyle: Any = "-",
    regression: str = "",
) -> Callable[[MethodBuilder], MethodBuilder]:
    """Decorator: registers the stage builder under ``name`` with its settings and its look."""
    if settings is not None and not dataclasses.is_dataclass(settings):
        raise AkdError(f"method {name!r}: settings must be a dataclass, got {settings!r}")

    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise AkdError(f"method name {name!r}: use lower-case letters, digits and '_', starting with a letter")
    if hasattr(BenchConfig, name) or name in {f.name for f in dataclasses.fields(BenchConfig)} or name in ROLE_NAMES:
        raise AkdError(f"method name {name!r} is taken by a setting, a role or an attribute of the config")

    def deco(build: MethodBuilder) -> MethodBuilder:
        spec = MethodSpec(name, build, settings, label or name, color, marker, linestyle, regression)
        METHODS.add(name, spec)
        return build

    return deco


def spec(method: str) -> MethodSpec:
    return METHODS.get(method)


def build_stages(method: str, cfg: BenchConfig) -> list[Stage]:
    return spec(method).build(cfg)


def check_settings(method: str, cfg: BenchConfig) -> None:
    """The method's settings: every declared range, then its own ``check(cfg)`` for combinations."""
    s = spec(method)
    if s.settings is None:
        return
    values = getattr(cfg, method)
    check_ranges(values, method)
    if hasattr(values, "check"):
        values.check(cfg)


def student_epochs(method: str, cfg: BenchConfig) -> int:
    """The epochs a method trains its student for: the sum over its stages that train the student."""
    return sum(st.epochs for st in build_stages(method, cfg) if st.trains == "student")


def check_task(method: str, cfg: BenchConfig, regression: bool) -> None:
    """One line, before anything trains, when ``method`` has no form for this task's outputs."""
    if not regression:
        return
    s = spec(method)
    reason = s.regression
    if not reason and s.settings is not None and hasattr(getattr(cfg, method), "regression"):
        reason = getattr(cfg, method).regression()
    if reason:
        raise AkdError(f"method {method} cannot train a regression task (one output): {reason}")


# How reports show the roles that are not methods (a method's look is in its spec).
ROLES = {
    "teacher": MethodSpec("teacher", lambda cfg: [], None, "Teacher", "#949494", "*", (0, (1, 1))),
    "ta": MethodSpec("ta", lambda cfg: [], None, "TA (TAKD)", "#882255", "P", (0, (5, 1, 1, 1, 1, 1))),
}


def look(name: str) -> MethodSpec:
    """The label, colour, marker and line style of a method or role (a name never registered: its own name, grey)."""
    if name in ROLES:
        return ROLES[name]
    if name in METHODS:
        return spec(name)
    return MethodSpec(name, lambda cfg: [], None, name)


class Looks(Mapping):
    """``{name: one attribute of its look}`` over the roles and every registered method (LABELS, COLORS, ...)."""

    def __init__(self, attribute: str) -> None:
        self.attribute = attribute

    def __getitem__(self, name: str) -> Any:
        return getattr(look(name), self.attribute)

    def __iter__(self) -> Iterator[str]:
        return iter([*ROLES, *METHODS.names()])

    def __len__(self) -> int:
        return len(ROLES) + len(METHODS.names())


PAPER_ORDER = ("nokd", "kd", "takd", "annealing")  # the paper's methods first in tables and figures


class Ordered(Sequence):
    """Every registered method in report order (the paper's four first, then the rest as registered), with
    the roles in front when ``roles``; evaluated on use, so a plug-in's method is in it once imported."""

    def __init__(self, roles: bool = False) -> None:
        self.roles = roles

    def _names(self) -> list[str]:
        methods = [m for m in dict.fromkeys([*PAPER_ORDER, *METHODS.names()]) if m in METHODS or m in PAPER_ORDER]
        return [*ROLES, *methods] if self.roles else methods

    def __getitem__(self, i):  # noqa: ANN001, ANN204
        return self._names()[i]

    def __len__(self) -> int:
        return len(self._names())

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def present(self, names) -> list[str]:  # noqa: ANN001
        """Those of ``names`` (any iterable) in report order; names never registered last, as found."""
        found = list(dict.fromkeys(names))
        known = [m for m in self._names() if m in found]
        return known + [m for m in found if m not in known and (self.roles or m not in ROLES)]


STUDENTS = Ordered()
ROWS = Ordered(roles=True)
