"""TAKD (Mirzadeh et al., 2020): teacher -> teacher assistant by KD, then TA -> student by KD.

The TA stage is ``shared``: trained once per seed (keyed by its full config) and reused.
"""

from akd.config import BenchConfig
from akd.methods import Stage, register_method
from baselines.kd import HintonKD


@register_method("takd")
def takd(cfg: BenchConfig) -> list[Stage]:
    t = cfg.takd
    return [
        Stage(
            "ta",
            "ta",
            cfg.ta_epochs,
            HintonKD(t.ta_temperature, t.ta_w_kd, t.ta_w_ce),
            teacher="teacher",
            shared=True,
        ),
        Stage("student", "student", cfg.student_epochs, HintonKD(t.temperature, t.w_kd, t.w_ce), "ta"),
    ]
