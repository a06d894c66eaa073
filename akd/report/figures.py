"""The analysis figures, drawn from the tidy frames of :mod:`akd.records` and the sweep outputs.

Each function draws one figure in a venue's style (:class:`akd.report.style.Style`: ICML by
default) and returns it with its caption attached; :func:`akd.report.style.save` writes PNG, PDF
and ``<name>.caption.txt``. Every interval is the 95 % Student t interval of a mean over seeds
(:func:`akd.stats.mean_interval`) or of a paired difference (:class:`akd.stats.Paired`), and says
so in a legend entry and the caption; every figure that compares methods writes each method's
epoch budget beside its name when the budgets differ.

This module: the shared pieces and
- :func:`schedule`: Annealing-KD's temperature T and teacher scale Phi(T) = 1 - (T - 1)/tau_max, as steps;
- :func:`curves`: validation curves of the methods, mean over seeds with its t band, phase 2 marked;
- :func:`fidelity`: test metric against top-1 agreement with the teacher, per seed, mean and intervals.

:mod:`akd.report.figures_results`: the main result, accuracy against epoch budget, the forest plot.
:mod:`akd.report.figures_sweep`: ablation grids (tau_max sensitivity with baseline bands), sweep trials.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from akd.losses import anneal_scale, anneal_temperature
from akd.methods import STUDENTS
from akd.report.style import COLORS, DEFAULT, MARKERS, Style, method_style, set_caption, styled
from akd.results import LABELS
from akd.stats import interval_label, mean_interval

METHODS = STUDENTS  # every method, in report order (the paper's four first); roles excluded
TAU = r"$\tau_{\max}$"
PHI = r"$\Phi$"
# metric -> (name on an axis, unit, kind); kinds never share an axis
METRICS = {
    "acc": ("accuracy", "%", "accuracy"),
    "f1": ("F1", "%", "accuracy"),
    "score": ("GLUE score", "points", "accuracy"),
    "mcc": ("Matthews correlation", r"$\times$100", "correlation"),
    "pearson": ("Pearson $r$", r"$\times$100", "correlation"),
    "spearman": (r"Spearman $\rho$", r"$\times$100", "correlation"),
    "corr": ("mean of Pearson and Spearman", r"$\times$100", "correlation"),
}
EXPLAINED = "explained:"  # the gid prefix of every band and interval: the legend or caption text naming it


def metric_kind(metric: str) -> str:
    return METRICS.get(metric, (metric, "", metric))[2]


def metric_label(metric: str, split: str = "test") -> str:
    """``test accuracy (%)``; a correlation on the suite's 0-100 scale: ``test Pearson r (×100)``."""
    name, unit, _ = METRICS.get(metric, (metric, "", metric))
    return f"{split} {name}" + (f" ({unit})" if unit else "")


def difference_label(metric: str) -> str:
    """``difference in test accuracy (points)``."""
    name, unit, _ = METRICS.get(metric, (metric, "", metric))
    return f"difference in test {name} (" + ("points" if unit in ("%", "points") else unit) + ")"


def explain(artist, text: str):  # noqa: ANN001, ANN201
    """Mark a band or interval with the legend or caption text that says what it is."""
    artist.set_gid(EXPLAINED + text)
    return artist


def mean_label(n: int) -> str:
    return f"mean ± {interval_label(n)}"


def budgets(frame: pd.DataFrame) -> dict[str, int]:
    """Each method's total epochs (over all its stages) in ``frame``, where recorded."""
    if "epochs" not in frame:
        return {}
    out = {}
    for method, part in frame.dropna(subset=["epochs"]).groupby("run"):
        values = sorted({int(e) for e in part["epochs"]})
        out[method] = values[0] if len(values) == 1 else values[-1]
    return out


def unequal(epochs: dict[str, int], methods=METHODS) -> bool:  # noqa: ANN001
    return len({e for m, e in epochs.items() if m in methods}) > 1


def method_label(method: str, epochs: dict[str, int], always: bool = False) -> str:
    """``Annealing-KD (20 ep)`` when budgets differ in the figure (or ``always``), else ``Annealing-KD``."""
    if method in epochs and (always or unequal(epochs)):
        return f"{LABELS[method]} ({epochs[method]} ep)"
    return LABELS[method]


def budget_words(epochs: dict[str, int]) -> str:
    """``every student 10 epochs`` or ``unequal budgets: Annealing-KD 20 epochs, No-KD 10, ...``."""
    shown = {m: e for m, e in epochs.items() if m in METHODS}
    if not shown:
        return "epoch budgets not recorded"
    if not unequal(shown):
        return f"every student {next(iter(shown.values()))} epochs"
    parts = [f"{LABELS[m]} {e}" for m, e in shown.items()]
    return "UNEQUAL budgets (epochs): " + ", ".join(parts)


def seeds_and_mean(  # noqa: ANN201
    ax,
    x: float,
    values,
    method: str,
    width: float = 0.25,
    label: str | None = None,
    mean_dx: float | None = None,  # noqa: ANN001
):
    """Per-seed dots (spread over ``width`` around ``x``), the mean and its t interval (at ``x + mean_dx``)."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    offsets = np.linspace(-width / 2, width / 2, n) if n > 1 else np.zeros(1)
    color, marker = COLORS[method], MARKERS[method]
    ax.plot(x + offsets, values, ls="none", marker=marker, ms=3, mfc="none", mec=color, mew=0.7, alpha=0.9, gid="seeds")
    mean, half = mean_interval(values)
    bar = ax.errorbar(
        [x + (mean_dx if mean_dx is not None else (width / 2 + 0.12 if n > 1 else 0.0))],
        [mean],
        yerr=None if math.isnan(half) else [[half], [half]],
        fmt=marker,
        color=color,
        ms=5,
        capsize=2,
        lw=1.0,
        label=label,
    )
    for part in bar.lines[2]:
        explain(part, mean_label(n))
    return mean, half


def mean_bar(ax, values, y: float, method: str, hollow: bool = False) -> None:  # noqa: ANN001
    """The mean of ``values`` at height ``y`` with its 95 % t interval, horizontal, in the method's look."""
    mean, half = mean_interval(values)
    bar = ax.errorbar(
        [mean],
        [y],
        xerr=None if math.isnan(half) else [[half], [half]],
        fmt=MARKERS[method],
        color=COLORS[method],
        mfc="white" if hollow else COLORS[method],
        ms=4.5,
        capsize=2,
        lw=1.0,
    )
    for line in bar.lines[2]:
        explain(line, mean_label(len(values)))


def legend_below(fig: plt.Figure, handles: list, ncols: int = 2, **kwargs):  # noqa: ANN201
    """A legend under the axes, in as many columns (at most ``ncols``) as fit the figure's width."""
    renderer = fig.canvas.get_renderer()
    for k in range(ncols, 0, -1):
        legend = fig.legend(handles=handles, loc="outside lower center", ncols=k, **kwargs)
        if k == 1 or legend.get_window_extent(renderer).width <= 0.98 * fig.bbox.width:
            return legend
        legend.remove()
    return legend


def interval_handles(n: int, with_seeds: bool = True) -> list:
    """Legend entries in grey: the seeds' dots and the mean with its t interval."""
    handles = []
    if with_seeds:
        handles.append(Line2D([], [], ls="none", marker="o", mfc="none", mec="0.3", ms=3, label=f"one seed (n = {n})"))
    handles.append(Line2D([], [], color="0.3", marker="o", ms=4, lw=1.0, label=mean_label(n)))
    return handles


@styled
def schedule(tau_max: int, phase1_epochs: int, phase2_epochs: int, style: Style = DEFAULT) -> plt.Figure:
    """T and Phi per epoch, as the steps they are (constant within an epoch); phase 2 shaded."""
    fig, (top, bottom) = style.subplots("one", height=style.width("one") * 0.95, nrows=2, sharex=True)
    edges = list(range(phase1_epochs + 1))
    temps = [anneal_temperature(e, phase1_epochs, tau_max) for e in range(phase1_epochs)]
    scales = [anneal_scale(e, phase1_epochs, tau_max) for e in range(phase1_epochs)]
    total = phase1_epochs + phase2_epochs
    for ax, values, name in ((top, temps, "temperature $T$"), (bottom, scales, f"teacher scale {PHI}")):
        ax.step(edges, values + values[-1:], where="post", color=COLORS["annealing"], lw=1.4, label=name)
        span = ax.axvspan(phase1_epochs, total, color="0.9", lw=0, zorder=0)
        explain(span, "phase 2")
        ax.set_ylabel(name)
        ax.set_xlim(0, total)
    top.set_ylim(0, tau_max + 0.8)
    top.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
    bottom.set_ylim(0, 1.1)
    top.text(phase1_epochs + phase2_epochs / 2, tau_max / 2, "phase 2\nlabels only", ha="center", va="center")
    bottom.text(phase1_epochs + phase2_epochs / 2, 0.5, "phase 2\n(no teacher)", ha="center", va="center")
    bottom.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
    bottom.set_xlabel("epoch")
    top.set_title(rf"$\tau_{{\max}} = {tau_max}$, {phase1_epochs} + {phase2_epochs} epochs")
    return set_caption(
        fig,
        f"Annealing-KD's schedule with τ_max = {tau_max}, {phase1_epochs} phase-1 and "
        f"{phase2_epochs} phase-2 epochs. Top: the temperature T, which starts at τ_max and drops by one every "
        f"floor({phase1_epochs}/{tau_max}) = {phase1_epochs // tau_max} epochs (clamped at 1); bottom: the scale "
        f"Φ(T) = 1 − (T − 1)/τ_max by which the teacher's logits are multiplied in phase 1. Both are constant "
        "within an epoch and drawn as steps. Phase 2 (shaded) trains on the labels alone.",
    )


@styled
def curves(
    frame: pd.DataFrame, metric: str, title: str, style: Style = DEFAULT, epochs: dict | None = None
) -> plt.Figure:
    """``val_<metric>`` after each epoch per method: the mean over seeds and its 95 % t band."""
    column = f"val_{metric}"
    fig, ax = style.subplots("one", height=style.width("one") * 0.95)
    methods = [m for m in METHODS if m in set(frame["run"])]
    epochs = epochs if epochs is not None else {m: int(frame[frame["run"] == m]["step"].max()) + 1 for m in methods}
    seeds = {m: frame[frame["run"] == m]["seed"].nunique() for m in methods}
    n = min(seeds.values()) if seeds else 0
    counts = "/".join(str(k) for k in sorted(set(seeds.values())))
    band_text = f"shaded: 95 % t interval, n = {counts}"
    for method in methods:
        part = frame[frame["run"] == method].groupby("step")[column]
        stats = part.apply(lambda v: pd.Series(mean_interval(v.to_numpy()), index=["mean", "half"])).unstack()
        x = stats.index.to_numpy() + 1  # after epoch k
        ax.plot(
            x,
            stats["mean"],
            **method_style(method),
            ms=3,
            markevery=max(1, len(x) // 8),
            label=method_label(method, epochs),
        )
        if stats["half"].notna().any():
            band = ax.fill_between(
                x, stats["mean"] - stats["half"], stats["mean"] + stats["half"], color=COLORS[method], alpha=0.15, lw=0
            )
            explain(band, band_text)
        if method == "annealing" and "phase" in frame:
            phase2 = frame[(frame["run"] == method) & (frame["phase"] == 2)]["step"]
            if len(phase2):
                boundary = phase2.min() + 0.5
                ax.axvline(boundary, color=COLORS[method], ls=":", lw=0.8)
                ax.text(
                    boundary + 0.2,
                    0.03,
                    "Annealing-KD\nphase 2",
                    transform=ax.get_xaxis_transform(),
                    color=COLORS[method],
                    va="bottom",
                    fontsize="small",
                )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch (over all stages)")
    ax.set_ylabel(metric_label(metric, "validation"))
    ax.set_title(title + ("\n(unequal budgets)" if unequal(epochs) else ""))
    handles, _ = ax.get_legend_handles_labels()
    handles.append(Patch(color="0.6", alpha=0.4, lw=0, label=band_text))
    legend_below(fig, handles, ncols=2)
    fig.get_layout_engine().set(h_pad=0.02)
    return set_caption(
        fig,
        f"Validation {METRICS.get(metric, (metric,))[0]} after each epoch ({title}): the mean over seeds (line) and "
        f"its 95 % Student t interval (shaded; n = {n} seeds per method). The dotted line marks where Annealing-KD's "
        f"phase 2 begins. Budgets: {budget_words(epochs)}.",
    )


@styled
def fidelity(runs: pd.DataFrame, metric: str, title: str, style: Style = DEFAULT) -> plt.Figure:
    """Test metric against top-1 agreement with the teacher: each seed, and each method's mean with t intervals."""
    fig, ax = style.subplots("one", height=style.width("one") * 0.95)
    epochs = budgets(runs)
    methods = [m for m in METHODS if m in set(runs["run"])]
    n = 0
    for method in methods:
        part = runs[runs["run"] == method].dropna(subset=["test_agreement", f"test_{metric}"])
        if part.empty:
            continue
        n = max(n, len(part))
        x, y = part["test_agreement"].to_numpy(float), part[f"test_{metric}"].to_numpy(float)
        ax.plot(x, y, ls="none", marker=MARKERS[method], mfc="none", mec=COLORS[method], ms=3.5, mew=0.7)
        (mx, hx), (my, hy) = mean_interval(x), mean_interval(y)
        bar = ax.errorbar(
            [mx],
            [my],
            xerr=None if math.isnan(hx) else [[hx], [hx]],
            yerr=None if math.isnan(hy) else [[hy], [hy]],
            fmt=MARKERS[method],
            color=COLORS[method],
            ms=5,
            capsize=1.5,
            lw=0.9,
            label=method_label(method, epochs),
        )
        for line in bar.lines[2]:
            explain(line, f"mean ± {interval_label(n)}")  # on both axes: said in the caption
    ax.set_xlabel("agreement with the teacher (%)")
    ax.set_ylabel(metric_label(metric))
    ax.set_title(title + ("\n(unequal budgets)" if unequal(epochs) else ""))
    handles, _ = ax.get_legend_handles_labels()
    handles += [
        Line2D([], [], ls="none", marker="o", mfc="none", mec="0.3", ms=3.5, label="one seed"),
        Line2D([], [], color="0.3", marker="o", ms=4, lw=0.9, label=f"mean ± {interval_label(n)}"),
    ]
    legend_below(fig, handles, ncols=2)
    return set_caption(
        fig,
        f"Test {METRICS.get(metric, (metric,))[0]} against top-1 agreement with the teacher on the test set "
        f"({title}; Stanton et al., 2021): hollow markers are single seeds, filled markers each method's mean with "
        f"its 95 % Student t interval on both axes (n = {n} seeds). Budgets: {budget_words(epochs)}.",
    )
