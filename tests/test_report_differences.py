"""Paired differences across benchmarks (akd.report.differences): numbers from akd.stats, flags."""

from __future__ import annotations

import pandas as pd
import pytest

from akd.report.differences import comparisons, table, to_latex, to_markdown
from akd.stats import family


def _runs(ann_epochs=20.0, selection="val"):
    rows = []
    for seed, (a, k, n) in enumerate([(86.0, 84.0, 83.0), (87.0, 84.5, 83.5), (86.5, 85.5, 82.0)]):
        for run, value, epochs in (("annealing", a, ann_epochs), ("kd", k, 10.0), ("nokd", n, 10.0)):
            rows.append(
                {
                    "benchmark": "fm",
                    "variant": "cpu",
                    "dataset": "fm",
                    "run": run,
                    "seed": seed,
                    "metric": "acc",
                    "test_acc": value,
                    "epochs": epochs,
                    "selection": selection,
                }
            )
    rows.append(
        {
            "benchmark": "fm",
            "variant": "other",
            "dataset": "fm",
            "run": "kd",
            "seed": 0,
            "metric": "acc",
            "test_acc": 1.0,
            "epochs": 10.0,
            "selection": "val",
        }
    )  # no Annealing-KD there: no line
    return pd.DataFrame(rows)


def test_each_line_is_the_paired_result_of_that_benchmark_and_baseline():
    pairs = comparisons(_runs())
    assert [(info["variant"], info["baseline"]) for info, _ in pairs] == [("cpu", "nokd"), ("cpu", "kd")]
    kd = pairs[1][1]
    ann = {0: 86.0, 1: 87.0, 2: 86.5}
    expected = family(ann, {"nokd": {0: 83.0, 1: 83.5, 2: 82.0}, "kd": {0: 84.0, 1: 84.5, 2: 85.5}})["kd"]
    assert kd == expected and kd.diffs == (2.0, 2.5, 1.0) and kd.family_size == 2
    frame = table(pairs)
    line = frame[frame["baseline"] == "kd"].iloc[0]
    assert line["mean"] == pytest.approx(11 / 6) and line["per_seed"] == "+2.00 +2.50 +1.00"
    # t = (11/6) / (0.7638 / sqrt 3) = 4.157, df 2: p = 0.0533; by hand, scipy's ttest_rel agrees
    assert line["p_t"] == pytest.approx(0.0533, abs=1e-3) and line["prob_improvement"] == 1.0
    assert line["p_sign_flip"] == pytest.approx(0.25) and line["p_sign_flip_floor"] == 0.25
    assert line["interval"] == "95 % t interval, n = 3"
    assert line["verdict"].startswith("not distinguishable at 3 seeds")
    assert line["verdict"].endswith("(not budget-matched: Annealing-KD 20 epochs, KD 10)")
    assert line["flags"] == "unequal budget: Annealing-KD 20 epochs, KD 10"
    assert (line["epochs_reference"], line["epochs_baseline"]) == (20.0, 10.0)


def test_flags_equal_budget_and_test_selection():
    frame = table(comparisons(_runs(ann_epochs=10.0, selection="test")))
    assert set(frame["flags"]) == {"checkpoints selected on the test set"}
    unknown = _runs().assign(epochs=float("nan"))
    assert set(table(comparisons(unknown))["flags"]) == {"epoch budgets not recorded"}


def test_markdown_and_latex_carry_the_lines():
    frame = table(comparisons(_runs()))
    md = to_markdown(frame, "diffs")
    assert "| fm / cpu | accuracy, points | KD | +1.83 [" in md and "unequal budget" in md
    assert "20 vs 10 (unequal)" in md
    assert "95 % t interval, n = 3 seeds" in md.splitlines()[0] and "Holm" in md.splitlines()[0]
    tex = to_latex(frame, "Paired differences", "tab:diff")
    body = tex[tex.index(r"\midrule") : tex.index(r"\bottomrule")]
    assert body.count(r"\\") == 2 and r"fm/cpu & Acc. & KD\rlap{$^\dagger$} & +1.83 [" in body
    assert r"better\rlap{$^\dagger$}" in body  # No-KD: distinguishable, but not budget-matched
    assert "unequal epoch budgets" in tex and "test set" not in tex  # only the marks that occur are explained
    assert "t interval" in tex[: tex.index(r"\toprule")] and "Holm" in tex[: tex.index(r"\toprule")]
    assert tex.index(r"\toprule") < tex.index(r"\midrule") < tex.index(r"\bottomrule")


def test_seeds_better_counts_wins_as_the_summaries_do():
    """A tie is not a win: (0, +0.64, +0.43) is better on 2 of 3 seeds, in the table and in the summary."""
    rows = []
    for seed, (a, k) in enumerate([(75.0, 75.0), (75.64, 75.0), (75.43, 75.0)]):
        for run, value in (("annealing", a), ("takd", k)):
            rows.append(
                {
                    "benchmark": "g",
                    "variant": "cpu",
                    "dataset": "g",
                    "run": run,
                    "seed": seed,
                    "metric": "acc",
                    "test_acc": value,
                    "epochs": 4.0,
                    "selection": "val",
                }
            )
    frame = table(comparisons(pd.DataFrame(rows)))
    assert "| 2 of 3 |" in to_markdown(frame, "x")
