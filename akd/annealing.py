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

from akd.config import BenchConfig
from akd.errors import AkdError
from akd.losses import anneal_scale, anneal_temperature, annealing_kl, annealing_mse
from akd.methods import HardLabels, Objective, Stage, register_method


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

    def __init__(self, tau_max: int, phase1_epochs: int) -> None:
        self.tau_max, self.phase1_epochs = tau_max, phase1_epochs

    def loss(self, logits, teacher_logits, labels, epoch):  # noqa: ANN001
        if labels.is_floating_point():
            raise AkdError("annealing.phase1_loss = 'kl' needs class logits; a regression task uses 'mse'")
        return annealing_kl(logits, teacher_logits, float(anneal_temperature(epoch, self.phase1_epochs, self.tau_max)))

    def epoch_metrics(self, epoch: int) -> dict[str, float]:
        return {"temperature": float(anneal_temperature(epoch, self.phase1_epochs, self.tau_max))}


@register_method("annealing")
def annealing_kd(cfg: BenchConfig) -> list[Stage]:
    a = cfg.annealing
    phase1: Objective = (
        AnnealedKL(a.tau_max, a.phase1_epochs)
        if a.phase1_loss == "kl"
        else AnnealedLogitMSE(a.tau_max, a.phase1_epochs, a.mse_reduction)
    )
    stages = [Stage("phase1", trains="student", epochs=a.phase1_epochs, objective=phase1, teacher="teacher")]
    if a.phase2_epochs:
        stages.append(Stage("phase2", "student", a.phase2_epochs, HardLabels(), init="previous"))
    return stages
