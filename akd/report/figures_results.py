"""The figures a distillation reproduction is read for (see :mod:`akd.report.figures` for the shared pieces).

- :func:`main_result`: each method's test metric per seed, its mean and t interval, one panel per
  variant (budget-matched variants first, an unequal one marked);
- :func:`budget`: each method's test metric against its total epochs, across the variants that exist;
- :func:`forest`: Annealing-KD minus each baseline, paired by seed, one panel per metric, the numbers
  (mean, t interval, Holm-adjusted p, n, epochs) in a column of their own.
"""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.transforms import ScaledTranslation, blended_transform_factory

from akd.report.figures import (
    METHODS,
    METRICS,
    budget_words,
    budgets,
    difference_label,
    explain,
    interval_handles,
    legend_below,
    mean_bar,
    metric_label,
    seeds_and_mean,
    unequal,
)
from akd.report.style import COLORS, DEFAULT, LINESTYLES, MARKERS, Style, set_caption, styled
from akd.results import LABELS
from akd.stats import Paired, fmt_signed


def _variant_order(part: pd.DataFrame) -> list[str]:
    """Budget-matched variants first (fewest epochs first), then the unequal ones."""

    def key(variant: str) -> tuple:
        epochs = budgets(part[part["variant"] == variant])
        shown = [e for m, e in epochs.items() if m in METHODS]
        return (unequal(epochs), max(shown, default=0), variant)

    return sorted(part["variant"].unique(), key=key)


def short_budgets(epochs: dict[str, int]) -> str:
    """``Annealing-KD 20 ep, others 10``: the methods grouped by their epochs, the largest group last."""
    groups: dict[int, list[str]] = {}
    for method in METHODS:
        if method in epochs:
            groups.setdefault(epochs[method], []).append(LABELS[method])
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))[::-1]
    if len(ordered) == 2 and len(ordered[1][1]) > 1:
        (e1, names1), (e2, _) = ordered
        return f"{', '.join(names1)} {e1} ep, others {e2} ep"
    return "; ".join(f"{', '.join(names)} {e} ep" for e, names in ordered)


def _n(part: pd.DataFrame) -> int:
    counts = part[part["run"].isin(METHODS)].groupby("run")["seed"].nunique()
    return int(counts.min()) if len(counts) else 0


@styled
def main_result(runs: pd.DataFrame, benchmark: str, dataset: str, style: Style = DEFAULT) -> plt.Figure:
    """Per method and variant: the test metric of every seed, the mean and its 95 % t interval."""
    part = runs[(runs["benchmark"] == benchmark) & (runs["dataset"] == dataset)]
    metric = part["metric"].iloc[0]
    column = f"test_{metric}"
    variants = _variant_order(part)
    fig, axes = style.subplots(
        "two" if len(variants) > 1 else "one",
        ncols=len(variants),
        sharex=True,
        sharey=True,
        squeeze=False,
        height=1.0 + 0.28 * len(METHODS.present(part["run"])),
    )
    n = _n(part)
    words = []
    methods = METHODS.present(part["run"])  # one row per method across the panels (they share the y axis)
    for ax, variant in zip(axes[0], variants, strict=True):
        rows = part[part["variant"] == variant]
        epochs = budgets(rows)
        for y, method in enumerate(methods):
            values = rows[rows["run"] == method][column].dropna().to_numpy(float)
            if len(values):  # a method this variant did not run: its row stays empty
                _horizontal(ax, len(methods) - 1 - y, values, method)
        teacher = rows[rows["run"] == "teacher"][column].dropna()
        if len(teacher):
            ax.axvline(teacher.mean(), color=COLORS["teacher"], ls=LINESTYLES["teacher"], lw=1.0, zorder=0)
        ax.set_yticks(range(len(methods)), [LABELS[m] for m in reversed(methods)])
        ax.set_ylim(-0.6, len(methods) - 0.4)
        ax.grid(axis="y", visible=False)
        shown = sorted({e for m, e in epochs.items() if m in METHODS})
        if unequal(epochs):
            ax.set_title(f"{variant}: unequal budgets\n" + short_budgets(epochs).replace(", ", "\n"), color="#B22222")
        else:
            name = variant if len(variants) > 1 else f"{dataset}: {variant}"
            ax.set_title(f"{name}\n{shown[0] if shown else '?'} epochs each")
        ax.set_xlabel(metric_label(metric))
        words.append(f"{variant}: {budget_words(epochs)}")
    handles = interval_handles(n)
    if len(part[part["run"] == "teacher"]):
        nt = part[part["run"] == "teacher"].groupby("variant")["seed"].nunique().max()
        handles.append(Line2D([], [], color=COLORS["teacher"], ls=LINESTYLES["teacher"], label=f"teacher (n = {nt})"))
    legend_below(fig, handles, ncols=3)
    where = benchmark + (f" / {dataset}" if dataset != benchmark else "")
    return set_caption(
        fig,
        f"Main result on {where}: test {METRICS.get(metric, (metric,))[0]} of each method, one panel per variant "
        f"(a set of settings). Hollow markers are single seeds, filled markers the mean over seeds with its 95 % "
        f"Student t interval (n = {n} seeds per method); the dotted line is the teacher. Budgets: "
        + "; ".join(words)
        + "."
        + (
            " Budget-matched panels come first; the panel titled 'unequal budgets' lists each method's epochs in its "
            "title and does not compare like with like."
            if any("UNEQUAL" in w for w in words)
            else ""
        ),
    )


def _horizontal(ax, y: float, values, method: str) -> None:  # noqa: ANN001
    """One method's row: seeds' dots just above the line, the mean and its t interval on it."""
    values = np.asarray(values, dtype=float)
    k = len(values)
    ax.plot(
        values,
        y + np.linspace(0.12, 0.3, k) if k > 1 else [y + 0.2],
        ls="none",
        marker=MARKERS[method],
        mfc="none",
        mec=COLORS[method],
        ms=3.2,
        mew=0.7,
        gid="seeds",
    )
    mean_bar(ax, values, y - 0.08, method)


@styled
def budget(runs: pd.DataFrame, benchmark: str, dataset: str, style: Style = DEFAULT) -> plt.Figure:
    """Each method's test metric against its total epochs (every variant of the benchmark that ran it)."""
    part = runs[(runs["benchmark"] == benchmark) & (runs["dataset"] == dataset) & runs["run"].isin(METHODS)]
    metric = part["metric"].iloc[0]
    column = f"test_{metric}"
    part = part.dropna(subset=["epochs", column]).sort_values(["variant", "run", "seed"])
    # the same runs filed under two variants (identical settings) count once
    part = part.drop_duplicates(["run", "epochs", "seed", column]).drop_duplicates(["run", "epochs", "seed"])
    fig, ax = style.subplots("one", height=style.width("one") * 0.95)
    methods = [m for m in METHODS if m in set(part["run"])]
    spread = (
        np.linspace(-1, 1, len(methods))
        * 0.45
        * (1 if part["epochs"].nunique() < 2 else np.diff(sorted(part["epochs"].unique())).min() / 4)
    )
    n = _n(part)
    for dx, method in zip(spread, methods, strict=True):
        rows = part[part["run"] == method]
        for epochs, group in rows.groupby("epochs"):  # not joined: each budget is a configuration of its own
            seeds_and_mean(ax, float(epochs) + dx - 0.2, group[column], method, width=0.0, mean_dx=0.4)
    ticks = sorted(int(e) for e in part["epochs"].unique())
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.set_xlabel("training epochs (all stages)")
    ax.set_ylabel(metric_label(metric))
    where = benchmark + (f" / {dataset}" if dataset != benchmark else "")
    ax.set_title(where)
    handles = [
        Line2D([], [], marker=MARKERS[m], color=COLORS[m], ls="none", ms=4, label=LABELS[m]) for m in methods
    ] + interval_handles(n)
    legend_below(fig, handles, ncols=2)
    variants = ", ".join(sorted(part["variant"].unique()))
    return set_caption(
        fig,
        f"Test {METRICS.get(metric, (metric,))[0]} on {where} against each method's total training epochs (all its "
        f"stages; TAKD's shared teaching assistant is trained separately and not counted), from the variants "
        f"{variants}; runs filed under two variants with the same settings are counted once. Hollow markers are "
        f"single seeds, filled markers the mean with its 95 % Student t interval (n = {n} seeds); methods are "
        "offset slightly along the epoch axis so they do not overlap, and not joined: each budget is a configuration "
        "of its own (for Annealing-KD, another split of its two phases). Compare methods at one budget.",
    )


_EPOCHS = re.compile(r"(\d+)\s*epochs?,\s*[^\d]*?(\d+)")


def _pair_epochs(info: dict, runs: pd.DataFrame | None) -> tuple[int, int] | None:
    a, b = info.get("epochs_reference"), info.get("epochs_baseline")
    if a is not None and b is not None and not (pd.isna(a) or pd.isna(b)):
        return int(a), int(b)
    if runs is not None and "epochs" in runs:
        rows = runs[
            (runs["benchmark"] == info["benchmark"])
            & (runs["variant"] == info["variant"])
            & (runs["dataset"] == info["dataset"])
        ]
        epochs = budgets(rows)
        ref = info.get("reference", "annealing")
        if ref in epochs and info["baseline"] in epochs:
            return epochs[ref], epochs[info["baseline"]]
    match = _EPOCHS.search(str(info.get("flags", "")))
    return (int(match.group(1)), int(match.group(2))) if match else None


def _row_label(info: dict, one_reference: bool = True) -> str:
    where = f"{info['benchmark']} {info['variant']}" + (
        f" {info['dataset']}" if info["dataset"] != info["benchmark"] else ""
    )
    if one_reference:  # the axis label names the reference
        return f"{where}: vs {LABELS[info['baseline']]}"
    return f"{where}: {LABELS[info.get('reference', 'annealing')]} − {LABELS[info['baseline']]}"


@styled
def forest(pairs: list[tuple[dict, Paired]], style: Style = DEFAULT, runs: pd.DataFrame | None = None) -> plt.Figure:
    """Annealing-KD minus each baseline (``akd.report.differences.comparisons``): one panel per metric, the
    numbers in a column of their own to the right of each panel (inside the figure: constrained layout counts it)."""
    metrics = list(dict.fromkeys(info["metric"] for info, _ in pairs))
    # budget-matched comparisons first, those with unequal epoch budgets (hollow) after them
    groups = [
        sorted([(i, p) for i, p in pairs if i["metric"] == m], key=lambda ip: "unequal" in str(ip[0].get("flags", "")))
        for m in metrics
    ]
    rows = sum(len(g) for g in groups)
    fig, axes = style.subplots(
        "two",
        nrows=len(groups),
        squeeze=False,
        height=0.85 + 0.17 * rows + 0.45 * len(groups),
        gridspec_kw={"height_ratios": [len(g) + 1.6 for g in groups]},
    )
    marks = {"unequal": False, "test": False}
    refs = {info.get("reference", "annealing") for info, _ in pairs}
    ref = next(iter(refs)) if len(refs) == 1 else "annealing"
    who = LABELS[ref] if len(refs) == 1 else "Each reference"
    ns = set()
    heads = ("mean", "95 % t interval", "Holm p", "n", "epochs")
    cells_drawn: list[tuple[int, object, object]] = []  # (column, axes, text)
    for ax, metric, group in zip(axes[:, 0], metrics, groups, strict=True):
        at = blended_transform_factory(ax.transAxes, ax.transData)
        labels = []
        for y, (info, p) in enumerate(reversed(group)):
            ns.add(p.n)
            color = "black" if p.distinguishable else "0.4"
            unequal = "unequal" in str(info.get("flags", ""))
            ax.plot(
                p.diffs,
                [y + 0.22] * p.n,
                ls="none",
                marker="|",
                color=COLORS[info.get("reference", "annealing")],
                ms=5,
                mew=0.9,
                gid="seeds",
            )
            bar = ax.errorbar(
                [p.mean],
                [y],
                xerr=None if p.n < 2 else [[p.mean - p.ci_low], [p.ci_high - p.mean]],
                fmt="D",
                color=color,
                mfc="white" if unequal else color,
                ms=3.5,
                capsize=2,
                lw=1.1,
            )
            for line in bar.lines[2]:
                explain(line, "95 % paired t interval (unadjusted)")
            flags = str(info.get("flags", ""))
            mark = ""
            if "unequal" in flags:
                mark += "†"
                marks["unequal"] = True
            if "test set" in flags:
                mark += "‡"
                marks["test"] = True
            labels.append(_row_label(info, len(refs) == 1) + (f" {mark}" if mark else ""))
            epochs = _pair_epochs(info, runs)
            cells = (
                fmt_signed(p.mean),
                "—" if p.n < 2 else f"[{fmt_signed(p.ci_low)}, {fmt_signed(p.ci_high)}]",
                "—" if p.n < 2 else (f"{p.p_adjusted:.3f}" if p.p_adjusted >= 0.001 else "<0.001"),
                str(p.n),
                f"{epochs[0]} / {epochs[1]}" if epochs else "?",
            )
            for k, text in enumerate(cells):
                drawn = ax.text(1.0, y, text, transform=at, ha="right", va="center", color=color, fontsize=7)
                cells_drawn.append((k, ax, drawn))
        for k, head in enumerate(heads):
            drawn = ax.text(
                1.0, len(group) - 0.3, head, transform=at, ha="right", va="bottom", fontsize="small", style="italic"
            )
            cells_drawn.append((k, ax, drawn))
        families = [(i["benchmark"], i["variant"], i["dataset"]) for i, _ in reversed(group)]
        for y in range(1, len(families)):
            if families[y] != families[y - 1]:
                ax.axhline(y - 0.5, color="0.8", lw=0.5, ls="-", zorder=0)
        ax.axvline(0, color="black", lw=0.7)
        ax.set_yticks(range(len(group)), labels, fontsize="small")
        ax.set_ylim(-0.6, len(group) - 0.3)
        ax.grid(axis="y", visible=False)
        ax.set_xlabel(f"{who} minus baseline: {difference_label(metric)}")
    # the table's columns: each as wide as its widest cell, 8 pt apart, right-aligned, right of the panel
    renderer = fig.canvas.get_renderer()
    widths = [0.0] * len(heads)
    for k, _, drawn in cells_drawn:
        widths[k] = max(widths[k], drawn.get_window_extent(renderer).width / fig.dpi)
    gap = 8 / 72
    for k, ax, drawn in cells_drawn:
        right = gap + sum(widths[: k + 1]) + k * gap
        drawn.set_transform(
            blended_transform_factory(ax.transAxes, ax.transData) + ScaledTranslation(right, 0, fig.dpi_scale_trans)
        )
    handles = [
        Line2D([], [], ls="none", marker="D", color="black", ms=3.5, label="mean difference, Holm-adjusted p < 0.05"),
        Line2D([], [], color="black", lw=1.1, label="95 % paired t interval (unadjusted)"),
        Line2D([], [], ls="none", marker="|", color=COLORS[ref], ms=5, label="one seed's difference"),
        Line2D([], [], ls="none", color="0.55", marker="D", ms=3.5, label="mean difference, Holm-adjusted p ≥ 0.05"),
    ]
    if marks["unequal"]:
        handles.append(
            Line2D(
                [],
                [],
                ls="none",
                marker="D",
                mfc="white",
                color="black",
                ms=3.5,
                label="† hollow: unequal epoch budgets, not budget-matched",
            )
        )
    if marks["test"]:
        handles.append(Line2D([], [], ls="none", label="‡ checkpoint selected on the test set"))
    legend_below(fig, handles, ncols=3, handlelength=1.5)
    n = "/".join(str(k) for k in sorted(ns))
    return set_caption(
        fig,
        f"{who} minus each baseline, paired by seed (same initial weights and batches), for every benchmark, "
        f"variant and dataset; one panel per metric (accuracy and correlation never share an axis). Diamond: the mean "
        f"difference; bar: its 95 % paired Student t interval (n = {n} seeds), not adjusted for multiple comparisons; "
        "ticks: the per-seed differences. The table gives the mean, the interval, the paired t test's p-value after "
        f"Holm's correction within each family (one benchmark, variant and dataset: {who} against each "
        f"baseline), n and the epochs of {who} / the baseline. Black: Holm-adjusted p < 0.05; grey: not "
        "distinguishable (a grey bar may still exclude 0: the colour follows the Holm-adjusted test). Budget-matched "
        "comparisons come first in each panel; † and a hollow diamond mark an unequal epoch budget, below them"
        + (", ‡ selection on the test set." if marks["test"] else "."),
    )
