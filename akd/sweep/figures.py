"""A sweep's figures, as PNG and PDF (embedded TrueType fonts, one-column size), beside its tables.

From Optuna's matplotlib backend (no plotly or browser needed): the optimisation history, the
parameter importances, the tau_max x phase-1-epochs contour and a slice of tau_max, each drawn
when the study has what it needs. For an ablation grid: the metric against each grid value, one
point per seed and the mean, test and validation side by side.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402
import pandas as pd  # noqa: E402

from akd.report.style import ONE_COLUMN, STYLE, set_caption  # noqa: E402
from akd.report.style import save as _save  # noqa: E402

TAU, PHASE1 = "annealing.tau_max", "annealing.phase1_epochs"


CAPTIONS = {
    "history": "Optimisation history: each trial's objective and the best so far, in trial order",
    "importances": "Hyperparameter importances (Optuna's fANOVA): the share of the objective's variance each "
    "setting explains, a point estimate without uncertainty",
    "contour": "The objective over tau_max and phase-1 epochs, interpolated between the trials",
    "slice_tau_max": "The objective of each trial against tau_max",
}


def _house(ax: plt.Axes) -> None:
    """Optuna draws in its own style (ggplot, a large title): the suite's instead, the title left to
    the caption, value labels and the legend inside the axes."""
    size = STYLE.get("font.size", 8)
    for loc in ("left", "center", "right"):
        ax.set_title("", loc=loc)
    ax.set_facecolor("white")
    ax.grid(True, color="0.9", lw=0.5)
    for spine in ("left", "bottom"):
        ax.spines[spine].set_visible(True)
        ax.spines[spine].set_color("black")
    for label in (ax.xaxis.label, ax.yaxis.label):
        label.set_size(size)
        label.set_color("black")
    ax.tick_params(labelsize=size - 1, colors="black")
    for text in ax.texts:  # the importances' value labels
        text.set_fontsize(size - 1)
    if ax.texts:
        ax.set_xlim(0, ax.get_xlim()[1] * 1.18)  # room for the labels of the longest bar
    legend = ax.get_legend()
    if legend is not None:
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(handles, labels, loc="best", fontsize=size - 1, frameon=False)


def _optuna_plot(
    draw: Callable[[], object], folder: Path, name: str, size: tuple[float, float], about: str
) -> list[Path]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
        ax = draw()
    axes = ax.flatten() if hasattr(ax, "flatten") else [ax]
    fig = axes[0].figure
    for a in axes:
        _house(a)
    font = STYLE.get("font.size", 8)
    for a in set(fig.axes) - set(axes):  # a colorbar: its label and ticks at the text's size
        for label in (a.xaxis.label, a.yaxis.label):
            label.set_size(font)
            label.set_color("black")
        a.tick_params(labelsize=font - 1, colors="black")
    fig.set_size_inches(*size)
    if fig.get_layout_engine() is None:  # the contour's colorbar brings a layout engine of its own
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "the figure layout has changed to tight"
            fig.tight_layout()
    set_caption(fig, f"{CAPTIONS[name]}; {about}.")
    return _save(fig, folder, name)


def study_figures(study: optuna.Study, folder: Path, metric: str, seeds: list[int] | None = None) -> list[Path]:
    from optuna.visualization import matplotlib as vis

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return []
    label = f"val {metric} (objective)"
    names = set().union(*(t.params for t in complete))
    on = f"seed{'s' if seeds and len(seeds) > 1 else ''} {', '.join(map(str, seeds))}" if seeds else "the tuning seeds"
    about = (
        f"{len(complete)} complete trials of study {study.study_name}, objective the validation {metric} (%) on {on}"
    )
    paths: list[Path] = []
    with plt.rc_context(STYLE):
        paths += _optuna_plot(
            lambda: vis.plot_optimization_history(study, target_name=label), folder, "history", ONE_COLUMN, about
        )
        varied = [n for n in names if len({t.params.get(n) for t in complete}) > 1]
        if len(complete) >= 3 and len(varied) >= 2:
            paths += _optuna_plot(
                lambda: vis.plot_param_importances(study, target_name=label), folder, "importances", ONE_COLUMN, about
            )
        if {TAU, PHASE1} <= set(varied):
            paths += _optuna_plot(
                lambda: vis.plot_contour(study, params=[TAU, PHASE1], target_name=label),
                folder, "contour", (3.6, 3.0), about,
            )  # fmt: skip
        if TAU in varied:
            paths += _optuna_plot(
                lambda: vis.plot_slice(study, params=[TAU], target_name=label),
                folder, "slice_tau_max", ONE_COLUMN, about,
            )  # fmt: skip
    return paths


def grid_figure(grid: pd.DataFrame, keys: list[str], metric: str, folder: Path, title: str) -> list[Path]:
    """The metric against the grid's (first) setting: every seed a point, the mean a line."""
    if grid.empty:
        return []
    key = keys[0]
    values = sorted(grid[key].unique(), key=lambda v: (isinstance(v, str), v))
    pos = {v: i for i, v in enumerate(values)}
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(6.8, 2.5), sharey=False)
        for ax, split in zip(axes, ("test", "val"), strict=True):
            col = f"{split}_{metric}"
            for seed, group in grid.groupby("seed"):
                ax.scatter([pos[v] for v in group[key]], group[col], s=12, alpha=0.7, label=f"seed {seed}")
            means = grid.groupby(key)[col].mean()
            ax.plot([pos[v] for v in values], [means[v] for v in values], color="black", lw=1, marker="_", label="mean")
            ax.set_xticks(range(len(values)), [str(v) for v in values])
            ax.set_xlabel(key + ("" if len(keys) == 1 else f" (and {', '.join(keys[1:])})"))
            ax.set_ylabel(f"{split} {metric}")
        axes[0].legend(fontsize=6, frameon=False)
        fig.suptitle(title, fontsize=8)
        return _save(fig, folder, "grid")
