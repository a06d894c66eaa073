"""Task metrics, computed locally (no metric downloads), all on a 0-100 scale as papers report them.

Every function takes a model's outputs ``[N, K]`` (or ``[N, 1]`` for regression) and the labels
``[N]``, and returns one float. :data:`METRICS` names them for task declarations.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Metric = Callable[[torch.Tensor, torch.Tensor], float]


def accuracy(outputs: torch.Tensor, labels: torch.Tensor) -> float:
    """Percent of samples whose highest output is their label."""
    correct = int((outputs.argmax(1) == labels).sum())
    return 100.0 * correct / max(1, len(labels))


METRICS: dict[str, Metric] = {"acc": accuracy}
