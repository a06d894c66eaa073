"""The analysis figures, drawn from the tidy frames of :mod:`akd.records` and the sweep outputs.

Each function draws one figure in the suite's style (:mod:`akd.report.style`) and returns it;
:func:`akd.report.style.save` writes it as PNG and PDF.

- :func:`schedule`: Annealing-KD's temperature T and teacher scale Phi(T) = 1 - (T - 1)/tau_max per epoch;
- :func:`curves`: validation curves of the methods, mean over seeds with a min-max band, the
  phase boundary of Annealing-KD marked;
- :func:`forest`: the paired differences (Annealing-KD minus each baseline) with their intervals;
- :func:`grid`: an ablation's test metric against each grid value, one point per seed, the mean;
- :func:`contour`: the objective over tau_max x phase-1 epochs (a sweep's trials);
- :func:`fidelity`: test accuracy against top-1 agreement with the teacher, one point per seed.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from akd.losses import anneal_scale, anneal_temperature
from akd.report.style import COLORS, ONE_COLUMN, STYLE, TWO_COLUMN
from akd.results import LABELS
from akd.stats import Paired

METHODS = ("nokd", "kd", "takd", "annealing")


def schedule(tau_max: int, phase1_epochs: int, phase2_epochs: int) -> plt.Figure:
    """T and Phi per epoch over both phases (phase 2: T = 1, hard labels, Phi unused)."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=ONE_COLUMN)
        epochs = list(range(phase1_epochs))
        temps = [anneal_temperature(e, phase1_epochs, tau_max) for e in epochs]
        scales = [anneal_scale(e, phase1_epochs, tau_max) for e in epochs]
        ax.step(epochs, temps, where="post", color=COLORS["annealing"], label="temperature T")
        ax.set_xlabel("epoch")
        ax.set_ylabel("T")
        ax.axvspan(phase1_epochs, phase1_epochs + phase2_epochs, color="0.9", lw=0)
        ax.text(phase1_epochs + phase2_epochs / 2, tau_max, "phase 2\n(labels, T = 1)", ha="center", va="top")
        ax.set_xlim(0, phase1_epochs + phase2_epochs)
        right = ax.twinx()
        right.grid(False)
        right.plot(epochs, scales, "o-", ms=2, color=COLORS["nokd"], label="scale Phi")
        right.set_ylabel("Phi")
        right.set_ylim(0, 1.05)
        lines = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
        ax.legend(lines, ["temperature T", "scale Phi"], loc="lower right")
        ax.set_title(f"Annealing schedule: tau_max {tau_max}, phase 1 {phase1_epochs} + phase 2 {phase2_epochs}")
    return fig


def curves(frame: pd.DataFrame, metric: str, title: str) -> plt.Figure:
    """``val_<metric>`` per epoch for each method: the mean over seeds and the min-max band."""
    column = f"val_{metric}"
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=ONE_COLUMN)
        for method in [m for m in METHODS if m in set(frame["run"])]:
            part = frame[frame["run"] == method].groupby("step")[column]
            mean, low, high = part.mean(), part.min(), part.max()
            n = frame[frame["run"] == method]["seed"].nunique()
            ax.plot(mean.index, mean.values, color=COLORS[method], label=f"{LABELS[method]} (n={n})")
            ax.fill_between(mean.index, low.values, high.values, color=COLORS[method], alpha=0.2, lw=0)
            if method == "annealing" and "phase" in frame:
                phase2 = frame[(frame["run"] == method) & (frame["phase"] == 2)]["step"]
                if len(phase2):
                    ax.axvline(phase2.min() - 0.5, color=COLORS[method], ls=":", lw=1)
                    ax.text(phase2.min(), ax.get_ylim()[0], " phase 2", color=COLORS[method], va="bottom")
        ax.set_xlabel("epoch (over all stages)")
        ax.set_ylabel(f"validation {metric}")
        ax.set_title(title)
        ax.legend(loc="lower right")
    return fig


def forest(pairs: list[tuple[str, Paired]], unit: str = "points") -> plt.Figure:
    """One line per comparison: the mean paired difference, its interval, and the per-seed points."""
    with plt.rc_context(STYLE):
        height = max(1.2, 0.28 * len(pairs) + 0.6)
        fig, ax = plt.subplots(figsize=(TWO_COLUMN[0], height))
        for y, (_, p) in enumerate(reversed(pairs)):
            color = "black" if p.distinguishable else "0.45"
            if p.n >= 2:
                ax.plot([p.ci_low, p.ci_high], [y, y], color=color, lw=1.5)
            ax.plot(p.mean, y, "D", color=color, ms=4)
            ax.plot(p.diffs, [y] * p.n, "|", color=COLORS["annealing"], ms=7, alpha=0.7)
            ax.text(
                1.01,
                y,
                f"{p.mean:+.2f} [{p.ci_low:+.2f}, {p.ci_high:+.2f}]  p={p.p_value:.2g}  n={p.n}",
                transform=ax.get_yaxis_transform(),
                va="center",
                fontsize=6,
            )
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(range(len(pairs)), [label for label, _ in reversed(pairs)])
        ax.set_xlabel(f"Annealing-KD minus baseline ({unit}), 95% bootstrap interval; ticks: seeds")
    return fig


def grid(frame: pd.DataFrame, key: str, metric: str, title: str) -> plt.Figure:
    """``test_<metric>`` against one grid key: each seed's point and the mean line."""
    column = f"test_{metric}"
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=ONE_COLUMN)
        values = list(dict.fromkeys(sorted(frame[key], key=str)))
        x = {v: i for i, v in enumerate(values)}
        for seed, part in frame.groupby("seed"):
            ax.plot([x[v] for v in part[key]], part[column], "o", ms=3, alpha=0.6, label=f"seed {seed}")
        mean = frame.groupby(key)[column].mean()
        ax.plot([x[v] for v in mean.index], mean.values, "-", color="black", lw=1, label="mean")
        ax.set_xticks(range(len(values)), [str(v) for v in values])
        ax.set_xlabel(key.split(".")[-1])
        ax.set_ylabel(f"test {metric}")
        ax.set_title(title)
        ax.legend(fontsize=6)
    return fig


def contour(trials: pd.DataFrame, x: str, y: str, title: str) -> plt.Figure:
    """Each complete trial at (x, y), coloured by its objective; a filled contour where the points allow."""
    done = trials[trials["state"] == "COMPLETE"]
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=ONE_COLUMN)
        xs, ys, zs = done[f"param:{x}"], done[f"param:{y}"], done["objective"]
        if len(done) >= 4 and xs.nunique() > 1 and ys.nunique() > 1:
            ax.tricontourf(xs, ys, zs, levels=8, cmap="viridis", alpha=0.5)
        points = ax.scatter(xs, ys, c=zs, cmap="viridis", edgecolors="black", linewidths=0.4, s=18)
        fig.colorbar(points, ax=ax, label="objective (val)")
        ax.set_xlabel(x.split(".")[-1])
        ax.set_ylabel(y.split(".")[-1])
        ax.set_title(title)
    return fig


def fidelity(runs: pd.DataFrame, metric: str, title: str) -> plt.Figure:
    """Test metric against top-1 agreement with the teacher, per method and seed."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=ONE_COLUMN)
        for method in [m for m in METHODS if m in set(runs["run"])]:
            part = runs[runs["run"] == method].dropna(subset=["test_agreement"])
            ax.scatter(part["test_agreement"], part[f"test_{metric}"], color=COLORS[method], s=14, label=LABELS[method])
        ax.set_xlabel("top-1 agreement with the teacher (%)")
        ax.set_ylabel(f"test {metric}")
        ax.set_title(title)
        ax.legend(fontsize=6)
    return fig
