"""Annealing-KD (Jafari et al., EACL 2021).

Phase 1: MSE between the student's raw logits and the teacher's logits scaled by
``Phi(T) = 1 - (T-1)/tau_max``, T annealed from tau_max to 1 in equal steps; the best phase-1
checkpoint (on validation) seeds phase 2. Phase 2: the task's hard-label loss (cross-entropy, or
MSE to the target for regression), teacher unused. For regression the teacher's one output is
scaled like any logit. ``annealing.phase1_loss = "kl"`` is an ablation: phase 1 is then KD's
temperature-softened KL with the same annealed T (``T^2 * KL``), classification only.
Each phase gets a fresh optimizer and learning-rate schedule (the engine makes one per stage).
"""

from __future__ import annotations

from dataclasses import dataclass

from akd.config import BenchConfig
from akd.errors import AkdError
from akd.losses import anneal_scale, anneal_temperature, annealing_kl, annealing_mse, standardize
from akd.methods import HardLabels, Objective, Stage, register_method
from akd.settings import setting


@dataclass
class AnnealingSettings:
    tau_max: int = setting(10, low=1)
    phase1_epochs: int = 200
    phase2_epochs: int = setting(200, low=0)
    mse_reduction: str = setting("mean", choices=("mean", "sum"))  # "mean" (official code) or "sum" (the paper)
    phase1_loss: str = setting("mse", choices=("mse", "kl"))  # "kl": KL to the teacher softened by the annealed T
    standardize: bool = False  # the "kl" ablation on z-scored logits (Sun et al., 2024); needs phase1_loss = "kl"

    def check(self, cfg: BenchConfig) -> None:
        if self.phase1_epochs < self.tau_max:
            raise AkdError(
                f"annealing.phase1_epochs ({self.phase1_epochs}) must be >= tau_max ({self.tau_max}): "
                "every temperature needs at least one epoch"
            )
        if self.standardize and self.phase1_loss != "kl":
            raise AkdError("annealing.standardize applies to the KL phase-1 ablation: set annealing.phase1_loss = 'kl'")

    def regression(self) -> str:
        return (
            "annealing.phase1_loss = 'kl' needs class logits; a regression task uses 'mse'"
            if self.phase1_loss == "kl"
            else ""
        )


class AnnealedLogitMSE(Objective):
    def __init__(self, tau_max: int, phase1_epochs: int, reduction: str) -> None:
        self.tau_max, self.phase1_epochs, self.reduction = tau_max, phase1_epochs, reduction

    def loss(self, logits, teacher_logits, labels, epoch):  # noqa: ANN001
        scale = anneal_scale(epoch, self.phase1_epochs, self.tau_max)
        return annealing_mse(logits, teacher_logits, scale, self.reduction)

    def epoch_metrics(self, epoch: int) -> dict[str, float]:
        return {
            "temperature": float(anneal_temperature(epoch, self.phase1_epochs, self.tau_max)),
            "scale": anneal_scale(epoch, self.phase1_epochs, self.tau_max),
        }


class AnnealedKL(Objective):
    """The phase-1 ablation: ``T^2 * KL(softmax(z_t/T) || softmax(z_s/T))`` with T annealed as above."""

    standardize = False  # an instance sets it only when true: earlier runs keep their content keys

    def __init__(self, tau_max: int, phase1_epochs: int, standardize: bool = False) -> None:
        self.tau_max, self.phase1_epochs = tau_max, phase1_epochs
        if standardize:  # only then in the description: existing runs keep their content keys
            self.standardize = True

    def loss(self, logits, teacher_logits, labels, epoch):  # noqa: ANN001
        if labels.is_floating_point():
            raise AkdError("annealing.phase1_loss = 'kl' needs class logits; a regression task uses 'mse'")
        if self.standardize:
            logits, teacher_logits = standardize(logits), standardize(teacher_logits)
        return annealing_kl(logits, teacher_logits, float(anneal_temperature(epoch, self.phase1_epochs, self.tau_max)))

    def epoch_metrics(self, epoch: int) -> dict[str, float]:
        return {"temperature": float(anneal_temperature(epoch, self.phase1_epochs, self.tau_max))}


@register_method(
    "annealing", settings=AnnealingSettings, label="Annealing-KD", color="#D55E00", marker="o", linestyle="-"
)
def annealing_kd(cfg: BenchConfig) -> list[Stage]:
    a = cfg.annealing
    phase1: Objective = (
        AnnealedKL(a.tau_max, a.phase1_epochs, a.standardize)
        if a.phase1_loss == "kl"
        else AnnealedLogitMSE(a.tau_max, a.phase1_epochs, a.mse_reduction)
    )
    stages = [Stage("phase1", trains="student", epochs=a.phase1_epochs, objective=phase1, teacher="teacher")]
    if a.phase2_epochs:
        stages.append(Stage("phase2", "student", a.phase2_epochs, HardLabels(), init="previous"))
    return stages
