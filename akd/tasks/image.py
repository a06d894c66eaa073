"""Image classification: CIFAR-10, CIFAR-100 and Fashion-MNIST as device-resident uint8 tensors.

The splits, the seeded validation hold-out and the batched crop/flip live in :mod:`akd.data`; this
module puts them behind the :class:`~akd.tasks.base.Task` contract and registers the datasets.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from akd.config import BenchConfig, DataConfig
from akd.data import NUM_CLASSES, SplitData, load_data, normalize, train_batches
from akd.errors import AkdError
from akd.models import build_model
from akd.registry import IMAGE_MODELS, TASKS
from akd.tasks.base import SplitName, Task, TaskSpec, TrainBatch
from akd.tasks.metrics import accuracy


class ImageTask(Task):
    metrics_fns = {"acc": accuracy}
    selection_metric = "acc"

    def __init__(self, data_cfg: DataConfig, data: SplitData) -> None:
        self.cfg, self.data = data_cfg, data
        self.name = data_cfg.dataset
        self.num_outputs = data.num_classes
        self.fingerprint, self.source = data.fingerprint, data.source

    @property
    def augmented(self) -> bool:
        return self.cfg.pad > 0 or self.cfg.flip

    def _split(self, split: SplitName):
        return {"train": self.data.train, "val": self.data.val, "test": self.data.test}[split]

    def size(self, split: SplitName) -> int:
        return len(self._split(split))

    def steps_per_epoch(self, batch_size: int) -> int:
        n = self.size("train")
        return n // batch_size + (n % batch_size > 1)  # a last batch of one sample is skipped

    def train_batches(self, seed: int, epoch: int, batch_size: int) -> Iterator[TrainBatch]:
        return train_batches(self.data, self.cfg, seed, epoch, batch_size)

    def eval_batches(self, split: SplitName, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        part = self._split(split)
        for i in range(0, len(part), batch_size):
            yield normalize(part.images[i : i + batch_size], self.data), part.labels[i : i + batch_size]

    def build_model(self, arch: str) -> nn.Module:
        return build_model(arch, self.data.in_channels, self.num_outputs)

    def identity(self) -> dict[str, Any]:
        d = self.data
        return {
            "dataset": self.name,
            "data": d.fingerprint,
            "normalize": [d.mean.flatten().tolist(), d.std.flatten().tolist()],
            "augment": {"pad": self.cfg.pad, "flip": self.cfg.flip, "impl": "crop-flip-v1"},
        }

    def example_inputs(self, batch_size: int, device: torch.device) -> torch.Tensor:
        return torch.randn((batch_size, *self.data.train.images.shape[1:]), device=device)


def _check(cfg: BenchConfig) -> None:
    for role in ("teacher", "ta", "student"):
        if getattr(cfg, role) not in IMAGE_MODELS:
            raise AkdError(
                f"unknown {role} model {getattr(cfg, role)!r}; choose one of: {', '.join(IMAGE_MODELS.names())}"
            )
    if not 0 <= cfg.data.pad <= 16:
        raise AkdError(f"data.pad must be in 0..16 pixels (0 = no random crop), got {cfg.data.pad}")


def _load(cfg: BenchConfig, device: torch.device) -> ImageTask:
    return ImageTask(cfg.data, load_data(cfg.data, device))


for _name in NUM_CLASSES:
    TASKS.add(_name, TaskSpec(load=_load, check=_check))
