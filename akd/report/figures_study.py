"""The figures of a tune-then-test study (``akd study``) and of its teacher ladder.

- :func:`protocols`: each method under the paper's protocol and tuned at the equal budget, on the
  same test seeds: the mean and its t interval, and every seed;
- :func:`gap`: each method's test metric against the teacher's, one point per teacher of the ladder.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from akd.report.figures import (
    METHODS,
    METRICS,
    budget_words,
    budgets,
    explain,
    interval_handles,
    legend_below,
    mean_bar,
    mean_label,
    metric_label,
)
from akd.report.style import COLORS, DEFAULT, MARKERS, Style, set_caption, styled
from akd.results import LABELS
from akd.stats import mean_interval

TUNED = "tuned"  # the label of a study's tuned variant: <profile>-tuned
LABEL_SPAN = 0.16  # the share of the x axis a teacher's name takes above the plot
OFF_SCALE = 20.0  # a mean this far below the best is drawn at the axis' edge with its value, not to scale


def study_profiles(runs: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(benchmark, dataset, profile) of every study in ``runs``: a variant P beside a variant P-tuned."""
    found = []
    for (benchmark, dataset), part in runs.groupby(["benchmark", "dataset"]):
        variants = set(part["variant"])
        found += [(benchmark, dataset, v) for v in sorted(variants) if f"{v}-{TUNED}" in variants]
    return found


def _row(ax, y: float, values, method: str, hollow: bool) -> None:  # noqa: ANN001
    values = np.asarray(values, dtype=float)
    ax.plot(
        values,
        np.full(len(values), y + 0.13),
        ls="none",
        marker=".",
        ms=2.0,
        color=COLORS[method],
        alpha=0.7,
        gid="seeds",
    )
    mean_bar(ax, values, y, method, hollow)


def _lowest(values: np.ndarray) -> float:
    """The left end of a row as drawn: its lowest seed or its interval's lower end."""
    mean, half = mean_interval(values)
    return float(min(values.min(), mean - (0.0 if np.isnan(half) else half)))


def _off_scale(ax, left: float, y: float, values: np.ndarray, method: str, hollow: bool) -> None:  # noqa: ANN001
    """A mean too far below the others to draw to scale: a marker pointing off the axis, and its numbers."""
    mean, half = mean_interval(values)
    face = "white" if hollow else COLORS[method]
    ax.plot([left], [y], marker="<", ms=4.5, color=COLORS[method], mfc=face, clip_on=False, ls="none", gid="off-scale")
    words = f"{mean:.1f} ± {half:.1f} (off scale)"
    ax.annotate(words, (left, y), xytext=(6, 0), textcoords="offset points", va="center", fontsize="small")


@styled
def protocols(runs: pd.DataFrame, benchmark: str, dataset: str, profile: str, style: Style = DEFAULT) -> plt.Figure:
    """Per method: the paper's protocol (hollow) and the method tuned at the equal budget (filled)."""
    part = runs[(runs["benchmark"] == benchmark) & (runs["dataset"] == dataset)]
    paper, tuned = part[part["variant"] == profile], part[part["variant"] == f"{profile}-{TUNED}"]
    metric = part["metric"].iloc[0]
    column = f"test_{metric}"
    methods = [m for m in METHODS.present(paper["run"]) if m in set(tuned["run"])]
    fig, ax = style.subplots("one", height=0.9 + 0.3 * len(methods))
    rows = []
    for i, method in enumerate(methods):
        y = len(methods) - 1 - i
        rows.append((y + 0.17, paper[paper["run"] == method][column].dropna(), method, True))
        rows.append((y - 0.17, tuned[tuned["run"] == method][column].dropna(), method, False))
    best = max(float(np.mean(v)) for _, v, _, _ in rows if len(v))
    shown = [r for r in rows if len(r[1]) and np.mean(r[1]) >= best - OFF_SCALE]
    for y, values, method, hollow in shown:
        _row(ax, y, values, method, hollow)
    if len(shown) < len([r for r in rows if len(r[1])]):  # one far-off row would squeeze every other
        left = min(_lowest(v.to_numpy(float)) for _, v, _, _ in shown) - 1.0
        ax.set_xlim(left=left)
        for y, values, method, hollow in rows:
            if len(values) and np.mean(values) < best - OFF_SCALE:
                _off_scale(ax, left, y, values.to_numpy(float), method, hollow)
                inside = values[values >= left].to_numpy(float)  # its seeds that the axis reaches
                ax.plot(inside, np.full(len(inside), y + 0.13), ls="none", marker=".", ms=2.0, color=COLORS[method],
                        alpha=0.7, gid="seeds")  # fmt: skip
    teacher = paper[paper["run"] == "teacher"][column].dropna()
    ax.set_yticks(range(len(methods)), [LABELS[m] for m in reversed(methods)])
    ax.set_ylim(-0.6, len(methods) - 0.4)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel(metric_label(metric))
    n = int(tuned[tuned["run"].isin(methods)].groupby("run")["seed"].nunique().min())
    handles = [
        Line2D([], [], color="0.3", marker="o", mfc="white", ls="none", ms=4, label="paper's protocol"),
        Line2D([], [], color="0.3", marker="o", ls="none", ms=4, label="tuned, equal budget"),
        *interval_handles(n, with_seeds=False),
    ]
    legend_below(fig, handles, ncols=2)
    where = benchmark + (f" / {dataset}" if dataset != benchmark else "")
    teacher_words = f"; the teacher's test {metric} is {teacher.mean():.2f}" if len(teacher) else ""
    return set_caption(
        fig,
        f"Tune, then test on {where} ({profile}): test {METRICS.get(metric, (metric,))[0]} of each method under the "
        f"paper's protocol (hollow; {budget_words(budgets(paper))}) and tuned by Optuna at the equal budget "
        f"(filled; {budget_words(budgets(tuned))}), on the same {n} test seeds, none of which chose a setting. "
        f"Markers are means with their 95 % Student t interval (n = {n}); the small dots are single seeds"
        f"{teacher_words}."
        + (
            f" A mean more than {OFF_SCALE:g} points below the best is marked at the left edge with its numbers."
            if len(shown) < len([r for r in rows if len(r[1])])
            else ""
        ),
    )


@styled
def gap(runs: pd.DataFrame, benchmark: str, dataset: str, prefix: str, style: Style = DEFAULT) -> plt.Figure:
    """Each method's test metric against its teacher's, one point per variant ``<prefix><teacher>``."""
    part = runs[
        (runs["benchmark"] == benchmark) & (runs["dataset"] == dataset) & runs["variant"].str.startswith(prefix)
    ]
    metric = part["metric"].iloc[0]
    column = f"test_{metric}"
    points = []
    for variant, rows in part.groupby("variant"):
        teacher = rows[rows["run"] == "teacher"][column].dropna()
        if len(teacher):
            points.append((float(teacher.mean()), variant[len(prefix) :], rows))
    points.sort(key=lambda p: p[0])
    methods = [m for m in METHODS if m in set(part["run"])]
    fig, ax = style.subplots("one", height=style.width("one") * 0.8)
    n = 0
    for method in methods:
        xs, means, halves = [], [], []
        for x, _, rows in points:
            values = rows[rows["run"] == method][column].dropna().to_numpy(float)
            if len(values):
                mean, half = mean_interval(values)
                xs.append(x)
                means.append(mean)
                halves.append(0.0 if np.isnan(half) else half)
                n = max(n, len(values))
        if xs:
            bar = ax.errorbar(
                xs, means, yerr=halves, fmt=MARKERS[method], color=COLORS[method], ls="none",
                ms=4, capsize=2, lw=1.0, label=LABELS[method],
            )  # fmt: skip
            for line in bar.lines[2]:
                explain(line, mean_label(n))
    lo = min(p[0] for p in points)
    hi = max(p[0] for p in points)
    ax.set_xlim(lo - 0.08 * (hi - lo + 1), hi + 0.08 * (hi - lo + 1))
    span, row, last = ax.get_xlim()[1] - ax.get_xlim()[0], 0, -np.inf
    for x, name, _ in points:  # teachers closer than a label's width: their names on rows one above another
        row = row + 1 if x - last < LABEL_SPAN * span else 0
        last = x
        ax.annotate(
            name, (x, 1.0), xycoords=("data", "axes fraction"), xytext=(0, 1 + 7 * row), textcoords="offset points",
            ha="center", va="bottom", fontsize="small", gid="teacher-name",
        )  # fmt: skip
    ax.set_xlabel(f"teacher's {metric_label(metric)}")
    ax.set_ylabel(f"student's {metric_label(metric)}")
    legend_below(fig, [*ax.get_legend_handles_labels()[0], *interval_handles(n, with_seeds=False)], ncols=2)
    where = benchmark + (f" / {dataset}" if dataset != benchmark else "")
    return set_caption(
        fig,
        f"The teacher-student gap on {where}: each method's test {METRICS.get(metric, (metric,))[0]} against its "
        f"teacher's ({', '.join(name for _, name, _ in points)}, in order of their accuracy, named above the plot; "
        f"each one trained model), mean and 95 % Student t interval over n = {n} seeds. No-KD does not learn from "
        "the teacher: its points sit at one level (the same runs under every teacher), the level a distilled "
        f"student must clear. Budgets: {budget_words(budgets(part[part['run'].isin(methods)]))}.",
    )
