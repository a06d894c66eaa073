"""Loaders on fixtures in the real on-disk formats; the split; the pure-function data plan."""

import gzip

import numpy as np
import pytest
import torch

from akd.config import DataConfig
from akd.data import STATS, Split, SplitData, augment, epoch_plan, load_data, read_cifar, read_idx, train_batches
from akd.errors import AkdError
from tests.conftest import write_cifar


def test_cifar10_fixture_in_real_layout(tmp_path):
    written = write_cifar(tmp_path, "cifar10", n_train=50, n_test=20)
    train, test = read_cifar(tmp_path, "cifar10")
    assert train.images.shape == (50, 3, 32, 32) and train.images.dtype == torch.uint8
    # batches are read in order data_batch_1..5; pixels are CHW row-major as in the pickles
    assert torch.equal(train.images.reshape(50, -1), torch.from_numpy(written["train"]))
    assert train.labels.tolist() == written["y_train"]
    assert test.labels.tolist() == written["y_test"]


def test_cifar100_fixture_uses_fine_labels(tmp_path):
    written = write_cifar(tmp_path, "cifar100", n_train=30, n_test=10)
    train, test = read_cifar(tmp_path, "cifar100")
    assert train.labels.tolist() == written["y_train"]
    assert torch.equal(test.images[3].flatten(), torch.from_numpy(written["test"][3]))


def test_idx_reader(tmp_path):
    imgs = np.arange(2 * 4 * 3, dtype=np.uint8).reshape(2, 4, 3)
    header = (2051).to_bytes(4, "big") + (2).to_bytes(4, "big") + (4).to_bytes(4, "big") + (3).to_bytes(4, "big")
    (tmp_path / "i.gz").write_bytes(gzip.compress(header + imgs.tobytes()))
    (tmp_path / "l").write_bytes((2049).to_bytes(4, "big") + (2).to_bytes(4, "big") + bytes([7, 3]))
    split = read_idx(tmp_path / "i.gz", tmp_path / "l")
    assert split.images.shape == (2, 1, 4, 3)
    assert torch.equal(split.images[1, 0], torch.from_numpy(imgs[1]))
    assert split.labels.tolist() == [7, 3]


def test_split_is_seeded_disjoint_and_independent_of_run_seed(tmp_path):
    write_cifar(tmp_path, "cifar10", n_train=100, n_test=10)
    cfg = DataConfig(dataset="cifar10", data_dir=str(tmp_path), val_fraction=0.2)
    a, b = load_data(cfg), load_data(cfg)
    assert len(a.train) == 80 and len(a.val) == 20
    assert torch.equal(a.val.images, b.val.images) and a.fingerprint == b.fingerprint
    train_rows = {bytes(x.numpy()) for x in a.train.images.reshape(80, -1)}
    assert not any(bytes(x.numpy()) in train_rows for x in a.val.images.reshape(20, -1))
    other = load_data(DataConfig(dataset="cifar10", data_dir=str(tmp_path), val_fraction=0.2, split_seed=1))
    assert other.fingerprint != a.fingerprint


def test_test_set_selection_protocol(tmp_path):
    write_cifar(tmp_path, "cifar10", n_train=100, n_test=10)
    data = load_data(DataConfig(dataset="cifar10", data_dir=str(tmp_path), selection="test"))
    assert len(data.train) == 100 and torch.equal(data.val.images, data.test.images)


def test_normalisation_statistics(tmp_path):
    write_cifar(tmp_path, "cifar10", n_train=20, n_test=5)
    base = DataConfig(dataset="cifar10", data_dir=str(tmp_path))
    correct = load_data(base)
    assert correct.mean.flatten().tolist() == pytest.approx([v * 255 for v in STATS["cifar10"][0]], rel=1e-6)
    official = load_data(DataConfig(dataset="cifar10", data_dir=str(tmp_path), official_cifar10_stats=True))
    assert official.mean.flatten().tolist() == pytest.approx([0.507 * 255, 0.487 * 255, 0.441 * 255], rel=1e-6)


def test_missing_cifar_offline_is_a_clear_error_and_leaves_nothing(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(*args, **kwargs):
        (tmp_path / "nowhere" / "partial.tar.gz").write_bytes(b"half")
        raise OSError("no network")

    monkeypatch.setattr(torchvision.datasets, "CIFAR100", offline)
    with pytest.raises(AkdError, match="download failed"):
        load_data(DataConfig(dataset="cifar100", data_dir=str(tmp_path / "nowhere")))
    assert not (tmp_path / "nowhere").exists()


def test_epoch_plan_is_a_pure_function_of_seed_and_epoch():
    a, b = epoch_plan(1000, seed=3, epoch=5, pad=4), epoch_plan(1000, seed=3, epoch=5, pad=4)
    assert torch.equal(a.order, b.order) and torch.equal(a.shifts, b.shifts) and torch.equal(a.flips, b.flips)
    assert sorted(a.order.tolist()) == list(range(1000))
    assert a.shifts.min() >= 0 and a.shifts.max() <= 8
    assert not torch.equal(a.order, epoch_plan(1000, 3, 6, 4).order)
    assert not torch.equal(a.order, epoch_plan(1000, 4, 5, 4).order)


def test_augment_crop_and_flip_by_hand():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.uint8).reshape(2, 1, 4, 4)
    centre = torch.tensor([[2, 2], [2, 2]])
    assert torch.equal(augment(x, centre, torch.tensor([False, False]), 2), x)
    flipped = augment(x, centre, torch.tensor([False, True]), 2)
    assert torch.equal(flipped[1], x[1].flip(-1)) and torch.equal(flipped[0], x[0])
    # offset (0, 0): the window starts 2 rows/cols into the zero padding
    corner = augment(x, torch.tensor([[0, 0], [4, 4]]), torch.tensor([False, False]), 2)
    assert torch.equal(corner[0, 0, 2:, 2:], x[0, 0, :2, :2]) and corner[0, 0, :2].sum() == 0
    assert torch.equal(corner[1, 0, :2, :2], x[1, 0, 2:, 2:]) and corner[1, 0, 2:].sum() == 0


def _tiny(n: int) -> SplitData:
    split = Split(torch.randint(0, 256, (n, 1, 6, 6), dtype=torch.uint8), torch.arange(n) % 10)
    return SplitData(split, split, split, 10, torch.zeros(1, 1, 1, 1), torch.ones(1, 1, 1, 1), "tiny")


def test_train_batches_cover_the_epoch_and_skip_single_sample_tail():
    data = _tiny(129)
    batches = list(train_batches(data, DataConfig(pad=4), seed=0, epoch=0, batch_size=64))
    seen = torch.cat([idx for idx, _, _ in batches])
    assert len(seen) == 128 and len(set(seen.tolist())) == 128  # the 1-sample tail cannot train BatchNorm
    plan = epoch_plan(129, 0, 0, 4)
    idx, x, y = batches[0]
    assert torch.equal(idx, plan.order[:64]) and torch.equal(y, data.train.labels[idx])
    by_hand = augment(data.train.images[idx], plan.shifts[idx], plan.flips[idx], 4).float()
    assert torch.equal(x, by_hand)  # mean 0, std 1: normalisation is the identity here


def test_train_batches_without_augmentation_pass_images_through():
    data = _tiny(40)
    for idx, x, _ in train_batches(data, DataConfig(pad=0, flip=False), seed=3, epoch=2, batch_size=16):
        assert torch.equal(x, data.train.images[idx].float())
