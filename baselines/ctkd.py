"""CTKD: curriculum temperature for knowledge distillation (Li et al., AAAI 2023): the adversarially
learned temperature, its gradient reversal and its cosine curriculum.

The temperature is learned adversarially: ``tau = t_min + t_range * sigmoid(theta)``, where theta
reaches the loss through a gradient reversal layer (identity forward; backward multiplies the
gradient by ``lambda``), so the student descends the KD loss while theta ascends it. ``lambda``
follows a cosine from 0 to ``-lambda_max`` over the first ``lambda_epochs`` epochs (the curriculum:
the task gets harder), set once per epoch: ``lambda(e) = -lambda_max * (1 - cos(pi * min(e, E) / E)) / 2``
with e counted from 1 (-0.0245 at epoch 1, -0.5 at 5, -1 from 10). Loss
``w_ce * CE + w_kd * tau^2 * KL(softmax(z_t / tau) || softmax(z_s / tau))`` (batch mean), tau^2
inside the differentiated graph, as the official code (zhengli97/CTKD: the loss in ``distiller_zoo/KD.py``,
the settings in ``scripts/run_cifar_distill.sh``).

- ``variant = "global"``: one scalar theta (initial value ``theta_init`` = 1, tau about 15.6), trained by
  the student's own optimiser (same rate, momentum and weight decay), as the official code.
- ``variant = "instance"``: a per-sample theta from a two-layer MLP (hidden 256, ReLU) over the
  teacher's and the student's logits (inputs detached), the paper's instance-wise form. The official
  repository releases only the global module; this follows the paper's description.
- ``standardize``: z-scored logits inside the KL term (Sun et al., 2024).
"""

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from akd.config import BenchConfig
from akd.losses import standardize
from akd.methods import Objective, Stage, register_method
from akd.settings import setting


@dataclass
class CTKDSettings:
    variant: str = setting("global", choices=("global", "instance"))
    t_min: float = setting(1.0, low=0, open_low=True)
    t_range: float = setting(20.0, low=0)
    theta_init: float = 1.0
    lambda_max: float = setting(1.0, low=0)
    lambda_epochs: int = setting(10, low=1)
    w_kd: float = setting(0.9, low=0)
    w_ce: float = setting(0.1, low=0)
    lr_scale: float = setting(1.0, low=0)  # theta's learning rate relative to the student's
    standardize: bool = False


class GradientReversal(torch.autograd.Function):
    """Identity forward; the backward multiplies the incoming gradient by ``lam`` (negative: reversed)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, lam: float) -> torch.Tensor:  # noqa: ANN001
        ctx.lam = lam
        return x.clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # noqa: ANN001
        return ctx.lam * grad, None


def reversal_strength(epoch: int, lambda_max: float, lambda_epochs: int) -> float:
    """lambda at a 0-based epoch: 0 -> -lambda_max along a cosine over ``lambda_epochs`` (epochs counted from 1)."""
    e = min(epoch + 1, lambda_epochs)
    return -lambda_max * (1.0 - math.cos(math.pi * e / lambda_epochs)) / 2.0


def ctkd_kl(student: torch.Tensor, teacher: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    """``tau^2 * KL(softmax(z_t / tau) || softmax(z_s / tau))`` summed over classes, batch mean; tau a
    scalar or one per sample (``[B, 1]``), inside the graph."""
    log_p_s, log_p_t = F.log_softmax(student / tau, dim=1), F.log_softmax(teacher / tau, dim=1)
    per_sample = (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim=1, keepdim=True)
    return (per_sample * tau * tau).mean()


class CurriculumKD(Objective):
    def __init__(self, s: CTKDSettings) -> None:
        self.variant, self.t_min, self.t_range, self.theta_init = s.variant, s.t_min, s.t_range, s.theta_init
        self.lambda_max, self.lambda_epochs, self.w_kd, self.w_ce = s.lambda_max, s.lambda_epochs, s.w_kd, s.w_ce
        self.lr_scale, self.standardize = s.lr_scale, s.standardize
        self._lam = 0.0
        self._theta = nn.Parameter(torch.tensor([s.theta_init]))
        self._mlp: nn.Module | None = None  # the instance variant's, built by setup (classes known)

    def _net(self, classes: int, device: torch.device) -> nn.Module:
        if self._mlp is None:
            generator = torch.Generator().manual_seed(0)  # the same initial MLP for every run of a config
            mlp = nn.Sequential(nn.Linear(2 * classes, 256), nn.ReLU(), nn.Linear(256, 1))
            with torch.no_grad():  # PyTorch's default Linear initialisation: uniform within 1/sqrt(fan-in)
                for layer in (mlp[0], mlp[2]):
                    bound = 1.0 / math.sqrt(layer.in_features)
                    for p in (layer.weight, layer.bias):
                        p.copy_(torch.empty_like(p).uniform_(-bound, bound, generator=generator))
                mlp[-1].bias.fill_(self.theta_init)
            self._mlp = mlp.to(device)
        return self._mlp

    def theta(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        if self.variant == "global":
            return self._theta
        return self._net(student.shape[1], student.device)(torch.cat([teacher, student], dim=1).detach())

    def temperature(self, theta: torch.Tensor) -> torch.Tensor:
        return self.t_min + self.t_range * torch.sigmoid(GradientReversal.apply(theta, self._lam))

    def loss(self, logits, teacher_logits, labels, epoch):  # noqa: ANN001
        student, teacher = logits, teacher_logits
        if self.standardize:
            student, teacher = standardize(student), standardize(teacher)
        tau = self.temperature(self.theta(student, teacher))
        return self.w_ce * F.cross_entropy(logits, labels) + self.w_kd * ctkd_kl(student, teacher, tau)

    def start_epoch(self, epoch: int) -> None:
        self._lam = reversal_strength(epoch, self.lambda_max, self.lambda_epochs)

    def parameters(self) -> list[nn.Parameter]:
        return [self._theta] if self.variant == "global" else list(self._mlp.parameters())

    def setup(self, outputs: int, device: torch.device) -> None:
        self._theta = nn.Parameter(self._theta.detach().to(device))
        if self.variant == "instance":
            self._net(outputs, device)

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"theta": self._theta.detach().clone()}
        if self._mlp is not None:
            state["mlp"] = {k: v.detach().clone() for k, v in self._mlp.state_dict().items()}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            self._theta.copy_(state["theta"])
            if "mlp" in state:
                self._mlp.load_state_dict(state["mlp"])

    def epoch_metrics(self, epoch: int) -> dict[str, float]:
        out = {"ctkd_lambda": reversal_strength(epoch, self.lambda_max, self.lambda_epochs)}
        if self.variant == "global":
            out["temperature"] = float(self.t_min + self.t_range * torch.sigmoid(self._theta.detach()).item())
        return out


@register_method(
    "ctkd",
    settings=CTKDSettings,
    label="CTKD",
    color="#332288",
    marker="h",
    linestyle=(0, (3, 1, 1, 1)),
    regression="its temperature softens class probabilities",
)
def ctkd(cfg: BenchConfig) -> list[Stage]:
    return [Stage("main", "student", cfg.student_epochs, CurriculumKD(cfg.ctkd), "teacher")]
