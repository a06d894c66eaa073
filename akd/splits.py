"""The one way every task holds out its validation split and takes its subsets.

The validation split is drawn from the training data with the fixed ``data.split_seed``
(independent of the run seed, so a teacher trained once never sees any run's validation data),
``data.val_fraction`` of it (none under the official protocol, which selects on the test set);
``train_subset`` and ``val_subset`` then take the first samples of each, and the indices are
returned sorted (sample order). Images (:mod:`akd.data`) and text (:mod:`akd.tasks.text`) call
:func:`hold_out`, and :func:`check_sizes` refuses impossible sizes first.
"""

from __future__ import annotations

import torch

from akd.config import DataConfig
from akd.errors import AkdError


def hold_out(cfg: DataConfig, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(training indices, validation indices) into ``n`` training samples, each sorted."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.split_seed))
    n_val = cfg.val_count(n)  # 0 under the official protocol: select on the test set itself
    val_idx, train_idx = order[:n_val], order[n_val:]
    if cfg.train_subset:
        train_idx = train_idx[: cfg.train_subset]
    if cfg.val_subset:
        val_idx = val_idx[: cfg.val_subset]
    return train_idx.sort().values, val_idx.sort().values


def check_sizes(cfg: DataConfig, n_train_full: int, n_test: int) -> None:
    """Refuse subsets larger than the data, and splits too small to train or select on."""
    n_val = cfg.val_count(n_train_full)
    available = {"train": n_train_full - n_val, "val": n_val, "test": n_test}
    for split, n in available.items():
        asked = getattr(cfg, f"{split}_subset")
        if asked > n and not (split == "val" and cfg.selection == "test"):  # then the test set selects
            raise AkdError(f"data.{split}_subset={asked} exceeds the {n} {split} samples available in {cfg.dataset}")
    sizes = {split: getattr(cfg, f"{split}_subset") or n for split, n in available.items()}
    if sizes["train"] < 2:
        raise AkdError(f"the training split has {sizes['train']} sample(s): a training step needs at least 2")
    if sizes["test"] < 1 or (cfg.selection == "val" and sizes["val"] < 1):
        raise AkdError(
            f"the validation or test split is empty ({sizes['val']} val, {sizes['test']} test samples): "
            "raise data.val_fraction or the subsets"
        )


def check_classes(dataset: str, labels: dict[str, torch.Tensor]) -> None:
    """Refuse a split that is scored but holds one class: every model scores 100 % on it, which says
    nothing (the whole dataset, a wrong label column, or a subset cut from sorted files)."""
    for split, y in labels.items():
        found = torch.unique(y)
        if len(y) and len(found) < 2:
            raise AkdError(
                f"{dataset}: the {split} split holds one class only (label {found[0].item()}, {len(y)} samples); "
                "a scored split needs at least 2 (check the labels, or shuffle files sorted by class)"
            )
