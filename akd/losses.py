"""Distillation losses and the Annealing-KD schedule, written to be checked against hand values.

Classification and regression share these functions. The labels' dtype says which a batch is, as
in HuggingFace: integer class indices -> classification over ``[B, K]`` logits; float targets ->
regression with one output, ``[B, 1]`` predictions against ``[B]`` targets (compared as ``[B]``,
never broadcast to ``[B, B]`` as the official Annealing-KD GLUE code did for STS-B).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def regression_pairs(predictions: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``[B, 1]`` predictions and ``[B]`` (or ``[B, 1]``) targets as two ``[B]`` tensors; other shapes refused."""
    if predictions.dim() != 2 or predictions.shape[1] != 1:
        raise ValueError(f"a regression model must output [batch, 1], got {list(predictions.shape)}")
    flat = targets.reshape(-1)
    if flat.shape[0] != predictions.shape[0]:
        raise ValueError(f"{predictions.shape[0]} predictions for {flat.shape[0]} targets")
    return predictions[:, 0], flat.to(predictions.dtype)


def hard_label_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy for class labels; mean squared error for float targets (regression)."""
    if labels.is_floating_point():
        return F.mse_loss(*regression_pairs(logits, labels))
    return F.cross_entropy(logits, labels)


def kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    temperature: float,
    w_kd: float,
    w_ce: float,
) -> torch.Tensor:
    """Hinton KD: ``w_kd * T^2 * KL(softmax(z_t/T) || softmax(z_s/T)) + w_ce * CE(z_s, y)``.

    The KL divergence is summed over classes and averaged over the batch ("batchmean"); ``w_kd``
    weights the distillation term and ``w_ce`` the label term, named so nobody misreads which.

    Regression (one output, float labels): a softmax over one value is constant, so the soft term
    is the mean squared error to the teacher's output instead, without temperature:
    ``w_kd * MSE(z_s, z_t) + w_ce * MSE(z_s, y)``.
    """
    if labels.is_floating_point():
        student, target = regression_pairs(student_logits, labels)
        loss = w_kd * F.mse_loss(student, teacher_logits.reshape(-1))
        return loss + w_ce * F.mse_loss(student, target) if w_ce else loss
    t = temperature
    log_p_s = F.log_softmax(student_logits / t, dim=1)
    log_p_t = F.log_softmax(teacher_logits / t, dim=1)
    kl = F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True)
    loss = w_kd * t * t * kl
    if w_ce:
        loss = loss + w_ce * F.cross_entropy(student_logits, labels)
    return loss


def anneal_temperature(epoch: int, phase1_epochs: int, tau_max: int) -> int:
    """Annealing temperature T at a 0-based phase-1 epoch.

    T starts at ``tau_max`` and drops by one every ``floor(E1 / tau_max)`` epochs. When ``E1`` is
    not a multiple of ``tau_max`` the last few epochs would push T below 1 (the official code then
    scales teacher logits above 1.0); the suite clamps T at 1, so those epochs use scale 1.0.
    """
    if tau_max < 1 or phase1_epochs < tau_max:
        raise ValueError("need tau_max >= 1 and phase1_epochs >= tau_max")
    step = phase1_epochs // tau_max
    return max(1, tau_max - epoch // step)


def anneal_scale(epoch: int, phase1_epochs: int, tau_max: int) -> float:
    """``Phi(T) = 1 - (T - 1) / tau_max``: 1/tau_max, 2/tau_max, ..., 1, never above 1."""
    return 1.0 - (anneal_temperature(epoch, phase1_epochs, tau_max) - 1) / tau_max


def annealing_mse(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, scale: float, reduction: str = "mean"
) -> torch.Tensor:
    """Phase-1 loss: MSE between raw student logits and ``scale *`` raw teacher logits.

    ``reduction="mean"`` averages over batch x classes (the official code); ``"sum"`` sums over
    classes and averages over the batch (the paper's squared L2 norm).
    """
    sq = (student_logits - scale * teacher_logits).pow(2)
    return sq.mean() if reduction == "mean" else sq.sum(dim=1).mean()


def annealing_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Ablation of the phase-1 loss: ``T^2 * KL(softmax(z_t/T) || softmax(z_s/T))``, batch mean.

    The annealed temperature T softens the teacher's distribution instead of scaling its logits
    (``annealing.phase1_loss = "kl"``); no label term, as in phase 1. Classification only.
    """
    log_p_s = F.log_softmax(student_logits / temperature, dim=1)
    log_p_t = F.log_softmax(teacher_logits / temperature, dim=1)
    return temperature * temperature * F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True)


def standardize(logits: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Logit standardisation (Sun et al., CVPR 2024, the Z-score of its Algorithm 1): each sample's logits minus
    their mean over classes, divided by ``eps`` + their standard deviation over classes (unbiased,
    as the official code's ``torch.std``). Nothing is detached. Used inside a distillation term only
    (the label term keeps the raw logits)."""
    centred = logits - logits.mean(dim=-1, keepdim=True)
    return centred / (eps + logits.std(dim=-1, keepdim=True))
