"""A frozen model's logits for the training batches of one seed: run live, or read from the cache.

The engine asks a :class:`FrozenLogits` for each batch's teacher (or TA) logits. Without a cache
the model runs on the batch (eval mode, ``torch.inference_mode``). With a cache, at the start of
each epoch the whole epoch's logits are looked up by (weights, data, augmentation, seed, epoch,
...) and, on a miss, computed once over the very batches training will see
(``akd.data.train_batches``) and stored; every later run with that seed reads them. In fp32 the
student then trains on bit-identical logits either way.

Counters (logged to MLflow per run): ``images`` passed through the model, epochs ``computed``
by running it (live or filling the cache) and epochs served ``cached``.
"""

from __future__ import annotations

import torch
from torch import nn
from tqdm.auto import tqdm

from akd.cache import LogitCache, state_digest
from akd.config import DataConfig
from akd.data import SplitData, train_batches
from akd.runtime import Runtime


def stream_identity(
    digest: str, role: str, arch: str, data: SplitData, data_cfg: DataConfig, seed: int, batch_size: int, rt: Runtime
) -> dict:
    """Everything but the epoch that changes a frozen model's logits on the training batches."""
    return {
        "role": role,
        "arch": arch,
        "weights": digest,
        "dataset": data_cfg.dataset,
        "data": data.fingerprint,
        "normalize": [data.mean.flatten().tolist(), data.std.flatten().tolist()],
        "augment": {"pad": data_cfg.pad, "flip": data_cfg.flip, "impl": "crop-flip-v1"},
        "seed": seed,
        "batch_size": batch_size,
        "runtime": rt.describe(),
    }


COUNTER_SUFFIXES = ("_forward_images", "_epochs_computed", "_epochs_cached")


def forward_totals(rows: list[dict]) -> dict[str, float]:
    """Sum the teacher/TA forward counters over result rows (e.g. a benchmark's runs)."""
    out: dict[str, float] = {}
    for row in rows:
        for k, v in row.items():
            if k.endswith(COUNTER_SUFFIXES):
                out[k] = out.get(k, 0.0) + v
    return out


class FrozenLogits:
    def __init__(
        self,
        model: nn.Module,
        role: str,
        arch: str,
        data: SplitData,
        data_cfg: DataConfig,
        seed: int,
        batch_size: int,
        rt: Runtime,
        cache: LogitCache | None = None,
    ) -> None:
        model.eval()
        self.forward, self.rt, self.cache = rt.forward_fn(model), rt, cache
        self.data, self.data_cfg, self.seed, self.batch_size = data, data_cfg, seed, batch_size
        self.identity = (
            stream_identity(state_digest(model), role, arch, data, data_cfg, seed, batch_size, rt) if cache else None
        )
        self.role = role
        self.images = self.computed = self.cached = 0
        self._table: torch.Tensor | None = None

    def start_epoch(self, epoch: int) -> None:
        if self.cache is None:
            self.computed += 1
            return
        assert self.identity is not None
        table, computed = self.cache.get(self.identity, epoch, lambda: self._compute_epoch(epoch))
        self.computed += computed
        self.cached += not computed
        self._table = table.to(self.data.train.images.device)  # one transfer per epoch on a GPU

    def batch(self, idx: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """fp32 logits for the batch whose sample indices are ``idx`` and inputs ``x``."""
        if self._table is None:
            return self._run(x)
        return self._table[idx].float()

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), self.rt.autocast():
            out = self.forward(x)
        self.images += len(x)
        return out.float().clone()  # a normal tensor: objectives may use it in any autograd graph

    def _compute_epoch(self, epoch: int) -> torch.Tensor:
        n = len(self.data.train)
        out = torch.zeros(n, self.data.num_classes)
        steps = -(-n // self.batch_size)
        bar = tqdm(total=steps, desc=f"{self.role} logits, epoch {epoch}", unit="batch", leave=False)
        for idx, x, _ in train_batches(self.data, self.data_cfg, self.seed, epoch, self.batch_size):
            out[idx.cpu()] = self._run(self.rt.layout(x)).cpu()
            bar.update()
        bar.close()
        return out

    def counts(self) -> dict[str, float]:
        return {
            f"{self.role}_forward_images": float(self.images),
            f"{self.role}_epochs_computed": float(self.computed),
            f"{self.role}_epochs_cached": float(self.cached),
        }
