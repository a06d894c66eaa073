"""Task metrics, computed locally with scikit-learn and scipy (no metric downloads).

Every metric takes a model's outputs ``[N, K]`` (``[N, 1]`` for regression) and the labels ``[N]``
and returns one float on a 0-100 scale, as the GLUE tables report them. :data:`METRICS` names
them for task declarations; :func:`glue_score` averages the paper's per-task metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

Metric = Callable[[torch.Tensor, torch.Tensor], float]


def _classes(outputs: torch.Tensor, labels: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    return outputs.argmax(1).cpu().numpy(), labels.cpu().numpy()


def _values(outputs: torch.Tensor, labels: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    return outputs.reshape(-1).double().cpu().numpy(), labels.reshape(-1).double().cpu().numpy()


def accuracy(outputs: torch.Tensor, labels: torch.Tensor) -> float:
    """Percent of samples whose highest output is their label."""
    correct = int((outputs.argmax(1) == labels).sum())
    return 100.0 * correct / max(1, len(labels))


def _f1(outputs: torch.Tensor, labels: torch.Tensor, **how: Any) -> float:
    from sklearn.metrics import f1_score

    return 100.0 * float(f1_score(*reversed(_classes(outputs, labels)), zero_division=0, **how))


def f1(outputs: torch.Tensor, labels: torch.Tensor) -> float:
    """F1 of class 1 (the positive class: a paraphrase, a duplicate), x100 (MRPC, QQP)."""
    return _f1(outputs, labels, pos_label=1)


def f1_macro(outputs: torch.Tensor, labels: torch.Tensor) -> float:
    """F1 of each class, averaged with equal weights, x100 (multi-class sentiment, e.g. SemEval tweets)."""
    return _f1(outputs, labels, average="macro")


def f1_weighted(outputs: torch.Tensor, labels: torch.Tensor) -> float:
    """F1 of each class, averaged with weights by its count among the labels, x100."""
    return _f1(outputs, labels, average="weighted")


def mcc(outputs: torch.Tensor, labels: torch.Tensor) -> float:
    """Matthews correlation x100 (CoLA); 0 when a prediction or the labels are constant."""
    from sklearn.metrics import matthews_corrcoef

    return 100.0 * float(matthews_corrcoef(*reversed(_classes(outputs, labels))))


def _correlation(kind: str, outputs: torch.Tensor, labels: torch.Tensor) -> float:
    from scipy import stats

    pred, gold = _values(outputs, labels)
    if np.ptp(pred) == 0 or np.ptp(gold) == 0:  # undefined for a constant: count it as no correlation
        return 0.0
    fn = stats.pearsonr if kind == "pearson" else stats.spearmanr
    return 100.0 * float(fn(pred, gold)[0])


def pearson(outputs: torch.Tensor, labels: torch.Tensor) -> float:
    """Pearson correlation x100 (STS-B's reported metric)."""
    return _correlation("pearson", outputs, labels)


def spearman(outputs: torch.Tensor, labels: torch.Tensor) -> float:
    """Spearman rank correlation x100."""
    return _correlation("spearman", outputs, labels)


BINARY = {"f1"}  # defined for two classes only
CLASSES = {"acc", "f1", "f1_macro", "f1_weighted", "mcc"}  # of predicted classes: not for regression
VALUES = {"pearson", "spearman", "corr"}  # of real values: regression only


def metric_problem(name: str, num_labels: int) -> str | None:
    """Why metric ``name`` cannot score a task with ``num_labels`` labels (1 = regression), or None."""
    if num_labels == 1 and name in CLASSES:
        return f"{name} scores classes and this task is a regression (num_labels = 1); use pearson, spearman or corr"
    if num_labels > 1 and name in VALUES:
        return f"{name} scores real values and this task has {num_labels} classes; use acc, f1_macro or mcc"
    if num_labels > 2 and name in BINARY:
        return f"{name} is the F1 of class 1 of two; with {num_labels} classes use f1_macro or f1_weighted"
    return None


def pearson_spearman(outputs: torch.Tensor, labels: torch.Tensor) -> float:
    """(Pearson + Spearman) / 2, x100: what the official code selects STS-B checkpoints on."""
    return (pearson(outputs, labels) + spearman(outputs, labels)) / 2


METRICS: dict[str, Metric] = {
    "acc": accuracy,
    "f1": f1,
    "f1_macro": f1_macro,
    "f1_weighted": f1_weighted,
    "mcc": mcc,
    "pearson": pearson,
    "spearman": spearman,
    "corr": pearson_spearman,
}


def glue_score(per_task: dict[str, float]) -> float:
    """The paper's GLUE score: the mean over tasks of each task's reported metric
    (CoLA MCC, MRPC F1, STS-B Pearson, MNLI-m accuracy, accuracy otherwise)."""
    return float(np.mean(list(per_task.values()))) if per_task else float("nan")
