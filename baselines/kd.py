"""Vanilla KD (Hinton et al., 2015) from the teacher."""

from akd.config import BenchConfig
from akd.losses import kd_loss
from akd.methods import Objective, Stage, register_method


class HintonKD(Objective):
    def __init__(self, temperature: float, w_kd: float, w_ce: float) -> None:
        self.temperature, self.w_kd, self.w_ce = temperature, w_kd, w_ce

    def loss(self, logits, teacher_logits, labels, epoch):  # noqa: ANN001
        return kd_loss(logits, teacher_logits, labels, self.temperature, self.w_kd, self.w_ce)


@register_method("kd")
def vanilla_kd(cfg: BenchConfig) -> list[Stage]:
    k = cfg.kd
    return [Stage("main", "student", cfg.student_epochs, HintonKD(k.temperature, k.w_kd, k.w_ce), "teacher")]
