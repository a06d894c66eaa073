"""The one validation hold-out every task uses (akd.splits): disjoint, fixed by split_seed, subsets in order."""

from __future__ import annotations

import torch

from akd.config import DataConfig
from akd.splits import hold_out
from tests.conftest import tiny_cifar


def test_validation_is_held_out_of_training_and_fixed_by_the_split_seed():
    train, val = hold_out(DataConfig(val_fraction=0.1), 100)
    assert len(train) == 90 and len(val) == 10
    assert not set(train.tolist()) & set(val.tolist())
    assert sorted(train.tolist() + val.tolist()) == list(range(100))
    assert torch.equal(train, train.sort().values)
    again, _ = hold_out(DataConfig(val_fraction=0.1), 100)
    other, _ = hold_out(DataConfig(val_fraction=0.1, split_seed=1), 100)
    assert torch.equal(train, again) and not torch.equal(train, other)


def test_subsets_take_from_their_own_split_only():
    train, val = hold_out(DataConfig(val_fraction=0.2, train_subset=30, val_subset=5), 100)
    full_train, full_val = hold_out(DataConfig(val_fraction=0.2), 100)
    assert len(train) == 30 and len(val) == 5
    assert set(train.tolist()) <= set(full_train.tolist()) and set(val.tolist()) <= set(full_val.tolist())


def test_test_set_selection_holds_nothing_out():
    train, val = hold_out(DataConfig(val_fraction=0.1, selection="test"), 50)
    assert len(train) == 50 and len(val) == 0


def test_an_image_tasks_validation_images_are_not_trained_on(tmp_path):
    _, task = tiny_cifar(tmp_path, "cifar10", n_train=200, n_test=20, batch_size=16)
    train, val = task.data.train.images.flatten(1), task.data.val.images.flatten(1)
    shared = (train[:, None, :] == val[None, :, :]).all(dim=2)
    assert len(val) == 20 and not shared.any()
