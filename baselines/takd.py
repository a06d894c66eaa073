"""TAKD (Mirzadeh et al., 2020): teacher -> teacher assistant by KD, then TA -> student by KD.

The TA stage is ``shared``: trained once per seed (keyed by its full config) and reused.
"""

from dataclasses import dataclass, field

from akd.config import BenchConfig
from akd.methods import Stage, register_method
from baselines.kd import HintonKD, KDSettings


@dataclass
class TAKDSettings:
    """Teacher -> TA (``takd.ta.*``) and TA -> student (``takd.student.*``), each by Hinton KD."""

    ta: KDSettings = field(default_factory=KDSettings)
    student: KDSettings = field(default_factory=KDSettings)

    def check(self, cfg: BenchConfig) -> None:
        self.ta.check(cfg, "takd.ta")
        self.student.check(cfg, "takd.student")

    def regression(self) -> str:
        return self.ta.regression() or self.student.regression()


@register_method("takd", settings=TAKDSettings, label="TAKD", color="#66CCEE", marker="v", linestyle="-.")
def takd(cfg: BenchConfig) -> list[Stage]:
    t = cfg.takd
    return [
        Stage("ta", "ta", cfg.ta_epochs, HintonKD.of(t.ta), teacher="teacher", shared=True),
        Stage("student", "student", cfg.student_epochs, HintonKD.of(t.student), teacher="ta"),
    ]
