"""A frozen model's outputs for the training batches of one seed: run live, or read from the cache.

The engine asks a :class:`FrozenLogits` for each batch's teacher (or TA) outputs.

- **Augmented tasks** (images with crop or flip): without a cache the model runs on each batch
  (eval mode, ``torch.inference_mode``). With a cache, at the start of each epoch the whole
  epoch's outputs are looked up by (weights, task data, augmentation, seed, epoch, ...) and, on a
  miss, computed once over the very batches training will see (``Task.train_batches``) and
  stored; every later run with that seed reads them.
- **Tasks without augmentation** (text, images with crop and flip off): a training sample's input
  is the same in every epoch, so one pass of the model over the training split, in sample order,
  serves every epoch, method and seed. It is computed once (into the cache when one is on, else
  in memory for the run) and every batch reads its rows.

Either way, in fp32 a student trains on bit-identical teacher outputs with the cache on or off.
Counters (logged to MLflow per run): ``samples`` passed through the model, epochs (or passes)
``computed`` by running it and epochs served ``cached``.
"""

from __future__ import annotations

import weakref

import torch
from torch import nn
from tqdm.auto import tqdm

from akd.cache import LogitCache, state_digest
from akd.runtime import Runtime
from akd.tasks.base import Inputs, Task

COUNTER_SUFFIXES = ("_forward_images", "_epochs_computed", "_epochs_cached")
STATIC_EPOCH = 0  # the one cache entry of a task without augmentation


def stream_identity(
    digest: str, role: str, arch: str, task: Task, seed: int, batch_size: int, eval_batch_size: int, rt: Runtime
) -> dict:
    """Everything but the epoch that changes a frozen model's outputs on the training batches."""
    identity = {"role": role, "arch": arch, "weights": digest, **task.identity(), "runtime": rt.describe()}
    if task.augmented:
        return identity | {"seed": seed, "batch_size": batch_size}
    return identity | {"pass": "sample-order", "batch_size": eval_batch_size}


def forward_totals(rows: list[dict]) -> dict[str, float]:
    """Sum the teacher/TA forward counters over result rows (e.g. a benchmark's runs)."""
    out: dict[str, float] = {}
    for row in rows:
        for k, v in row.items():
            if k.endswith(COUNTER_SUFFIXES):
                out[k] = out.get(k, 0.0) + v
    return out


_DIGESTS: weakref.WeakKeyDictionary[nn.Module, str] = weakref.WeakKeyDictionary()


def frozen_digest(model: nn.Module) -> str:
    """:func:`~akd.cache.state_digest` of a frozen model, hashed once per model object (a sweep's
    trials each build a source from the same teacher); a model that can still train is hashed each time."""
    if any(p.requires_grad for p in model.parameters()):
        return state_digest(model)
    if model not in _DIGESTS:
        _DIGESTS[model] = state_digest(model)
    return _DIGESTS[model]


def freeze(model: nn.Module) -> nn.Module:
    """Eval mode and no gradients: a teacher or TA from here on."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


class FrozenLogits:
    def __init__(
        self,
        model: nn.Module,
        role: str,
        arch: str,
        task: Task,
        seed: int,
        batch_size: int,
        rt: Runtime,
        cache: LogitCache | None = None,
        eval_batch_size: int = 256,
    ) -> None:
        model.eval()
        self.forward, self.rt, self.cache, self.task = rt.forward_fn(model), rt, cache, task
        self.seed, self.batch_size, self.eval_batch_size = seed, batch_size, eval_batch_size
        self.identity = None  # hashing the weights is only needed to key the cache
        if cache is not None:
            digest = frozen_digest(model)
            self.identity = stream_identity(digest, role, arch, task, seed, batch_size, eval_batch_size, rt)
        self.role = role
        self.images = self.computed = self.cached = 0
        self._table: torch.Tensor | None = None
        self._device = next((p.device for p in model.parameters()), torch.device("cpu"))

    def start_epoch(self, epoch: int) -> None:
        if not self.task.augmented:
            if self._table is None:
                self._load(STATIC_EPOCH, self._compute_static)
            return
        if self.cache is None:
            self.computed += 1
            return
        self._load(epoch, lambda: self._compute_epoch(epoch))

    def _load(self, epoch: int, compute) -> None:  # noqa: ANN001
        if self.cache is None:
            table, computed = compute(), True
        else:
            assert self.identity is not None
            table, computed = self.cache.get(self.identity, epoch, compute)
        self.computed += computed
        self.cached += not computed
        self._table = table.to(self._device)  # one transfer per epoch on a GPU

    def batch(self, idx: torch.Tensor, x: Inputs) -> torch.Tensor:
        """fp32 outputs for the batch whose sample indices are ``idx`` and inputs ``x``."""
        if self._table is None:
            return self._run(x)
        return self._table[idx.to(self._table.device)].float()

    def _run(self, x: Inputs) -> torch.Tensor:
        with torch.inference_mode(), self.rt.autocast():
            out = self.forward(x)
        self.images += len(out)
        return out.float().clone()  # a normal tensor: objectives may use it in any autograd graph

    def _table_of(self, batches, steps: int, desc: str) -> torch.Tensor:  # noqa: ANN001
        out = torch.zeros(self.task.size("train"), self.task.num_outputs)
        bar = tqdm(total=steps, desc=desc, unit="batch", leave=False)
        start = 0
        for idx, x in batches:
            rows = self._run(self.rt.layout(x)).cpu()
            out[idx.cpu() if idx is not None else slice(start, start + len(rows))] = rows
            start += len(rows)
            bar.update()
        bar.close()
        return out

    def _compute_epoch(self, epoch: int) -> torch.Tensor:
        batches = ((idx, x) for idx, x, _ in self.task.train_batches(self.seed, epoch, self.batch_size))
        steps = self.task.steps_per_epoch(self.batch_size)
        return self._table_of(batches, steps, f"{self.role} outputs, epoch {epoch}")

    def _compute_static(self) -> torch.Tensor:
        batches = ((None, x) for x, _ in self.task.eval_batches("train", self.eval_batch_size))
        steps = -(-self.task.size("train") // self.eval_batch_size)
        return self._table_of(batches, steps, f"{self.role} outputs, one pass")

    def counts(self) -> dict[str, float]:
        return {
            f"{self.role}_forward_images": float(self.images),
            f"{self.role}_epochs_computed": float(self.computed),
            f"{self.role}_epochs_cached": float(self.cached),
        }
