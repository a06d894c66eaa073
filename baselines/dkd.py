"""DKD: decoupled knowledge distillation (Zhao et al., CVPR 2022): alpha TCKD + beta NCKD, from the
paper's reformulation KD = TCKD + (1 - p_t) NCKD.

KD's KL splits into a target-class term (TCKD: the binary distributions [p_target, 1 - p_target]
of teacher and student) and a non-target term (NCKD: the distributions over the other classes,
renormalised); DKD weighs them freely: ``w_ce * CE + min((epoch+1) / warmup, 1) * (alpha * TCKD +
beta * NCKD)``, each KL summed over classes, averaged over the batch and multiplied by T^2 (the
official mdistiller code; its epochs count from 1, ours from 0, hence ``epoch + 1``). The warm-up
multiplies only the distillation term. ``standardize``: z-scored logits (Sun et al., 2024), as
DKD + LS; multiply alpha and beta by the KD weight there.

The binary student term is computed in log space (log-sum-exp over the other classes), which is
the same quantity as the official ``log(p_target)``, ``log(sum of the others)`` but finite at any
temperature. Defaults: mdistiller's DKD defaults (``mdistiller/engine/cfg.py``, used as they are by
``configs/cifar100/dkd/res32x4_res8x4.yaml``): alpha 1, beta 8, T 4, CE weight 1, warm-up 20 epochs.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from akd.config import BenchConfig
from akd.losses import standardize
from akd.methods import Objective, Stage, register_method
from akd.settings import setting


@dataclass
class DKDSettings:
    alpha: float = setting(1.0, low=0)  # TCKD's weight
    beta: float = setting(
        8.0, low=0
    )  # NCKD's weight: 8 (resnet32x4 -> resnet8x4), 2 (resnet56/110 pairs), 6 (WRN, VGG)
    temperature: float = setting(4.0, low=0, open_low=True)
    w_ce: float = setting(1.0, low=0)
    warmup: int = setting(20, low=1)  # epochs over which the DKD term rises linearly to its full weight
    standardize: bool = False


def dkd_terms(student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor, temperature: float):
    """(TCKD, NCKD), each ``T^2 * KL(teacher || student)`` summed over classes, averaged over the batch."""
    t = temperature
    target = F.one_hot(labels, student.shape[1]).bool()
    log_p_s, log_p_t = F.log_softmax(student / t, dim=1), F.log_softmax(teacher / t, dim=1)

    def binary(log_p: torch.Tensor) -> torch.Tensor:  # log [p_target, sum of the others]
        others = torch.logsumexp(log_p.masked_fill(target, -torch.inf), dim=1)
        return torch.stack([log_p[target], others], dim=1)

    b_s, b_t = binary(log_p_s), binary(log_p_t)
    tckd = (b_t.exp() * (b_t - b_s)).sum(dim=1).mean() * t * t
    # non-target classes only: the target's logit pushed 1000 below (after /T), as the official code
    n_s = F.log_softmax(student / t - 1000.0 * target, dim=1)
    n_t = F.log_softmax(teacher / t - 1000.0 * target, dim=1)
    nckd = (n_t.exp() * (n_t - n_s)).sum(dim=1).mean() * t * t
    return tckd, nckd


class DecoupledKD(Objective):
    def __init__(self, s: DKDSettings) -> None:
        self.alpha, self.beta, self.temperature, self.w_ce, self.warmup = (
            s.alpha,
            s.beta,
            s.temperature,
            s.w_ce,
            s.warmup,
        )
        self.standardize = s.standardize

    def loss(self, logits, teacher_logits, labels, epoch):  # noqa: ANN001
        student, teacher = logits, teacher_logits
        if self.standardize:
            student, teacher = standardize(student), standardize(teacher)
        tckd, nckd = dkd_terms(student, teacher, labels, self.temperature)
        ramp = min((epoch + 1) / self.warmup, 1.0)
        return self.w_ce * F.cross_entropy(logits, labels) + ramp * (self.alpha * tckd + self.beta * nckd)

    def epoch_metrics(self, epoch: int) -> dict[str, float]:
        return {"dkd_warmup": min((epoch + 1) / self.warmup, 1.0)}


@register_method(
    "dkd",
    settings=DKDSettings,
    label="DKD",
    color="#225522",
    marker="D",
    linestyle=(0, (3, 1)),
    regression="its target and non-target terms need class probabilities",
)
def dkd(cfg: BenchConfig) -> list[Stage]:
    return [Stage("main", "student", cfg.student_epochs, DecoupledKD(cfg.dkd), "teacher")]
