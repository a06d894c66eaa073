"""MSE-logit KD (Kim et al., IJCAI 2021): mean squared error between raw student and teacher logits.

Annealing-KD's phase 1 without the annealing (scale 1 throughout) and without its phase 2:
``w_kd * mean over batch x classes (z_s - z_t)^2 + w_ce * CE``. The official code
(jhoon-oh/kd_data) averages over batch x classes (``reduction = "mean"``; ``"sum"`` sums over
classes, 100x stronger on CIFAR-100) and uses no label term in its main setting (``w_ce = 0``).
A regression task's one output is matched the same way, its label term being the MSE to the target.
"""

from dataclasses import dataclass

import torch

from akd.config import BenchConfig
from akd.errors import AkdError
from akd.losses import annealing_mse, hard_label_loss
from akd.methods import Objective, Stage, register_method
from akd.settings import setting


@dataclass
class MSELogitSettings:
    w_kd: float = setting(1.0, low=0)
    w_ce: float = setting(0.0, low=0)
    reduction: str = setting("mean", choices=("mean", "sum"))

    def check(self, cfg: BenchConfig) -> None:
        if self.w_kd == 0 and self.w_ce == 0:
            raise AkdError("mse_logit.w_kd and mse_logit.w_ce are both 0: the loss would be 0")


def mse_logit(student: torch.Tensor, teacher: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Annealing-KD's phase-1 loss at scale 1 (the teacher's one regression output reshaped to match)."""
    return annealing_mse(student, teacher.reshape(student.shape), 1.0, reduction)


class MSELogit(Objective):
    def __init__(self, s: MSELogitSettings) -> None:
        self.w_kd, self.w_ce, self.reduction = s.w_kd, s.w_ce, s.reduction

    def loss(self, logits, teacher_logits, labels, epoch):  # noqa: ANN001
        loss = self.w_kd * mse_logit(logits, teacher_logits, self.reduction)
        return loss + self.w_ce * hard_label_loss(logits, labels) if self.w_ce else loss


@register_method(
    "mse_logit", settings=MSELogitSettings, label="MSE-logit", color="#BBBBBB", marker="X", linestyle=(0, (5, 2))
)
def mse_logit_kd(cfg: BenchConfig) -> list[Stage]:
    return [Stage("main", "student", cfg.student_epochs, MSELogit(cfg.mse_logit), "teacher")]
