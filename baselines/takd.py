"""TAKD (Mirzadeh et al., 2020): teacher -> teacher assistant by KD, then TA -> student by KD.

The TA stage is ``shared``: trained once per seed (keyed by its full config) and reused.
"""

from akd.config import BenchConfig, KDConfig
from akd.methods import Stage, register_method
from baselines.kd import HintonKD


def _kd(k: KDConfig) -> HintonKD:
    return HintonKD(k.temperature, k.w_kd, k.w_ce)


@register_method("takd")
def takd(cfg: BenchConfig) -> list[Stage]:
    t = cfg.takd
    return [
        Stage("ta", "ta", cfg.ta_epochs, _kd(t.ta), teacher="teacher", shared=True),
        Stage("student", "student", cfg.student_epochs, _kd(t.student), teacher="ta"),
    ]
