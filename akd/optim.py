"""Optimiser recipes: the optimiser and its learning-rate schedule, fresh for every stage.

Declared in config (:class:`akd.config.OptimConfig`) by name, so the engine never asks which task
or method it trains:

- ``sgd`` + ``step``: SGD with momentum; the rate is multiplied by ``gamma`` at each milestone (a
  fraction of the stage's epochs) and held for whole epochs (the CIFAR recipe of the paper).
- ``adamw`` + ``linear``: AdamW; the rate rises linearly over the first ``warmup`` fraction of the
  stage's steps, then decays linearly to 0 at the stage's last step, set per step (as HuggingFace's
  ``get_linear_schedule_with_warmup``: step t of T trains at ``lr * (T - t) / (T - W)``). Biases and
  normalisation weights (1-D parameters) get no weight decay, as in HuggingFace's ``run_glue``.
- ``clip_grad_norm`` > 0 clips the gradients' global L2 norm before each step (either optimiser).

Each Annealing-KD phase is a stage, so each phase gets its own schedule, as in the paper.
"""

from __future__ import annotations

import torch
from torch import nn

from akd.config import OptimConfig

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("step", "linear")


def step_lr(epoch: int, epochs: int, base_lr: float, milestones: list[float], gamma: float) -> float:
    """Learning rate at a 0-based epoch: ``base * gamma^k``, k = milestones passed.

    A milestone fraction f switches at epoch ``int(f * epochs)``: for 200 epochs and (0.5, 0.75),
    epochs 0-99 use 0.1, 100-149 use 0.01 and 150-199 use 0.001. A milestone never falls on
    epoch 0, so a one-epoch stage trains at the base rate.
    """
    passed = sum(epoch >= max(1, int(m * epochs)) for m in milestones)
    return base_lr * gamma**passed


def linear_lr(step: int, total_steps: int, base_lr: float, warmup_steps: int) -> float:
    """Linear warm-up over ``warmup_steps``, then linear decay reaching 0 at ``total_steps``."""
    if step < warmup_steps:
        return base_lr * step / max(1, warmup_steps)
    return base_lr * max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


class Recipe:
    """One stage's optimiser and schedule. Per training step: :meth:`begin` (sets the rate),
    backward, :meth:`step` (clips, steps)."""

    def __init__(
        self,
        cfg: OptimConfig,
        model: nn.Module,
        epochs: int,
        steps_per_epoch: int,
        extra: list[torch.nn.Parameter] | None = None,
        extra_lr_scale: float = 1.0,
    ) -> None:
        """``extra``: parameters trained beside the model's (an objective's learnable temperature), in
        groups of their own whose rate is ``extra_lr_scale`` times the schedule's."""
        self.cfg, self.epochs, self.steps_per_epoch = cfg, epochs, max(1, steps_per_epoch)
        self.total_steps = epochs * self.steps_per_epoch
        self.warmup_steps = int(cfg.warmup * self.total_steps)
        own = [p for p in model.parameters() if p.requires_grad]
        added = [p for p in extra or [] if p.requires_grad]
        self.params = own + added
        groups = []
        for params, scale in ((own, 1.0), (added, extra_lr_scale)):
            if cfg.name == "sgd":
                groups.append({"params": params, "weight_decay": cfg.weight_decay, "lr_scale": scale})
            else:  # no decay on biases and normalisation weights (1-D), as HuggingFace's run_glue
                groups.append({"params": [p for p in params if p.dim() > 1], "weight_decay": cfg.weight_decay})
                groups.append({"params": [p for p in params if p.dim() <= 1], "weight_decay": 0.0})
                groups[-2]["lr_scale"] = groups[-1]["lr_scale"] = scale
        groups = [g for g in groups if g["params"]]
        if cfg.name == "sgd":
            self.optimizer: torch.optim.Optimizer = torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
        else:
            self.optimizer = torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps)

    def lr_at(self, step: int) -> float:
        """The rate of the stage's 0-based training step ``step``."""
        c = self.cfg
        if c.schedule == "step":
            return step_lr(step // self.steps_per_epoch, self.epochs, c.lr, c.milestones, c.gamma)
        return linear_lr(step, self.total_steps, c.lr, self.warmup_steps)

    def begin(self, step: int) -> float:
        lr = self.lr_at(step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        self.optimizer.zero_grad(set_to_none=True)
        return lr

    def step(self) -> None:
        if self.cfg.clip_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.params, self.cfg.clip_grad_norm)
        self.optimizer.step()
