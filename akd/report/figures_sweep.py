"""Figures from the sweep outputs (``results/<benchmark>/<variant>/sweep-<space>/``).

- :func:`grid`: an ablation grid's test metric against each grid value, per seed, the mean and its
  t interval; a numeric parameter on a numeric axis in numeric order; optionally the baselines as
  reference bands (the tau_max sensitivity figure);
- :func:`trials`: a sweep's trials themselves (no interpolation): each trial at (tau_max, phase-1
  epochs) coloured by its objective with its phase-2 epochs written beside it, and the objective
  against the total epochs (phase 1 + phase 2).
"""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, NullLocator

from akd.report.figures import (
    METRICS,
    TAU,
    budgets,
    explain,
    legend_below,
    mean_label,
    metric_label,
    seeds_and_mean,
)
from akd.report.style import COLORS, DEFAULT, LINESTYLES, Style, method_style, set_caption, styled
from akd.results import LABELS
from akd.stats import mean_interval

KEY_LABELS = {
    "annealing.tau_max": TAU,
    "annealing.phase1_epochs": "phase-1 epochs",
    "annealing.phase2_epochs": "phase-2 epochs",
    "annealing.phase1_loss": "phase-1 loss",
}


def key_label(key: str) -> str:
    return KEY_LABELS.get(key, key.split(".")[-1].replace("_", " "))


def is_numeric(values: pd.Series) -> bool:
    return bool(pd.to_numeric(values, errors="coerce").notna().all())


def reference_runs(runs: pd.DataFrame, benchmark: str, variant: str, dataset: str) -> tuple[pd.DataFrame, str, bool]:
    """The baselines to draw beside a variant's Annealing-KD grid: the variant's own when their epochs equal
    Annealing-KD's, else another variant of the benchmark whose baselines match it; ``(rows, variant, equal)``."""
    here = runs[(runs["benchmark"] == benchmark) & (runs["dataset"] == dataset)]
    target = budgets(here[here["variant"] == variant]).get("annealing")
    candidates = [variant] + sorted(v for v in here["variant"].unique() if v != variant)
    for name in candidates:
        epochs = budgets(here[here["variant"] == name])
        base = [e for m, e in epochs.items() if m in ("nokd", "kd", "takd")]
        if base and target is not None and all(e == target for e in base):
            return here[here["variant"] == name], name, True
    return here[here["variant"] == variant], variant, False


@styled
def grid(
    frame: pd.DataFrame,
    key: str,
    metric: str,
    title: str,
    style: Style = DEFAULT,
    reference: pd.DataFrame | None = None,
    reference_variant: str = "",
    annealing_epochs: int | None = None,
    method: str = "annealing",
) -> plt.Figure:
    """``test_<metric>`` against one grid key: each seed, the mean and its 95 % t interval per value, for
    the swept ``method``; ``annealing_epochs``: that method's epochs (named for the default)."""
    name = LABELS[method]
    column = f"test_{metric}"
    numeric = is_numeric(frame[key])
    fig, ax = style.subplots("one", height=style.width("one") * (1.1 if reference is not None else 0.85))
    if numeric:
        values = sorted(frame[key].unique(), key=float)
        position = {v: float(v) for v in values}
    else:
        values = list(dict.fromkeys(frame[key]))
        position = {v: float(i) for i, v in enumerate(values)}
    n = int(frame.groupby(key)["seed"].nunique().min())
    means = []
    for value in values:
        seeds = frame[frame[key] == value][column].dropna()
        mean, _ = seeds_and_mean(ax, position[value], seeds, method, width=0.0, mean_dx=0.0)
        means.append(mean)
    epochs_text = f" ({annealing_epochs} ep)" if annealing_epochs else ""
    ax.plot(
        [position[v] for v in values],
        means,
        color=COLORS[method],
        lw=1.0 if numeric else 0.0,  # a line between categories would suggest an order
        gid="mean",
        label=f"{name}{epochs_text}",
    )
    if numeric:
        x = np.array([position[v] for v in values])
        if x.min() > 0 and x.max() / x.min() >= 8:
            ax.set_xscale("log")
            ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_locator(FixedLocator(x))
        ax.set_xticklabels([f"{float(v):g}" for v in values])
    else:
        ax.set_xticks(range(len(values)), [str(v) for v in values])
        ax.set_xlim(-0.5, len(values) - 0.5)
    handles = [
        Line2D([], [], **method_style(method), ms=4, label=f"{name}{epochs_text}"),
        Line2D([], [], ls="none", marker="o", mfc="none", mec=COLORS[method], ms=3, label=f"one seed (n = {n})"),
    ]
    words = ""
    if reference is not None:
        epochs = budgets(reference)
        parts = []
        for other in [m for m in ("nokd", "kd", "takd") if m != method]:
            values_m = reference[reference["run"] == other][column].dropna().to_numpy(float)
            if not len(values_m):
                continue
            mean, half = mean_interval(values_m)
            band = mean_label(len(values_m))
            label = f"{LABELS[other]} ({epochs.get(other, '?')} ep)" + ("" if len(values_m) == n else f": {band}")
            if not np.isnan(half):
                explain(ax.axhspan(mean - half, mean + half, color=COLORS[other], alpha=0.13, lw=0, zorder=0), band)
            ax.axhline(mean, color=COLORS[other], ls=LINESTYLES[other], lw=0.9, zorder=1)
            handles.append(
                (
                    Patch(color=COLORS[other], alpha=0.25, lw=0),
                    Line2D([], [], color=COLORS[other], ls=LINESTYLES[other], lw=0.9, label=label),
                )
            )
            parts.append(f"{LABELS[other]} {epochs.get(other, '?')} epochs")
        same = all(epochs.get(m) == annealing_epochs for m in ("nokd", "kd", "takd") if m in epochs and m != method)
        words = (
            f" Bands: the baselines of variant {reference_variant} ({', '.join(parts)}), each its mean (line) and 95 % "
            f"Student t interval (band) over seeds; "
            + (f"the same epoch budget as {name}." if same else f"NOT the same epoch budget as {name}.")
        )
    ax.set_xlabel(key_label(key))
    ax.set_ylabel(metric_label(metric))
    ax.set_title(title)
    legend_below(
        fig,
        handles,
        ncols=2,
        labels=[h[1].get_label() if isinstance(h, tuple) else h.get_label() for h in handles],
        title=("line, bar or band" if reference is not None else "filled marker and bar") + f": {mean_label(n)}",
    )
    scale = " (log scale)" if ax.get_xscale() == "log" else ""
    return set_caption(
        fig,
        f"{title}: test {METRICS.get(metric, (metric,))[0]} of {name}{epochs_text} against "
        f"{key_label(key)}{scale if numeric else ''}, everything else as in the variant. "
        f"Hollow markers: single seeds; filled markers and line: the mean over seeds with its 95 % Student t interval "
        f"(n = {n} seeds per value).{words}",
    )


def _objective_words(trials: pd.DataFrame) -> tuple[str, str]:
    """The objective's metric and how many seeds it averages, from the ``val_<m>_best_seed<k>`` columns."""
    seeds = sorted({m.group(2) for c in trials.columns if (m := re.match(r"val_(\w+)_best_seed(\d+)$", c))})
    metrics = {m.group(1) for c in trials.columns if (m := re.match(r"val_(\w+)_best_seed(\d+)$", c))}
    metric = next(iter(metrics), "metric")
    how = f"a single seed (seed {seeds[0]})" if len(seeds) == 1 else f"the mean over {len(seeds)} seeds"
    return metric, how


@styled
def trials(
    trials: pd.DataFrame,
    title: str,
    style: Style = DEFAULT,
    x: str = "annealing.tau_max",
    y: str = "annealing.phase1_epochs",
    extra: str = "annealing.phase2_epochs",
) -> plt.Figure:
    """Each complete trial at (x, y) coloured by its objective, ``extra`` written beside it; objective vs total."""
    done = trials[trials["state"] == "COMPLETE"].copy()
    if done.empty:
        raise ValueError(f"{title}: no completed trial to draw")
    metric, how = _objective_words(trials)
    fig, (left, right) = style.subplots("two", ncols=2, height=style.width("two") * 0.36)
    has_extra = f"param:{extra}" in done
    xs, ys = (done[f"param:{c}"].astype(float).to_numpy() for c in (x, y))
    zs = done["objective"].astype(float).to_numpy()
    low, high = zs.min(), zs.max()
    repeat = done.groupby([f"param:{x}", f"param:{y}"]).cumcount().to_numpy()  # trials at a point already drawn
    xs = xs + repeat * 0.04 * (float(np.ptp(xs)) or 1.0)  # side by side, so no trial hides another
    points = left.scatter(
        xs, ys, c=zs, cmap="viridis", vmin=low, vmax=high, s=26, edgecolors="black", linewidths=0.4, zorder=3
    )
    if has_extra:
        for xi, yi, ei, k in zip(xs, ys, done[f"param:{extra}"], repeat, strict=True):
            above = k == 0  # a further trial at the same point: its label to the right of its marker
            left.annotate(
                f"+{int(ei)}",
                (xi, yi),
                xytext=(0, 4) if above else (5, -3),
                textcoords="offset points",
                ha="center" if above else "left",
                va="bottom" if above else "top",
                fontsize="small",
            )
    left.set_xlabel(key_label(x))
    left.set_ylabel(f"{key_label(y)} (epochs)" if "epochs" not in key_label(y) else key_label(y))
    left.set_title("trials" + (" (+k: phase-2 epochs)" if has_extra else ""))
    if has_extra:
        total = ys + done[f"param:{extra}"].astype(float).to_numpy()
        right.scatter(
            total, zs, c=zs, cmap="viridis", vmin=low, vmax=high, s=26, edgecolors="black", linewidths=0.4, zorder=3
        )
        right.set_xlabel("total epochs (phase 1 + phase 2)")
    else:
        right.scatter(xs, zs, c=zs, cmap="viridis", vmin=low, vmax=high, s=26, edgecolors="black", linewidths=0.4)
        right.set_xlabel(key_label(x))
    objective = f"validation {METRICS.get(metric, (metric,))[0]}" + (
        f" ({METRICS[metric][1]})" if metric in METRICS else ""
    )
    right.set_ylabel(objective)
    right.set_title("objective against total epochs" if has_extra else "objective")
    left.margins(x=0.12, y=0.2)
    unit = METRICS[metric][1] if metric in METRICS else ""
    fig.colorbar(points, ax=[left, right], label="objective" + (f" ({unit})" if unit else ""), shrink=0.9, pad=0.01)
    fig.suptitle(title, fontsize="medium")
    return set_caption(
        fig,
        f"{title}: each of the {len(done)} completed trials (no interpolation). Left: the trial's τ_max and phase-1 "
        "epochs, coloured by its objective"
        + (
            ", its phase-2 epochs written beside it (+k); right: the objective against the trial's total epochs "
            "(phase 1 + phase 2)"
            if has_extra
            else ""
        )
        + ". Trials at the same settings are drawn side by side."
        + f" The objective is the best validation {METRICS.get(metric, (metric,))[0]} of {how}, as the sweep "
        "recorded it: no interval. The sampler varied the total budget with the parameters, so a higher objective "
        "may reflect more epochs rather than a better τ_max or phase split.",
    )
