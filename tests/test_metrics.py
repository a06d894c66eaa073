"""Task metrics against values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from akd.tasks.metrics import (
    METRICS,
    accuracy,
    f1,
    f1_macro,
    f1_weighted,
    glue_score,
    mcc,
    metric_problem,
    pearson,
    pearson_spearman,
    spearman,
)


def one_hot(classes: list[int], k: int = 2) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor(classes), k).float()


# predictions 1 1 0 0 1 1 against labels 1 0 0 1 1 1: TP 3, FP 1, TN 1, FN 1
PRED, GOLD = one_hot([1, 1, 0, 0, 1, 1]), torch.tensor([1, 0, 0, 1, 1, 1])


def test_accuracy_and_f1():
    assert accuracy(PRED, GOLD) == pytest.approx(100 * 4 / 6)
    # precision 3/4, recall 3/4 -> F1 0.75
    assert f1(PRED, GOLD) == pytest.approx(75.0)


def test_matthews_correlation():
    # (TP*TN - FP*FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)) = (3 - 1) / sqrt(4 * 4 * 2 * 2) = 0.25
    assert mcc(PRED, GOLD) == pytest.approx(25.0)
    assert mcc(one_hot([1, 1, 1]), torch.tensor([1, 0, 1])) == 0.0  # a constant prediction


def test_correlations():
    pred, gold = torch.tensor([[1.0], [2.0], [3.0], [5.0]]), torch.tensor([1.0, 3.0, 2.0, 4.0])
    # Pearson: means 2.75 and 2.5; deviations (-1.75, -.75, .25, 2.25) and (-1.5, .5, -.5, 1.5);
    # covariance sum 2.625 - .375 - .125 + 3.375 = 5.5; norms sqrt(8.75) and sqrt(5)
    r = 5.5 / math.sqrt(8.75 * 5)
    assert pearson(pred, gold) == pytest.approx(100 * r)
    # Spearman: ranks (1, 2, 3, 4) vs (1, 3, 2, 4): 1 - 6 * (0 + 1 + 1 + 0) / (4 * 15) = 0.8
    assert spearman(pred, gold) == pytest.approx(80.0)
    assert pearson_spearman(pred, gold) == pytest.approx(50 * r + 40)
    assert pearson(torch.ones(3, 1), torch.tensor([1.0, 2.0, 3.0])) == 0.0  # constant: no correlation
    assert set(METRICS) == {"acc", "f1", "f1_macro", "f1_weighted", "mcc", "pearson", "spearman", "corr"}


def test_glue_score_is_the_mean_of_reported_metrics():
    # the paper's DistilRoBERTa Annealing-KD row: 84.56
    row = {"cola": 61.67, "rte": 73.64, "mrpc": 90.6, "stsb": 89.01, "sst2": 93.11, "qnli": 91.64, "qqp": 91.5}
    row["mnli"] = 85.34
    assert glue_score(row) == pytest.approx(84.56, abs=0.005)


def test_multiclass_f1_by_hand():
    # labels 0 0 0 1 1 2, predictions 0 0 1 1 2 2
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    outputs = torch.nn.functional.one_hot(torch.tensor([0, 0, 1, 1, 2, 2]), 3).float()
    # class 0: P 2/2, R 2/3 -> F1 0.8; class 1: P 1/2, R 1/2 -> 0.5; class 2: P 1/2, R 1/1 -> 2/3
    per_class = [0.8, 0.5, 2 / 3]
    assert f1_macro(outputs, labels) == pytest.approx(100 * sum(per_class) / 3)
    assert f1_weighted(outputs, labels) == pytest.approx(100 * (3 * 0.8 + 2 * 0.5 + 1 * 2 / 3) / 6)
    assert METRICS["f1_macro"] is f1_macro and METRICS["f1_weighted"] is f1_weighted


@pytest.mark.parametrize(
    ("name", "num_labels", "ok"),
    [("f1", 2, True), ("f1", 3, False), ("f1_macro", 3, True), ("mcc", 5, True), ("acc", 1, False),
     ("pearson", 1, True), ("pearson", 2, False), ("corr", 1, True), ("f1_weighted", 1, False)],
)  # fmt: skip
def test_a_metric_that_cannot_score_the_task_is_named(name, num_labels, ok):
    assert (metric_problem(name, num_labels) is None) == ok
