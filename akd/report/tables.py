"""Paper-layout tables: the paper's number beside the reproduced one, never filled in, ready for a paper.

A table is a list of :class:`Task` (a dataset of one benchmark variant, with the paper's numbers
for it) and the paper's methods (teacher, TA, No-KD, KD, TAKD, Annealing-KD). A reproduced cell is
the mean of the task's reported test metric over seeds with the half-width of its 95 % Student t
interval (:func:`akd.stats.mean_interval`; with 3 seeds t = 4.30: wide, as it should be); a cell
with no runs is "not run". An optional score is the mean over the tasks (the GLUE score), its
interval over the per-seed means where every task has the same seeds; reproduced only where every
task was run. A task ``apart`` (the GLUE server) is set below a rule and is not in the score.

Layout (Markdown and LaTeX alike): **tasks are the rows** (each row names its task: "Paper" and
"Ours" rows per task), the methods the columns, so a table of eight GLUE tasks is eight columns
wide, not 21. A method column with no number at all, a task's "Ours" row that was never run and a
"Paper" row the paper has no number for are left out and said so in a note below the table. The
caption states once what the numbers are, the interval's method and n (exceptions named) and each
method's epoch budget; a student trained for a different number of epochs than the other students
of its task is marked † and the note gives both budgets. The CSV (long: one line per cell) keeps
every number, ``n`` and ``epochs`` included.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from akd import stats
from akd.methods import PAPER_ORDER, ROWS, STUDENTS
from akd.report import latex
from akd.results import LABELS
from akd.stats import interval_label, mean_interval  # mean_interval: also imported from here

# ROWS, STUDENTS: the roles and every method, in report order (the paper's four first, then as registered)
NOT_RUN = "not run"
NO_PAPER = "—"
DAGGER = "†"


@dataclass(frozen=True)
class Task:
    label: str  # the row's name, e.g. "CIFAR-100" or "RTE"
    benchmark: str
    variant: str
    dataset: str
    paper: dict[str, float] = field(default_factory=dict)  # method -> the paper's number
    apart: bool = False  # below a rule, outside the score (the GLUE test server)


def _values(runs: pd.DataFrame, t: Task, method: str) -> pd.DataFrame:
    return runs[
        (runs["benchmark"] == t.benchmark)
        & (runs["variant"] == t.variant)
        & (runs["dataset"] == t.dataset)
        & (runs["run"] == method)
    ]


def _interval(values: list[float], what: str) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    try:
        return mean_interval(values)
    except stats.StatsError as err:
        raise stats.StatsError(f"{what}: {err}") from None


def _max(part: pd.DataFrame, column: str) -> float:
    return float(part[column].max()) if column in part and part[column].notna().any() else math.nan


def build(runs: pd.DataFrame, tasks: list[Task], rows=None, score: bool = False) -> pd.DataFrame:
    """Long table: one line per (task, method) with paper, mean, half-width, n (0: not run) and epochs;
    with ``score``, a Score line per method (the mean over the tasks, where there are two or more).
    ``rows``: the roles and methods to show (default: the roles, the paper's methods and every method run)."""
    if rows is None:  # the methods run for these tasks (not for other benchmarks in the frame)
        keys = {(t.benchmark, t.variant, t.dataset) for t in tasks}
        mine = [k in keys for k in zip(runs["benchmark"], runs["variant"], runs["dataset"], strict=True)]
        rows = ROWS.present([*ROWS[:2], *PAPER_ORDER, *runs.loc[mine, "run"]])
    out = []
    per_seed: dict[str, list[dict[int, float]]] = {}
    for t in tasks:
        for method in rows:
            part = _values(runs, t, method)
            values = {int(r["seed"]): float(r[f"test_{r['metric']}"]) for _, r in part.iterrows()}
            mean, half = _interval(list(values.values()), f"{t.benchmark} {t.variant} {t.dataset} {method}")
            if not t.apart:
                per_seed.setdefault(method, []).append(values)
            line = {"task": t.label, "kind": "apart" if t.apart else "task", "benchmark": t.benchmark}
            line |= {"variant": t.variant, "dataset": t.dataset, "method": method}
            line["paper"] = t.paper.get(method, math.nan)
            line |= {"mean": mean, "half": half, "n": len(values), "epochs": _max(part, "epochs")}
            if "teacher_forward_images" in runs:
                line["teacher_forward_images"] = _max(part, "teacher_forward_images")
            out.append(line)
    scored = [t for t in tasks if not t.apart]
    if score and len(scored) > 1:  # a score over one task would repeat its row
        for method in rows:
            papers = [t.paper.get(method, math.nan) for t in scored]
            seeds = per_seed.get(method, [])
            complete = bool(seeds) and all(seeds)
            common = set.intersection(*(set(s) for s in seeds)) if complete else set()
            same = complete and all(set(s) == common for s in seeds)
            mean, half = math.nan, math.nan
            if same:  # the score per seed, then its t interval over seeds
                mean, half = mean_interval([sum(s[k] for s in seeds) / len(seeds) for k in sorted(common)])
            elif complete:  # seeds differ between tasks: the mean of the task means, no interval
                mean = sum(sum(s.values()) / len(s) for s in seeds) / len(seeds)
            line = {"task": "Score", "kind": "score", "benchmark": scored[0].benchmark if scored else ""}
            line |= {"variant": scored[0].variant if scored else "", "dataset": "", "method": method}
            line["paper"] = sum(papers) / len(papers) if papers and not any(map(math.isnan, papers)) else math.nan
            n = min(len(s) for s in seeds) if complete else 0
            out.append(line | {"mean": mean, "half": half, "n": n, "epochs": math.nan})
    return pd.DataFrame(out)


# --------------------------------------------------------------------------------- cells and notes
def _num(x: float) -> str:
    return latex.minus(f"{x:.2f}")


def reproduced(line: dict) -> str:
    """``mean ± half``, the mean alone for one seed, or ``not run`` (n is stated in the caption)."""
    if not line["n"]:
        return NOT_RUN
    if math.isnan(line["half"]):
        return _num(line["mean"])
    return f"{_num(line['mean'])} ± {line['half']:.2f}"


def _paper(value: float) -> str:
    return NO_PAPER if math.isnan(value) else _num(value)


def _label(method: str) -> str:
    return LABELS.get(method, method)


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _epochs(x: float) -> str:
    return f"{x:.0f}" if x == int(x) else f"{x:g}"


def budget_marks(long: pd.DataFrame) -> tuple[set[tuple[str, str]], list[str]]:
    """Cells (task, method) of students whose epochs differ from the other students of their task, and why."""
    marked, notes = set(), []
    for task, part in long[(long["kind"] != "score") & (long["n"] > 0)].groupby("task", sort=False):
        ep = {r["method"]: r["epochs"] for r in part.to_dict("records") if r["method"] in STUDENTS}
        known = {m: e for m, e in ep.items() if not math.isnan(e)}
        if len(set(known.values())) < 2:
            continue
        counts = Counter(known.values())
        reference = min(e for e, c in counts.items() if c == max(counts.values()))
        odd = [m for m, e in known.items() if e != reference]
        marked |= {(task, m) for m in odd}
        trained = "; ".join(f"{_label(m)} trained for {_epochs(known[m])} epochs" for m in odd)
        notes.append(f"{DAGGER} {task}: {trained}, the other students {_epochs(reference)}.")
    return marked, notes


def _n_words(long: pd.DataFrame) -> str:
    cells = long[(long["kind"] != "score") & (long["n"] > 0)]
    if cells.empty:
        return ""
    counts = Counter(cells["n"])
    usual = max(counts, key=lambda k: (counts[k], k))
    odd = cells[cells["n"] != usual]
    words = []
    for method, part in odd.groupby("method", sort=False):
        if len(part) == (cells["method"] == method).sum() and part["n"].nunique() == 1:
            words.append(f"{_label(method)}: n = {part['n'].iloc[0]}")
        else:
            words += [f"{_label(method)} on {r['task']}: n = {r['n']}" for r in part.to_dict("records")]
    head = f"Ours: mean ± half-width of the {interval_label(usual)} seeds"
    if len(words) > 4:
        return f"{head} for most cells, n = {cells['n'].min()} to {cells['n'].max()} seeds (the CSV gives each)."
    single = " (the mean alone, no interval)" if (odd["n"] == 1).all() and len(odd) else ""
    return head + (f"; except {_join(words)}{single}." if words else ".")


def _budget_words(long: pd.DataFrame) -> str:
    cells = long[(long["kind"] != "score") & (long["n"] > 0)]
    if cells.empty:
        return ""
    described: dict[str, list[str]] = {}
    for method, part in cells.groupby("method", sort=False):
        groups: dict[str, list[str]] = {}
        for r in part.to_dict("records"):
            groups.setdefault("not recorded" if math.isnan(r["epochs"]) else _epochs(r["epochs"]), []).append(r["task"])
        if len(groups) == 1:
            text = next(iter(groups))
        else:
            text = ", ".join(f"{e} ({', '.join(ts)})" for e, ts in groups.items())
        described.setdefault(text, []).append(_label(method))
    prefix = _common_prefix(list(dict.fromkeys(cells["task"])))
    described = {text.replace(f"({prefix}", "(").replace(f", {prefix}", ", "): m for text, m in described.items()}
    parts = [f"{'every method' if len(described) == 1 else ', '.join(ms)} {text}" for text, ms in described.items()]
    return "Epochs over all stages (Annealing-KD: phase 1 + phase 2): " + "; ".join(parts) + "."


def _common_prefix(labels: list[str]) -> str:
    """The words every task label starts with ("Fashion-MNIST "), left out where the labels are listed."""
    prefix = os.path.commonprefix(labels) if len(labels) > 1 else ""
    return prefix[: prefix.rfind(" ") + 1]


def caption(long: pd.DataFrame, what: str) -> str:
    """``what`` the numbers are, then, once: the interval's method and n, and each method's epochs."""
    words = [what.rstrip(".") + "."]
    if not (long["n"] > 0).any():  # nothing of ours: say so first, not only in a note
        words[0] = "Published numbers only (Jafari et al., EACL 2021), not reproduced here. " + words[0]
    words.append(_n_words(long))
    if long["paper"].notna().any():
        words.append("Paper: the published number.")
    if ((long["kind"] == "score") & (long["n"] > 0)).any():
        words.append("Score: the mean over the tasks, its interval over the per-seed scores.")
    elif (long["kind"] == "score").any():
        words.append("Score: the mean of the published task numbers, computed here.")
    words.append(_budget_words(long))
    return " ".join(w for w in words if w)


@dataclass
class Grid:
    """A table as plain text: header, rows (each naming its task), rows after a rule, notes."""

    header: list[str]
    rows: list[list[str]]
    rules: list[int]
    notes: list[str]


def grid(long: pd.DataFrame) -> Grid:
    """Tasks as rows ("Paper" and "Ours" per task), methods as columns; empty rows and columns left out."""
    kind = dict(zip(long["task"], long["kind"], strict=True))
    order = {"task": 0, "score": 1, "apart": 2}  # the score below the tasks, the apart rows last
    tasks = sorted(dict.fromkeys(long["task"]), key=lambda t: order[kind[t]])
    methods = list(dict.fromkeys(long["method"]))
    cell = {(r["task"], r["method"]): r for r in long.to_dict("records")}
    marked, notes = budget_marks(long)
    has = {(t, m): (not math.isnan(cell[(t, m)]["paper"]), cell[(t, m)]["n"] > 0) for t in tasks for m in methods}
    shown = [m for m in methods if any(any(has[(t, m)]) for t in tasks)]
    gone = [m for m in methods if m not in shown]
    any_paper = any(p for p, _ in has.values())
    lines, rules, no_runs, no_paper = [], [], [], []
    for t in tasks:
        if lines and kind[lines[-1][0]] != kind[t]:  # a rule above the score and above the rows apart
            rules.append(len(lines))
        if any(has[(t, m)][0] for m in shown):
            lines.append([t, "Paper", *[_paper(cell[(t, m)]["paper"]) for m in shown]])
        elif any_paper:
            no_paper.append(t)
        if any(has[(t, m)][1] for m in shown):
            ours = [reproduced(cell[(t, m)]) + (DAGGER if (t, m) in marked else "") for m in shown]
            lines.append([t, "Ours", *ours])
        else:
            no_runs.append(t)
    if gone:
        why = "not reported by the paper and not run" if any_paper else "not run"
        notes.append(f"Left out, having no number ({why}): {_join([_label(m) for m in gone])}.")
    if no_runs and len(no_runs) == len(tasks):
        notes.append(f"Ours: {NOT_RUN} for any task of this table (no runs in the source), so only the paper's rows.")
    elif no_runs:
        notes.append(f"Ours: {NOT_RUN} for {_join(no_runs)}.")
    if no_paper:
        notes.append(f"Paper: no number for {_join(no_paper)}.")
    elif not any_paper:
        notes.append("The paper reports no numbers for these tasks.")
    if any(NO_PAPER in row for row in lines):
        notes.append(f"{NO_PAPER}: not reported by the paper.")
    if any(NOT_RUN in row[2:] for row in lines):
        notes.append(f"“{NOT_RUN}”: no runs of that method for that task.")
    sources = {row[1] for row in lines}
    if len(sources) == 1:  # one kind of row: the caption and notes say which
        lines = [[row[0], *row[2:]] for row in lines]
        header = ["Task", *[_label(m) for m in shown]]
    else:
        header = ["Task", "", *[_label(m) for m in shown]]
    return Grid(header, lines, rules, notes)


def to_markdown(long: pd.DataFrame, what: str) -> str:
    """The table in Markdown: the caption in bold, the notes below."""
    g = grid(long)
    lines = [f"**{caption(long, what)}**", "", "| " + " | ".join(g.header) + " |", "|" + "---|" * len(g.header)]
    lines += ["| " + " | ".join(row) + " |" for row in g.rows]
    return "\n".join(lines + ([""] + g.notes if g.notes else [])) + "\n"


def to_latex(long: pd.DataFrame, what: str, label: str) -> str:
    """A booktabs float (``table`` or ``table*`` as its width needs), everything escaped. Methods are
    columns; where they would not fit the text width even in ``\\footnotesize`` (many methods), the
    table is transposed: methods as rows, one column per task (and per source: paper, ours)."""
    g = grid(long)
    header, rows, rules = list(g.header), [list(r) for r in g.rows], list(g.rules)
    if latex.width_pt(header, rows) * 0.8 > latex.PAGE_IN * 72 * 0.97:
        two = header[1] == ""
        columns = [f"{r[0]} ({r[1]})" if two else r[0] for r in rows]
        first = 2 if two else 1
        header = ["Method", *columns]
        rows = [[name, *[r[first + j] for r in g.rows]] for j, name in enumerate(g.header[first:])]
        rules = []
    align = ("ll" if header[1] == "" else "l") + "r" * sum(1 for h in header[1:] if h)
    return latex.table(header, rows, caption(long, what), label, align, g.notes, rules)


# ---------------------------------------------------------------------------------------- fidelity
def fidelity(runs: pd.DataFrame, methods=STUDENTS) -> pd.DataFrame:
    """Per benchmark, variant, dataset and student method, means over seeds of the reported test
    metric (``value``, named in ``metric``), top-1 agreement with the teacher and KL(teacher ||
    student), with n and the epochs; NaN where a run did not record them (runs made before
    fidelity was measured)."""
    out = []
    for (benchmark, variant, dataset, run), part in runs.groupby(["benchmark", "variant", "dataset", "run"]):
        if run not in methods:
            continue
        metric = part["metric"].iloc[0]
        line = {"benchmark": benchmark, "variant": variant, "dataset": dataset, "run": run, "metric": metric}
        line |= {
            "value": part[f"test_{metric}"].mean(),
            "agreement": part["test_agreement"].mean() if "test_agreement" in part else math.nan,
            "kl_teacher": part["test_kl_teacher"].mean() if "test_kl_teacher" in part else math.nan,
            "n": len(part),
            "epochs": _max(part, "epochs"),
        }
        if "teacher_forward_images" in part:
            line["teacher_forward_images"] = _max(part, "teacher_forward_images")
        out.append(line)
    frame = pd.DataFrame(out)
    if frame.empty:
        return frame
    frame["order"] = [ROWS.index(r) if r in ROWS else len(ROWS) for r in frame["run"]]
    return frame.sort_values(["benchmark", "variant", "dataset", "order"]).drop(columns="order").reset_index(drop=True)


def _setting(r: dict) -> str:
    return r["variant"] if r["benchmark"] == r["dataset"] else f"{r['benchmark']} {r['variant']}"


def fidelity_grid(frame: pd.DataFrame, what: str) -> tuple[str, Grid]:
    """(caption, grid) of the fidelity table: every row names its task (dataset) and setting."""
    records = frame.to_dict("records")
    where = [f"{r['dataset']} ({_setting(r)})" for r in records]
    records = [r | {"where": w} for w, r in zip(where, records, strict=True)]
    budget = pd.DataFrame(
        {"task": where, "kind": "task", "n": frame["n"], "method": frame["run"], "epochs": frame["epochs"]}
    )
    marked, notes = budget_marks(budget)

    def num(x: float, digits: int = 2) -> str:
        return NO_PAPER if pd.isna(x) else latex.minus(f"{x:.{digits}f}")

    columns = {
        "Task": [r["dataset"] for r in records],
        "Setting": [_setting(r) for r in records],
        "Method": [_label(r["run"]) for r in records],
        "Metric": [r["metric"] for r in records],
        "Test": [num(r["value"]) + (DAGGER if (r["where"], r["run"]) in marked else "") for r in records],
        "Agreement (%)": [num(r["agreement"]) for r in records],
        "KL": [num(r["kl_teacher"], 4) for r in records],
        "Epochs": ["—" if pd.isna(r["epochs"]) else _epochs(r["epochs"]) for r in records],
        "n": [str(r["n"]) for r in records],
    }
    for name, source in (("Agreement (%)", "agreement"), ("KL", "kl_teacher")):
        if frame[source].isna().all():
            del columns[name]
            notes.append(f"{name}: not recorded by any run, left out.")
    if any(NO_PAPER in columns[c] for c in ("Agreement (%)", "KL", "Epochs") if c in columns):
        notes.append(f"{NO_PAPER}: not recorded (runs made before the suite measured it).")
    counts = sorted(set(frame["n"]))
    if len(counts) == 1:
        del columns["n"]
        seeds = f"means over n = {counts[0]} seeds (no interval)"
    else:
        seeds = f"means over n seeds ({counts[0]} to {counts[-1]}, column n; no interval)"
    text = (
        f"{what.rstrip('.')}. Test: the student's test metric (x100); Agreement: its top-1 agreement with the "
        f"teacher on the test split (%); KL: KL(teacher ‖ student) on the test split (nats); all {seeds}. "
        "Epochs: the student's over all its stages (Annealing-KD: phase 1 + phase 2)."
    )
    rows = [list(r) for r in zip(*columns.values(), strict=True)]
    rules = [i for i in range(1, len(where)) if where[i] != where[i - 1]]
    return text, Grid(list(columns), rows, rules, notes)


def fidelity_markdown(frame: pd.DataFrame, what: str) -> str:
    text, g = fidelity_grid(frame, what)
    lines = [f"**{text}**", "", "| " + " | ".join(g.header) + " |", "|" + "---|" * len(g.header)]
    lines += ["| " + " | ".join(row) + " |" for row in g.rows]
    return "\n".join(lines + ([""] + g.notes if g.notes else [])) + "\n"


def fidelity_latex(frame: pd.DataFrame, what: str, label: str) -> str:
    text, g = fidelity_grid(frame, what)
    align = "llll" + "r" * (len(g.header) - 4)
    return latex.table(g.header, g.rows, text, label, align, g.notes, g.rules)
