"""Optimiser recipes against hand values: step and linear schedules, AdamW's groups, clipping."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from akd.config import OptimConfig
from akd.optim import Recipe, linear_lr


def test_linear_decay_without_warmup_reaches_zero_at_the_stage_end():
    # 2 epochs x 3 steps: step t of 6 trains at lr * (6 - t) / 6
    cfg = OptimConfig(name="adamw", lr=6e-5, schedule="linear")
    recipe = Recipe(cfg, nn.Linear(2, 2), epochs=2, steps_per_epoch=3)
    assert [recipe.lr_at(t) for t in range(6)] == pytest.approx([6e-5, 5e-5, 4e-5, 3e-5, 2e-5, 1e-5])
    assert recipe.lr_at(6) == 0.0


def test_linear_warmup_then_decay():
    # 10 steps, warm-up 0.2 -> 2 steps: 0, lr/2, then lr * (10 - t) / 8
    assert [linear_lr(t, 10, 1.0, 2) for t in (0, 1, 2, 6, 9)] == pytest.approx([0.0, 0.5, 1.0, 0.5, 0.125])
    recipe = Recipe(OptimConfig(name="adamw", lr=1.0, schedule="linear", warmup=0.2), nn.Linear(2, 2), 1, 10)
    assert recipe.warmup_steps == 2 and recipe.lr_at(1) == pytest.approx(0.5)


def test_step_schedule_holds_for_whole_epochs():
    recipe = Recipe(OptimConfig(lr=0.1, milestones=[0.5, 0.75]), nn.Linear(2, 2), epochs=4, steps_per_epoch=5)
    # epochs 0-1 at 0.1, epoch 2 at 0.01, epoch 3 at 0.001; the same within an epoch
    assert [recipe.lr_at(t) for t in (0, 9, 10, 14, 15, 19)] == pytest.approx([0.1, 0.1, 0.01, 0.01, 1e-3, 1e-3])
    assert isinstance(recipe.optimizer, torch.optim.SGD)


def test_adamw_exempts_biases_and_norm_weights_from_weight_decay():
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    recipe = Recipe(OptimConfig(name="adamw", lr=1e-3, weight_decay=0.01, schedule="linear"), model, 1, 1)
    decay, no_decay = recipe.optimizer.param_groups
    assert isinstance(recipe.optimizer, torch.optim.AdamW)
    assert decay["weight_decay"] == 0.01 and [p.shape for p in decay["params"]] == [torch.Size([4, 3])]
    assert no_decay["weight_decay"] == 0.0 and len(no_decay["params"]) == 3  # bias, norm weight, norm bias


def test_clipping_bounds_the_global_gradient_norm():
    model = nn.Linear(1, 1, bias=False)
    model.weight.data.fill_(0.0)
    recipe = Recipe(OptimConfig(lr=1.0, momentum=0.0, weight_decay=0.0, clip_grad_norm=0.5), model, 1, 1)
    recipe.begin(0)
    (model(torch.tensor([[10.0]])) * 3).sum().backward()  # gradient 30
    recipe.step()
    assert model.weight.item() == pytest.approx(-0.5)  # clipped to norm 0.5, lr 1
