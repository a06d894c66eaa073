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

from akd.report.style import ONE_COLUMN, STYLE  # noqa: E402
from akd.report.style import save as _save  # noqa: E402

TAU, PHASE1 = "annealing.tau_max", "annealing.phase1_epochs"


def _optuna_plot(draw: Callable[[], object], folder: Path, name: str, size: tuple[float, float]) -> list[Path]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
        ax = draw()
    axes = ax.flatten() if hasattr(ax, "flatten") else [ax]
    fig = axes[0].figure
    fig.set_size_inches(*size)
    return _save(fig, folder, name)


def study_figures(study: optuna.Study, folder: Path, metric: str) -> list[Path]:
    from optuna.visualization import matplotlib as vis

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return []
    label = f"val {metric} (objective)"
    names = set().union(*(t.params for t in complete))
    paths: list[Path] = []
    with plt.rc_context(STYLE):
        paths += _optuna_plot(
            lambda: vis.plot_optimization_history(study, target_name=label), folder, "history", ONE_COLUMN
        )
        varied = [n for n in names if len({t.params.get(n) for t in complete}) > 1]
        if len(complete) >= 3 and len(varied) >= 2:
            paths += _optuna_plot(
                lambda: vis.plot_param_importances(study, target_name=label), folder, "importances", ONE_COLUMN
            )
        if {TAU, PHASE1} <= set(varied):
            paths += _optuna_plot(
                lambda: vis.plot_contour(study, params=[TAU, PHASE1], target_name=label), folder, "contour", (3.6, 3.0)
            )
        if TAU in varied:
            paths += _optuna_plot(
                lambda: vis.plot_slice(study, params=[TAU], target_name=label), folder, "slice_tau_max", ONE_COLUMN
            )
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
