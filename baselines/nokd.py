"""No-KD: the student trained alone with cross-entropy."""

from akd.config import BenchConfig
from akd.methods import HardLabels, Stage, register_method


@register_method("nokd", label="No-KD", color="#000000", marker="s", linestyle=":")
def no_kd(cfg: BenchConfig) -> list[Stage]:
    return [Stage("main", "student", cfg.student_epochs, HardLabels())]
