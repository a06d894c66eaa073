"""Losses and schedules against values computed by hand."""

import math

import pytest
import torch

from akd.losses import anneal_scale, anneal_temperature, annealing_mse, hard_label_loss, kd_loss
from akd.optim import step_lr


def pair(rows):
    return torch.tensor(rows, dtype=torch.float64)


def test_kd_loss_t1_matches_hand_value():
    # p_t = softmax([ln 3, 0]) = [0.75, 0.25]; p_s = [0.5, 0.5].
    # KL = 0.75 ln 1.5 + 0.25 ln 0.5 = 0.130812; CE(label 0) = ln 2 = 0.693147.
    s, t, y = pair([[0.0, 0.0]] * 2), pair([[math.log(3), 0.0]] * 2), torch.tensor([0, 0])
    assert kd_loss(s, t, y, 1.0, w_kd=1.0, w_ce=0.0).item() == pytest.approx(0.130812, abs=1e-6)
    assert kd_loss(s, t, y, 1.0, w_kd=0.9, w_ce=0.1).item() == pytest.approx(0.9 * 0.130812 + 0.1 * 0.693147, abs=1e-6)


def test_kd_loss_temperature_softens_and_scales_by_t_squared():
    # T=2: p_t = softmax([ln3/2, 0]) = [0.633975, 0.366025];
    # KL = 0.633975 ln(1.267949) + 0.366025 ln(0.732051) = 0.150502 - 0.114161 = 0.036341;
    # times T^2 = 0.145363.
    s, t, y = pair([[0.0, 0.0]]), pair([[math.log(3), 0.0]]), torch.tensor([1])
    assert kd_loss(s, t, y, 2.0, w_kd=1.0, w_ce=0.0).item() == pytest.approx(0.145363, abs=1e-6)


def test_kd_loss_is_batchmean_not_mean_over_classes():
    # Same rows with 100 classes: the value must not shrink with the number of classes.
    s = torch.zeros(3, 100, dtype=torch.float64)
    t = torch.zeros(3, 100, dtype=torch.float64)
    t[:, 0] = math.log(3 * 99)  # p_t = [0.75, 0.25/99 each]
    expected = 0.75 * math.log(0.75 * 100) + 0.25 * math.log(0.25 / 99 * 100)
    got = kd_loss(s, t, torch.zeros(3, dtype=torch.long), 1.0, 1.0, 0.0).item()
    assert got == pytest.approx(expected, rel=1e-9)


def test_annealing_mse_hand_values():
    s, t = pair([[1.0, 2.0]]), pair([[4.0, -2.0]])
    # target 0.5 * [4, -2] = [2, -1]; squared errors [1, 9]
    assert annealing_mse(s, t, 0.5, "mean").item() == pytest.approx(5.0)
    assert annealing_mse(s, t, 0.5, "sum").item() == pytest.approx(10.0)
    assert annealing_mse(s, t, 1.0, "mean").item() == pytest.approx((9 + 16) / 2)


def test_scale_sequence_e200_tau10():
    scales = [anneal_scale(e, 200, 10) for e in range(200)]
    for k in range(10):  # 20 epochs at each of 0.1, 0.2, ..., 1.0
        assert scales[20 * k : 20 * (k + 1)] == pytest.approx([(k + 1) / 10] * 20)
    assert [anneal_temperature(e, 200, 10) for e in (0, 19, 20, 199)] == [10, 10, 9, 1]


def test_scale_sequence_e14_tau7():
    expected = [1 / 7] * 2 + [2 / 7] * 2 + [3 / 7] * 2 + [4 / 7] * 2 + [5 / 7] * 2 + [6 / 7] * 2 + [1.0] * 2
    assert [anneal_scale(e, 14, 7) for e in range(14)] == pytest.approx(expected)


def test_non_multiple_never_exceeds_one():
    # E1=25, tau_max=10: steps of 2 epochs; the official code would reach 1.1, 1.2, 1.3 at the end.
    scales = [anneal_scale(e, 25, 10) for e in range(25)]
    assert scales[:20] == pytest.approx([k / 10 for k in range(1, 11) for _ in range(2)])
    assert scales[20:] == pytest.approx([1.0] * 5)
    assert max(scales) == 1.0


def test_schedule_rejects_impossible_settings():
    with pytest.raises(ValueError):
        anneal_scale(0, 5, 10)
    with pytest.raises(ValueError):
        anneal_scale(0, 5, 0)


def test_step_lr_200_epochs():
    lrs = [step_lr(e, 200, 0.1, [0.5, 0.75], 0.1) for e in range(200)]
    assert lrs[0] == lrs[99] == 0.1
    assert lrs[100] == pytest.approx(0.01) and lrs[149] == pytest.approx(0.01)
    assert lrs[150] == pytest.approx(0.001) and lrs[199] == pytest.approx(0.001)


def test_step_lr_short_phase():
    # 10 epochs: switches at int(5) and int(7.5) = 7
    assert [round(step_lr(e, 10, 0.1, [0.5, 0.75], 0.1), 6) for e in range(10)] == [
        0.1,
        0.1,
        0.1,
        0.1,
        0.1,
        0.01,
        0.01,
        0.001,
        0.001,
        0.001,
    ]


def test_step_lr_never_decays_at_epoch_zero():
    assert step_lr(0, 1, 0.1, [0.5, 0.75], 0.1) == 0.1
    assert [step_lr(e, 2, 0.1, [0.5, 0.75], 0.1) for e in range(2)] == pytest.approx([0.1, 0.001])


def test_hard_label_loss_is_cross_entropy_for_classes_and_mse_for_targets():
    logits = torch.tensor([[1.0, 2.0]])
    assert hard_label_loss(logits, torch.tensor([0])).item() == pytest.approx(math.log(1 + math.e))
    # regression: [B, 1] predictions against [B] targets, compared element-wise (never [B, B])
    pred, target = torch.tensor([[1.0], [3.0]]), torch.tensor([2.0, 0.0])
    assert hard_label_loss(pred, target).item() == pytest.approx((1 + 9) / 2)  # a [B, B] broadcast gives 5.5
    with pytest.raises(ValueError, match=r"must output \[batch, 1\]"):
        hard_label_loss(torch.zeros(2, 3), target)
    with pytest.raises(ValueError, match="2 predictions for 3 targets"):
        hard_label_loss(pred, torch.zeros(3))


def test_kd_loss_on_regression_uses_mse_to_the_teacher_output():
    # student [1, 3], teacher [2, 1], target [0, 0]: soft MSE (1 + 4) / 2 = 2.5, hard MSE (1 + 9) / 2 = 5
    s, t, y = torch.tensor([[1.0], [3.0]]), torch.tensor([[2.0], [1.0]]), torch.tensor([0.0, 0.0])
    assert kd_loss(s, t, y, 4.0, w_kd=0.8, w_ce=0.2).item() == pytest.approx(0.8 * 2.5 + 0.2 * 5.0)


def test_annealing_mse_on_one_output_scales_the_teacher_value():
    s, t = torch.tensor([[1.0], [3.0]]), torch.tensor([[4.0], [2.0]])
    # scale 0.5: targets [2, 1]; squared errors [1, 4]
    assert annealing_mse(s, t, 0.5).item() == pytest.approx(2.5)
