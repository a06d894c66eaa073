"""Datasets as device-resident uint8 tensors, with a seeded split and pure-function augmentation.

Every dataset is loaded once into ``SplitData``: uint8 images [N, C, H, W] and int64 labels for the
train / validation / test splits. The validation split is held out of the training set with a
fixed ``split_seed`` (independent of the run seed, so a teacher trained once never sees any run's
validation images).

Determinism contract (the [speed] teacher-output cache relies on it): for a run seed ``s`` and an
epoch ``e``, :func:`epoch_plan` returns the batch order and every sample's crop offset and flip,
all drawn from one generator seeded by ``(s, e)`` and indexed by sample index. So two methods, or
two processes, with the same seed see bit-identical batches, whatever they did before.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from akd.config import DataConfig
from akd.errors import AkdError
from akd.hashing import derive_seed
from akd.readers import Split, read_cifar, read_idx
from akd.splits import check_classes, check_sizes, hold_out

# Per-channel mean/std on the 0..1 scale.
STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
}
# The official Annealing-KD code normalises CIFAR-10 with these (CIFAR-100's) statistics.
OFFICIAL_CIFAR_STATS = ((0.507, 0.487, 0.441), (0.267, 0.256, 0.276))
NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "fashion_mnist": 10}
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


@dataclass
class SplitData:
    train: Split
    val: Split
    test: Split
    num_classes: int
    mean: torch.Tensor  # [1, C, 1, 1] on the 0..255 scale
    std: torch.Tensor
    fingerprint: str  # identifies the exact data (and split) a model was trained on
    source: str = ""  # the folder the files were read from

    @property
    def in_channels(self) -> int:
        return self.train.images.shape[1]


# ---------------------------------------------------------------- locating / downloading
def _find_fashion_mnist(root: Path, fallback: bool) -> Path | None:
    """The folder holding Fashion-MNIST's IDX files under ``root``; the Debian copy only as a fallback
    for the default data folder (a folder the user named is never silently replaced)."""
    folders = [root / "FashionMNIST" / "raw", root] + ([DEBIAN_FASHION_MNIST] if fallback else [])
    for folder in folders:
        for suffix in ("", ".gz"):
            if (folder / f"train-images-idx3-ubyte{suffix}").exists():
                return folder
    return None


def _load_raw(cfg: DataConfig) -> tuple[Split, Split, Path]:
    """The training and test splits, and the folder they were read from."""
    root = Path(cfg.data_dir).expanduser()
    if root.exists() and not root.is_dir():
        raise AkdError(f"data folder {root} is a file, not a folder")
    if cfg.dataset in ("cifar10", "cifar100"):
        marker = "cifar-10-batches-py" if cfg.dataset == "cifar10" else "cifar-100-python"
        if not (root / marker).exists():
            _download(cfg.dataset, root)
        return (*read_cifar(root, cfg.dataset), root / marker)
    if cfg.dataset == "fashion_mnist":
        fallback = cfg.default_folder
        folder = _find_fashion_mnist(root, fallback)
        if folder is None:
            _download(cfg.dataset, root)
            folder = _find_fashion_mnist(root, fallback)
        if folder is None:
            raise AkdError(f"fashion_mnist was downloaded to {root} but its IDX files are not there")

        def pick(stem: str) -> Path:
            plain = folder / stem
            return plain if plain.exists() else folder / f"{stem}.gz"

        return (
            read_idx(pick("train-images-idx3-ubyte"), pick("train-labels-idx1-ubyte")),
            read_idx(pick("t10k-images-idx3-ubyte"), pick("t10k-labels-idx1-ubyte")),
            folder,
        )
    raise AkdError(f"unknown dataset {cfg.dataset!r}; choose one of: {', '.join(NUM_CLASSES)}")


def _download(dataset: str, root: Path) -> None:
    """Fetch a dataset with torchvision's downloader; offline, fail with what to do instead."""
    from torchvision import datasets

    cls = {"cifar10": datasets.CIFAR10, "cifar100": datasets.CIFAR100}.get(dataset, datasets.FashionMNIST)
    existed = root.exists()
    before = set(root.rglob("*")) if existed else set()
    try:
        root.mkdir(parents=True, exist_ok=True)
        cls(str(root), train=True, download=True)
    except Exception as exc:  # network errors come in many types
        _remove_new_files(root, existed, before)
        hint = (
            f"apt-get install dataset-fashion-mnist and pass --data-dir {DEBIAN_FASHION_MNIST} (or no --data-dir), or "
            if dataset == "fashion_mnist"
            else ""
        )
        raise AkdError(
            f"{dataset} is not in {root} and the download failed ({type(exc).__name__}); "
            f"{hint}download it on a machine with internet and pass --data-dir DIR"
        ) from None


def _remove_new_files(root: Path, existed: bool, before: set[Path]) -> None:
    """Leave nothing half-downloaded behind."""
    if not existed:
        shutil.rmtree(root, ignore_errors=True)
        return
    for path in sorted(set(root.rglob("*")) - before, reverse=True):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


# ---------------------------------------------------------------- assembling the splits
def _fingerprint(*tensors: torch.Tensor) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.contiguous().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def load_data(cfg: DataConfig, device: torch.device | str = "cpu") -> SplitData:
    """Load ``cfg.dataset``, hold out the validation split, subset if asked, move to ``device``."""
    train_full, test, source = _load_raw(cfg)
    if cfg.official_cifar10_stats and cfg.dataset == "cifar10":
        mean, std = OFFICIAL_CIFAR_STATS
    else:
        mean, std = STATS[cfg.dataset]
    return assemble(cfg, train_full, test, (mean, std), NUM_CLASSES[cfg.dataset], source, device)


def assemble(
    cfg: DataConfig,
    train_full: Split,
    test: Split,
    stats: tuple[tuple[float, ...], tuple[float, ...]],
    num_classes: int,
    source: Path,
    device: torch.device | str = "cpu",
) -> SplitData:
    """Check the sizes, hold out the validation split (fixed ``split_seed``), subset, move to ``device``.

    ``stats`` are the per-channel mean and std on the 0..1 scale.
    """
    check_sizes(cfg, len(train_full), len(test))
    train_idx, val_idx = hold_out(cfg, len(train_full))
    train = Split(train_full.images[train_idx], train_full.labels[train_idx])
    val = Split(train_full.images[val_idx], train_full.labels[val_idx])
    if cfg.test_subset:
        test = Split(test.images[: cfg.test_subset], test.labels[: cfg.test_subset])
    if cfg.selection == "test":
        val = test
    check_classes(cfg.dataset, {"train": train.labels, "validation": val.labels, "test": test.labels})
    as_255 = lambda v: torch.tensor(v, dtype=torch.float32).view(1, -1, 1, 1) * 255  # noqa: E731
    dev = torch.device(device)
    mean, std = stats
    return SplitData(
        train=train.to(dev),
        val=val.to(dev),
        test=test.to(dev),
        num_classes=num_classes,
        mean=as_255(mean).to(dev),
        std=as_255(std).to(dev),
        fingerprint=_fingerprint(train.images, train.labels, val.images, val.labels, test.images, test.labels),
        source=str(Path(source).resolve()),
    )


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images [N, C, H, W], on the 0..1 scale."""
    x = images.double() / 255
    return tuple(x.mean(dim=(0, 2, 3)).tolist()), tuple(x.std(dim=(0, 2, 3)).tolist())


# ---------------------------------------------------------------- per-epoch plan and augmentation
@dataclass
class EpochPlan:
    order: torch.Tensor  # permutation of train indices
    shifts: torch.Tensor  # [N, 2] crop offsets in 0..2*pad, indexed by sample index
    flips: torch.Tensor  # [N] bool, indexed by sample index


def epoch_plan(n: int, seed: int, epoch: int, pad: int) -> EpochPlan:
    """Batch order and per-sample augmentation: a pure function of (seed, epoch, sample index)."""
    gen = torch.Generator().manual_seed(derive_seed("akd-epoch", seed, epoch))
    order = torch.randperm(n, generator=gen)
    shifts = torch.randint(0, 2 * pad + 1, (n, 2), generator=gen)
    flips = torch.rand(n, generator=gen) < 0.5
    return EpochPlan(order, shifts, flips)


def augment(images: torch.Tensor, shifts: torch.Tensor, flips: torch.Tensor | None, pad: int) -> torch.Tensor:
    """Batched random crop (zero padding ``pad``) and horizontal flip of uint8 [B, C, H, W].

    ``flips`` None means no flipping; with ``pad`` 0 too the images pass through untouched.
    """
    if pad == 0 and flips is None:
        return images
    b, _, h, w = images.shape
    padded = F.pad(images, (pad, pad, pad, pad))
    dev = images.device
    rows = shifts[:, 0].to(dev)[:, None] + torch.arange(h, device=dev)  # [B, H]
    cols = shifts[:, 1].to(dev)[:, None] + torch.arange(w, device=dev)  # [B, W]
    if flips is not None:
        cols = torch.where(flips.to(dev)[:, None], cols.flip(1), cols)
    batch = torch.arange(b, device=dev)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # [B, H, W, C]
    return out.permute(0, 3, 1, 2).contiguous()


def normalize(images: torch.Tensor, data: SplitData) -> torch.Tensor:
    return (images.float() - data.mean) / data.std


def train_batches(data: SplitData, cfg: DataConfig, seed: int, epoch: int, batch_size: int):
    """Yield (sample indices, normalised augmented images, labels) for each batch of an epoch.

    The one place training inputs are made: the training loop and the teacher-output cache both
    call it, so a cached teacher sees exactly the tensors a live one would. The plan moves to the
    data's device once per epoch; a final batch of one sample is skipped (BatchNorm cannot train
    on it).
    """
    dev = data.train.images.device
    plan = epoch_plan(len(data.train), seed, epoch, cfg.pad)
    order, shifts = plan.order.to(dev), plan.shifts.to(dev)
    flips = plan.flips.to(dev) if cfg.flip else None
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        if len(idx) < 2:
            continue
        batch_flips = flips[idx] if flips is not None else None
        x = normalize(augment(data.train.images[idx], shifts[idx], batch_flips, cfg.pad), data)
        yield idx, x, data.train.labels[idx]
