"""Paper-layout tables (akd.report.tables): cells by hand, 'not run' never filled in, captions that say
what the numbers are (t interval, n, epochs), a real minus, empty rows and columns left out, budgets marked."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest

from akd.report import latex
from akd.report.tables import (
    Task,
    build,
    caption,
    fidelity,
    fidelity_latex,
    fidelity_markdown,
    grid,
    mean_interval,
    reproduced,
    to_latex,
    to_markdown,
)
from akd.stats import StatsError

METHODS = ("teacher", "ta", "nokd", "kd", "takd", "annealing")


def _row(dataset: str, run: str, seed: int, value: float, metric: str = "acc", epochs: float = 10.0, **kw) -> dict:
    return {"benchmark": "c", "variant": "p", "dataset": dataset, "run": run, "seed": seed, "metric": metric} | {
        f"test_{metric}": value,
        "epochs": epochs,
        **kw,
    }


def _runs() -> pd.DataFrame:
    data = [_row("cifar10", r, s, v + s) for r, v in (("nokd", 80.0), ("annealing", 82.0)) for s in range(3)]
    data.append(_row("rte", "nokd", 0, 55.0, metric="mcc"))  # a task reported by another metric
    data.append(_row("cifar10", "nokd", 0, 10.0) | {"variant": "q"})  # another variant: must not count
    return pd.DataFrame(data)


TASKS = [
    Task("CIFAR-10", "c", "p", "cifar10", {"nokd": 88.44, "annealing": 89.44, "teacher": 93.8}),
    Task("RTE", "c", "p", "rte", {"nokd": 67.9, "annealing": 73.64}),
]


def _body(tex: str) -> list[str]:
    return [line for line in tex[tex.index(r"\midrule") : tex.index(r"\bottomrule")].splitlines() if "&" in line]


def test_mean_interval_by_hand():
    """80, 81, 82: mean 81, s = 1, t(0.975, 2) = 4.302653: half-width 4.302653 / sqrt(3) = 2.484138."""
    mean, half = mean_interval([80.0, 81.0, 82.0])
    assert mean == 81.0 and half == pytest.approx(2.484138, abs=1e-6)
    assert math.isnan(mean_interval([5.0])[1])


def test_cells_hold_paper_and_reproduced_numbers_and_not_run():
    long = build(_runs(), TASKS, score=True).set_index(["task", "method"])
    nokd = long.loc[("CIFAR-10", "nokd")]
    assert (nokd["paper"], nokd["mean"], nokd["n"], nokd["epochs"]) == (88.44, 81.0, 3, 10.0)  # variant q left out
    assert long.loc[("RTE", "nokd"), "mean"] == 55.0  # the task's own metric (mcc), not accuracy
    assert long.loc[("CIFAR-10", "kd"), "n"] == 0 and math.isnan(long.loc[("CIFAR-10", "kd"), "mean"])
    assert long.loc[("Score", "nokd"), "mean"] == pytest.approx((81.0 + 55.0) / 2)
    assert long.loc[("Score", "nokd"), "paper"] == pytest.approx((88.44 + 67.9) / 2)
    assert math.isnan(long.loc[("Score", "annealing"), "mean"])  # RTE not run: no score, never a guess
    g = grid(build(_runs(), TASKS))
    rows = {(r[0], r[1]): r[2:] for r in g.rows}
    assert g.header == ["Task", "", "Teacher", "No-KD", "Annealing-KD"]  # TA, KD, TAKD: no number at all
    assert rows[("CIFAR-10", "Ours")] == ["not run", "81.00 ± 2.48", "83.00 ± 2.48"]
    assert rows[("RTE", "Ours")] == ["not run", "55.00", "not run"] and rows[("RTE", "Paper")][0] == "—"
    assert reproduced({"n": 0, "mean": math.nan, "half": math.nan}) == "not run"


def test_score_interval_is_over_the_per_seed_scores():
    data = [
        _row(d, "kd", s, v)
        for d, vals in (("a", (70.0, 72.0, 74.0)), ("b", (80.0, 80.0, 83.0)))
        for s, v in enumerate(vals)
    ]
    long = build(pd.DataFrame(data), [Task("A", "c", "p", "a"), Task("B", "c", "p", "b")], rows=("kd",), score=True)
    score = long[long["task"] == "Score"].iloc[0]
    assert (score["mean"], score["half"]) == pytest.approx(mean_interval([75.0, 76.0, 78.5]))
    alone = build(pd.DataFrame(data[:3]), [Task("A", "c", "p", "a")], rows=("kd",), score=True)
    assert list(alone["task"]) == ["A"]  # a score over one task would only repeat its row


def test_a_non_finite_value_is_refused_naming_the_run():
    runs = pd.DataFrame([_row("cifar10", "kd", 0, 80.0), _row("cifar10", "kd", 1, float("nan"))])
    with pytest.raises(StatsError, match="c p cifar10 kd"):
        build(runs, TASKS[:1])


def test_markdown_layout_tasks_as_rows():
    lines = to_markdown(build(_runs(), TASKS), "CIFAR").splitlines()
    assert lines[2] == "| Task |  | Teacher | No-KD | Annealing-KD |"
    assert "| CIFAR-10 | Ours | not run | 81.00 ± 2.48 | 83.00 ± 2.48 |" in lines
    assert "| RTE | Paper | — | 67.90 | 73.64 |" in lines


def test_latex_is_booktabs_with_the_expected_cells():
    tex = to_latex(build(_runs(), TASKS, score=True), "Test accuracy", "tab:cifar")
    env = "table*" if r"\begin{table*}" in tex else "table"
    assert tex.count(rf"\begin{{{env}}}") == tex.count(rf"\end{{{env}}}") == 1
    assert tex.count(r"\begin{tabular}") == tex.count(r"\end{tabular}") == 1
    order = [tex.index(k) for k in (r"\toprule", r"\midrule", r"\bottomrule")]
    assert order == sorted(order)
    spec = re.search(r"\\begin\{tabular\}\{(\w+)\}", tex).group(1)
    body = _body(tex)
    assert len(body) == 6  # CIFAR-10, RTE and the score, each paper and ours
    for line in body:
        assert line.endswith(r"\\") and line.count("&") == len(spec) - 1  # every row fills every column
    assert r"CIFAR-10 & Ours & not run & 81.00 $\pm$ 2.48 & 83.00 $\pm$ 2.48 \\" in body
    assert r"\caption{Test accuracy." in tex and r"\label{tab:cifar}" in tex
    assert "±" not in tex and "—" not in tex and "%" not in tex.replace(r"\%", "")  # LaTeX-safe


def test_latex_prints_a_true_minus():
    runs = pd.DataFrame([_row("cola", "kd", s, v, metric="mcc") for s, v in enumerate((-0.9, -0.5, -0.2))])
    long = build(runs, [Task("CoLA", "c", "p", "cola", {"kd": -1.25})])
    tex, md = to_latex(long, "Matthews", "tab:m"), to_markdown(long, "Matthews")
    assert r"$-$0.53 $\pm$" in tex and r"$-$1.25" in tex
    assert not re.search(r"(?<![\w$])-\d", tex)  # no hyphen-minus before a number
    assert "−0.53 ± " in md and "-0.53" not in md


def test_caption_states_the_t_interval_and_n_once_and_no_cell_carries_n():
    runs = _runs()
    runs = pd.concat([runs, pd.DataFrame([_row("cifar10", "teacher", 0, 93.0)])], ignore_index=True)
    long = build(runs, TASKS)
    text = caption(long, "Test accuracy")
    assert "95 % t interval, n = 3" in text and text.count("n = 3") == 1
    assert "Teacher: n = 1" in text and "No-KD on RTE: n = 1" in text  # the exceptions, named
    g = grid(long)
    assert not any("(n=" in c or "n =" in c for row in g.rows for c in row)
    md, tex = to_markdown(long, "Test accuracy"), to_latex(long, "Test accuracy", "tab:t")
    assert "(n=" not in md and "(n=" not in tex and "t interval" in tex
    assert list(long.columns[:6]) == ["task", "kind", "benchmark", "variant", "dataset", "method"]
    assert {"n", "epochs", "mean", "half", "paper"} <= set(long.columns)  # the CSV keeps every number


def test_columns_and_rows_with_no_number_are_left_out_and_said_so():
    server = Task("Server", "c", "p", "server", {"nokd": 80.0, "annealing": 81.0}, apart=True)
    long = build(_runs(), [*TASKS, server], score=True)
    g = grid(long)
    assert g.header[2:] == ["Teacher", "No-KD", "Annealing-KD"]  # TA, KD, TAKD: never a number
    assert not any(row[2:] and all(c == "not run" for c in row[2:]) for row in g.rows)
    assert ["Server", "Paper", "—", "80.00", "81.00"] == g.rows[-1]  # apart, below the score, paper only
    assert len(g.rules) == 2 and g.rows[g.rules[1]][0] == "Server"
    assert any("TA (TAKD), KD and TAKD" in n for n in g.notes) and any("not run for Server" in n for n in g.notes)
    none_run = build(_runs().iloc[:0], TASKS)  # nothing run: only the paper's rows, and a note
    g = grid(none_run)
    assert g.header[:2] == ["Task", "Teacher"] and [r[0] for r in g.rows] == ["CIFAR-10", "RTE"]  # paper rows only
    assert any("not run for any task" in n for n in g.notes)
    assert caption(none_run, "CIFAR, the paper's number beside ours").startswith("Published numbers only")
    assert not caption(long, "x").startswith("Published")


def test_budget_mark_exactly_where_epochs_differ_and_budgets_as_numbers():
    data = [_row("a", r, s, 80.0 + s, epochs=20.0 if r == "annealing" else 10.0) for r in METHODS[2:] for s in range(3)]
    data += [_row("b", r, s, 80.0 + s, epochs=10.0) for r in METHODS[2:] for s in range(3)]
    data += [_row(d, "teacher", 0, 90.0, epochs=15.0) for d in ("a", "b")]
    long = build(pd.DataFrame(data), [Task("A", "c", "p", "a"), Task("B", "c", "p", "b")])
    g = grid(long)
    marked = [(row[0], g.header[i]) for row in g.rows for i, c in enumerate(row) if c.endswith("†")]
    assert marked == [("A", "Annealing-KD")]
    assert any(n.startswith("† A: Annealing-KD trained for 20 epochs, the other students 10") for n in g.notes)
    text = caption(long, "x")
    assert "Teacher 15" in text and "No-KD, KD, TAKD 10" in text and "Annealing-KD 20 (A), 10 (B)" in text
    assert r"$^\dagger$" in to_latex(long, "x", "tab:x") and "†" in to_markdown(long, "x")


def test_every_fidelity_row_names_its_task():
    runs = _runs()
    runs["test_agreement"] = [90.0, 92.0, 94.0, 95.0, 96.0, 97.0, float("nan"), float("nan")]
    runs["test_kl_teacher"] = [0.2, 0.3, 0.4, 0.1, 0.1, 0.1, float("nan"), float("nan")]
    frame = fidelity(runs).set_index(["variant", "dataset", "run"])
    nokd = frame.loc[("p", "cifar10", "nokd")]
    assert (nokd["value"], nokd["agreement"], nokd["kl_teacher"], nokd["n"]) == (81.0, 92.0, pytest.approx(0.3), 3)
    assert frame.loc[("p", "rte", "nokd"), "value"] == 55.0 and math.isnan(frame.loc[("p", "rte", "nokd"), "agreement"])
    assert list(fidelity(runs)["run"][:2]) == ["nokd", "annealing"]  # the paper's row order
    md = fidelity_markdown(fidelity(runs), "f")
    assert "| cifar10 | c p | Annealing-KD | acc | 83.00 | 96.00 | 0.1000 | 10 | 3 |" in md
    assert "| rte | c p | No-KD | mcc | 55.00 | — | — | 10 | 1 |" in md
    tex = fidelity_latex(fidelity(runs), "f", "tab:f")
    body = _body(tex)
    assert len(body) == 4 and all(line.split(" & ")[0] in ("cifar10", "rte") for line in body)  # q: its own row


def _glue_runs() -> tuple[pd.DataFrame, list[Task]]:
    names = ("cola", "rte", "mrpc", "stsb", "sst2", "qnli", "qqp", "mnli")
    data = [
        _row(f"glue-{t}", r, s, 60.0 + i + s * 1.37 + j, epochs=3.0) | {"benchmark": "glue"}
        for i, t in enumerate(names)
        for j, r in enumerate(METHODS)
        for s in range(3)
    ]
    tasks = [Task(t.upper(), "glue", "p", f"glue-{t}", {r: 80.0 + i for i, r in enumerate(METHODS)}) for t in names]
    tasks.append(Task("GLUE server (test)", "glue", "p", "glue-server", {"nokd": 82.02, "kd": 82.14}, apart=True))
    return pd.DataFrame(data), tasks


def test_glue_table_fits_a_page_with_tasks_as_rows():
    runs, tasks = _glue_runs()
    long = build(runs, tasks, score=True)
    g = grid(long)
    assert len(g.header) == 8  # task, paper/ours, six methods: not 21 columns
    assert [r[0] for r in g.rows].count("RTE") == 2 and g.rows[-1][0] == "GLUE server (test)"
    wide, _ = latex.layout(g.header, g.rows)
    assert latex.width_pt(g.header, g.rows) * 0.8 <= latex.PAGE_IN * 72  # at \footnotesize at most
    tex = to_latex(long, "GLUE", "tab:g")
    assert wide and r"\begin{table*}" in tex and "resizebox" not in tex


def test_a_method_run_only_for_other_tasks_is_no_row_and_no_note_here():
    others = pd.DataFrame([_row("fashion", "dkd", s, 70.0) for s in range(3)])
    long = build(pd.concat([_runs(), others]), TASKS)
    assert "dkd" not in set(long["method"])
    assert "DKD" not in to_markdown(long, "CIFAR")
