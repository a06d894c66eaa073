"""Paper-layout tables: each cell the paper's number beside the reproduced one, never filled in.

A table is a list of :class:`Column` (a dataset of one benchmark variant, with the paper's numbers
for it) and the paper's rows (teacher, TA, No-KD, KD, TAKD, Annealing-KD). A reproduced cell is the
mean of the task's reported test metric over seeds with a 95 % t interval of that mean (with 3
seeds, t = 4.30: wide, as it should be) and the seed count; a cell with no runs reads "not run".
An optional score column is the mean over the task columns (the GLUE score), reproduced only where
every task was run.

The same table is written as CSV (long: one line per cell, every number), Markdown and LaTeX
(booktabs rules through pandas' Styler, two sub-columns per dataset: Paper and Ours).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd
from scipy import stats

from akd.results import LABELS

ROWS = ("teacher", "ta", "nokd", "kd", "takd", "annealing")
NOT_RUN = "not run"


@dataclass(frozen=True)
class Column:
    label: str  # the column's heading, e.g. "CIFAR-100" or "RTE"
    benchmark: str
    variant: str
    dataset: str
    paper: dict[str, float] = field(default_factory=dict)  # run -> the paper's number


def mean_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float]:
    """(mean, half-width of its t interval); the half-width is NaN for a single value."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, math.nan
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, float(stats.t.ppf(0.5 + confidence / 2, n - 1) * std / math.sqrt(n))


def build(runs: pd.DataFrame, columns: list[Column], rows=ROWS, score: bool = False) -> pd.DataFrame:
    """Long table: one line per (row, column) with paper, mean, half-width and n (0: not run)."""
    out = []
    for run in rows:
        means: list[float] = []
        for col in columns:
            part = runs[
                (runs["benchmark"] == col.benchmark)
                & (runs["variant"] == col.variant)
                & (runs["dataset"] == col.dataset)
                & (runs["run"] == run)
            ]
            values = [float(r[f"test_{r['metric']}"]) for _, r in part.iterrows()]
            mean, half = mean_interval(values) if values else (math.nan, math.nan)
            means.append(mean)
            paper = col.paper.get(run, math.nan)
            out.append({"row": run, "column": col.label, "paper": paper, "mean": mean, "half": half, "n": len(values)})
        if score:
            papers = [c.paper.get(run, math.nan) for c in columns]
            complete = all(not math.isnan(m) for m in means)
            out.append(
                {
                    "row": run,
                    "column": "Score",
                    "paper": sum(papers) / len(papers) if papers and not any(map(math.isnan, papers)) else math.nan,
                    "mean": sum(means) / len(means) if complete else math.nan,
                    "half": math.nan,
                    "n": min((o["n"] for o in out[-len(columns) :]), default=0) if complete else 0,
                }
            )
    return pd.DataFrame(out)


def reproduced(line: dict) -> str:
    """``mean ± half (n)``, the mean alone for one seed, or ``not run``."""
    if not line["n"]:
        return NOT_RUN
    if math.isnan(line["half"]):
        return f"{line['mean']:.2f} (n={line['n']})"
    return f"{line['mean']:.2f} ± {line['half']:.2f} (n={line['n']})"


def _paper(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.2f}"


def wide(long: pd.DataFrame) -> pd.DataFrame:
    """Rows by method, two columns (Paper, Ours) per dataset, as text."""
    columns = list(dict.fromkeys(long["column"]))
    rows = list(dict.fromkeys(long["row"]))
    cells = {(r["row"], r["column"]): r for r in long.to_dict("records")}
    data = {
        (col, part): [
            _paper(cells[(row, col)]["paper"]) if part == "Paper" else reproduced(cells[(row, col)]) for row in rows
        ]
        for col in columns
        for part in ("Paper", "Ours")
    }
    frame = pd.DataFrame(data, index=[LABELS.get(r, r) for r in rows])
    frame.index.name = "Method"
    return frame


def to_markdown(long: pd.DataFrame, caption: str) -> str:
    frame = wide(long)
    columns = list(dict.fromkeys(c for c, _ in frame.columns))
    head = "| Method | " + " | ".join(f"{c}: paper | {c}: ours" for c in columns) + " |"
    lines = [f"**{caption}**", "", head, "|---|" + "---|---|" * len(columns)]
    for name, row in frame.iterrows():
        lines.append(f"| {name} | " + " | ".join(row[(c, p)] for c in columns for p in ("Paper", "Ours")) + " |")
    return "\n".join(lines) + "\n"


def to_latex(long: pd.DataFrame, caption: str, label: str) -> str:
    """A booktabs table (``\\toprule``, ``\\midrule``, ``\\bottomrule``) with the caption and label."""
    frame = wide(long).map(lambda s: s.replace("±", r"$\pm$").replace("—", "--"))
    frame.index.name = None  # no header line of its own
    styler = frame.style
    return styler.to_latex(
        hrules=True,
        caption=caption,
        label=label,
        position="t",
        position_float="centering",
        column_format="l" + "rr" * (len(frame.columns) // 2),
        multicol_align="c",
    )


def fidelity(runs: pd.DataFrame, methods=ROWS[2:]) -> pd.DataFrame:
    """Per benchmark, variant, dataset and student method, means over seeds of the reported test
    metric (``value``, named in ``metric``), top-1 agreement with the teacher and KL(teacher ||
    student); NaN where a run did not record them (runs made before fidelity was measured)."""
    out = []
    for (benchmark, variant, dataset, run), part in runs.groupby(["benchmark", "variant", "dataset", "run"]):
        if run not in methods:
            continue
        metric = part["metric"].iloc[0]
        out.append(
            {
                "benchmark": benchmark,
                "variant": variant,
                "dataset": dataset,
                "run": run,
                "metric": metric,
                "value": part[f"test_{metric}"].mean(),
                "agreement": part["test_agreement"].mean() if "test_agreement" in part else math.nan,
                "kl_teacher": part["test_kl_teacher"].mean() if "test_kl_teacher" in part else math.nan,
                "n": len(part),
            }
        )
    frame = pd.DataFrame(out)
    if frame.empty:
        return frame
    frame["order"] = [ROWS.index(r) if r in ROWS else len(ROWS) for r in frame["run"]]
    return frame.sort_values(["benchmark", "variant", "dataset", "order"]).drop(columns="order").reset_index(drop=True)


def fidelity_markdown(frame: pd.DataFrame, caption: str) -> str:
    def num(x: float, digits: int = 2) -> str:
        return "not recorded" if pd.isna(x) else f"{x:.{digits}f}"

    lines = [
        f"**{caption}**",
        "",
        "| benchmark / variant / dataset | method | test metric | agreement with teacher (%) | "
        "KL(teacher ‖ student) | seeds |",
        "|---|---|---|---|---|---|",
    ]
    for r in frame.to_dict("records"):
        lines.append(
            f"| {r['benchmark']} / {r['variant']} / {r['dataset']} | {LABELS.get(r['run'], r['run'])} | "
            f"{r['metric']} {num(r['value'])} | {num(r['agreement'])} | {num(r['kl_teacher'], 4)} | {r['n']} |"
        )
    return "\n".join(lines) + "\n"


def fidelity_latex(frame: pd.DataFrame, caption: str, label: str) -> str:
    body = pd.DataFrame(
        {
            "Benchmark": [
                f"{b} {v}".replace("_", r"\_") for b, v in zip(frame["benchmark"], frame["variant"], strict=True)
            ],
            "Method": [LABELS.get(r, r) for r in frame["run"]],
            "Test": [f"{x:.2f}" for x in frame["value"]],
            "Agreement (\\%)": ["--" if pd.isna(x) else f"{x:.2f}" for x in frame["agreement"]],
            "KL": ["--" if pd.isna(x) else f"{x:.4f}" for x in frame["kl_teacher"]],
            "$n$": frame["n"].astype(str),
        }
    )
    return booktabs(body, caption, label, "llrrrr")


def booktabs(body: pd.DataFrame, caption: str, label: str, column_format: str) -> str:
    """A text frame as a floating booktabs table, without its index."""
    return body.style.hide(axis="index").to_latex(
        hrules=True, caption=caption, label=label, position="t", position_float="centering", column_format=column_format
    )
