"""Vanilla KD (Hinton et al., 2015) from the teacher, optionally on standardised logits (Sun et al., 2024)."""

from dataclasses import dataclass

from akd.config import BenchConfig
from akd.errors import AkdError
from akd.losses import hard_label_loss, kd_loss, standardize
from akd.methods import Objective, Stage, register_method
from akd.settings import setting


@dataclass
class KDSettings:
    """``w_kd * T^2 * KL(p_t || p_s) + w_ce * CE``; ``standardize``: z-scored logits inside the KL term."""

    temperature: float = setting(4.0, low=0, open_low=True)
    w_kd: float = setting(0.9, low=0)
    w_ce: float = setting(0.1, low=0)
    standardize: bool = False

    def check(self, cfg: BenchConfig, name: str = "kd") -> None:
        if self.w_kd == 0 and self.w_ce == 0:
            raise AkdError(f"{name}.w_kd and {name}.w_ce are both 0: the loss would be 0")

    def regression(self) -> str:
        return "logit standardisation (standardize = true) needs class logits" if self.standardize else ""


class HintonKD(Objective):
    standardize = False  # an instance sets it only when true: earlier runs keep their content keys

    def __init__(self, temperature: float, w_kd: float, w_ce: float, standardize: bool = False) -> None:
        self.temperature, self.w_kd, self.w_ce = temperature, w_kd, w_ce
        if standardize:  # only then in the description: existing runs keep their content keys
            self.standardize = True

    @classmethod
    def of(cls, s: KDSettings) -> "HintonKD":
        return cls(s.temperature, s.w_kd, s.w_ce, s.standardize)

    def loss(self, logits, teacher_logits, labels, epoch):  # noqa: ANN001
        if self.standardize:  # z-scores inside the KL term; CE on the raw logits
            soft = kd_loss(standardize(logits), standardize(teacher_logits), labels, self.temperature, self.w_kd, 0.0)
            return soft + self.w_ce * hard_label_loss(logits, labels) if self.w_ce else soft
        return kd_loss(logits, teacher_logits, labels, self.temperature, self.w_kd, self.w_ce)


@register_method("kd", settings=KDSettings, label="KD", color="#0072B2", marker="^", linestyle="--")
def vanilla_kd(cfg: BenchConfig) -> list[Stage]:
    return [Stage("main", "student", cfg.student_epochs, HintonKD.of(cfg.kd), "teacher")]
