"""Paper-layout tables (akd.report.tables): cells by hand, 'not run' never filled in, LaTeX structure."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest

from akd.report.tables import Column, build, mean_interval, reproduced, to_latex, to_markdown, wide


def _runs():
    rows = [("nokd", 80.0), ("annealing", 82.0)]
    data = [
        {
            "benchmark": "c",
            "variant": "p",
            "dataset": "cifar10",
            "run": r,
            "seed": s,
            "metric": "acc",
            "test_acc": v + s,
        }
        for r, v in rows
        for s in range(3)
    ]
    # a task reported by another metric, and a run of another variant that must not count
    data += [
        {
            "benchmark": "c",
            "variant": "p",
            "dataset": "rte",
            "run": "nokd",
            "seed": 0,
            "metric": "mcc",
            "test_acc": 0.0,
            "test_mcc": 55.0,
        }
    ]
    data += [
        {
            "benchmark": "c",
            "variant": "q",
            "dataset": "cifar10",
            "run": "nokd",
            "seed": 0,
            "metric": "acc",
            "test_acc": 10.0,
        }
    ]
    return pd.DataFrame(data)


COLUMNS = [
    Column("CIFAR-10", "c", "p", "cifar10", {"nokd": 88.44, "annealing": 89.44, "teacher": 93.8}),
    Column("RTE", "c", "p", "rte", {"nokd": 67.9, "annealing": 73.64}),
]


def test_mean_interval_by_hand():
    """80, 81, 82: mean 81, s = 1, t(0.975, 2) = 4.302653: half-width 4.302653 / sqrt(3) = 2.484138."""
    mean, half = mean_interval([80.0, 81.0, 82.0])
    assert mean == 81.0 and half == pytest.approx(2.484138, abs=1e-6)
    assert math.isnan(mean_interval([5.0])[1])


def test_cells_hold_paper_and_reproduced_numbers_and_not_run():
    long = build(_runs(), COLUMNS, score=True).set_index(["row", "column"])
    nokd = long.loc[("nokd", "CIFAR-10")]
    assert (nokd["paper"], nokd["mean"], nokd["n"]) == (88.44, 81.0, 3)  # variant q left out
    assert long.loc[("nokd", "RTE"), "mean"] == 55.0  # the task's own metric (mcc), not accuracy
    assert long.loc[("kd", "CIFAR-10"), "n"] == 0 and math.isnan(long.loc[("kd", "CIFAR-10"), "mean"])
    assert long.loc[("nokd", "Score"), "mean"] == pytest.approx((81.0 + 55.0) / 2)
    assert long.loc[("nokd", "Score"), "paper"] == pytest.approx((88.44 + 67.9) / 2)
    assert math.isnan(long.loc[("annealing", "Score"), "mean"])  # RTE not run: no score, never a guess
    text = wide(build(_runs(), COLUMNS))
    assert text.loc["No-KD", ("CIFAR-10", "Ours")] == "81.00 ± 2.48 (n=3)"
    assert text.loc["KD", ("CIFAR-10", "Ours")] == "not run" and text.loc["KD", ("CIFAR-10", "Paper")] == "—"
    assert text.loc["No-KD", ("RTE", "Ours")] == "55.00 (n=1)"
    assert reproduced({"n": 0, "mean": math.nan, "half": math.nan}) == "not run"


def test_markdown_layout():
    md = to_markdown(build(_runs(), COLUMNS), "CIFAR")
    lines = md.splitlines()
    assert lines[2] == "| Method | CIFAR-10: paper | CIFAR-10: ours | RTE: paper | RTE: ours |"
    assert "| Annealing-KD | 89.44 | 83.00 ± 2.48 (n=3) | 73.64 | not run |" in lines


def test_latex_is_booktabs_with_the_expected_cells():
    tex = to_latex(build(_runs(), COLUMNS, score=True), "Test accuracy", "tab:cifar")
    assert tex.count(r"\begin{tabular}") == tex.count(r"\end{tabular}") == 1
    assert tex.count(r"\begin{table}") == tex.count(r"\end{table}") == 1
    order = [tex.index(k) for k in (r"\toprule", r"\midrule", r"\bottomrule")]
    assert order == sorted(order)
    spec = re.search(r"\\begin\{tabular\}\{(\w+)\}", tex).group(1)
    body = tex[tex.index(r"\midrule") + len(r"\midrule") : tex.index(r"\bottomrule")].strip().splitlines()
    assert len(body) == 6  # teacher, TA, no-KD, KD, TAKD, Annealing-KD
    for line in body:
        assert line.endswith(r"\\") and line.count("&") == len(spec) - 1  # every row fills every column
    assert r"No-KD & 88.44 & 81.00 $\pm$ 2.48 (n=3) & 67.90 & 55.00 (n=1) & 78.17 & 68.00 (n=1) \\" in body
    assert r"\multicolumn{2}{c}{CIFAR-10}" in tex and r"\caption{Test accuracy}" in tex and r"\label{tab:cifar}" in tex
    assert "±" not in tex and "—" not in tex  # LaTeX-safe
    assert tex.count("{") == tex.count("}")


def test_fidelity_table_means_and_not_recorded():
    from akd.report.tables import fidelity, fidelity_markdown

    runs = _runs()
    runs["test_agreement"] = [90.0, 92.0, 94.0, 95.0, 96.0, 97.0, float("nan"), float("nan")]
    runs["test_kl_teacher"] = [0.2, 0.3, 0.4, 0.1, 0.1, 0.1, float("nan"), float("nan")]
    frame = fidelity(runs).set_index(["variant", "dataset", "run"])
    nokd = frame.loc[("p", "cifar10", "nokd")]
    assert (nokd["value"], nokd["agreement"], nokd["kl_teacher"], nokd["n"]) == (81.0, 92.0, pytest.approx(0.3), 3)
    assert frame.loc[("p", "rte", "nokd"), "value"] == 55.0 and math.isnan(frame.loc[("p", "rte", "nokd"), "agreement"])
    assert list(fidelity(runs)["run"][:2]) == ["nokd", "annealing"]  # the paper's row order
    md = fidelity_markdown(fidelity(runs), "f")
    assert "| c / p / cifar10 | Annealing-KD | acc 83.00 | 96.00 | 0.1000 | 3 |" in md
    assert "| c / p / rte | No-KD | mcc 55.00 | not recorded | not recorded | 1 |" in md
