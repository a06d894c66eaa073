# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The figures
#
# Paper-ready PDF (TrueType fonts embedded) and PNG, one- or two-column size, one style: the
# annealing schedule; validation curves of the four methods; a forest plot of the paired
# differences for every benchmark; from the sweeps, tau_max sensitivity, the phase-length contour
# and each ablation's grid (the teacher-student gap among them when it was run); and fidelity
# to the teacher beside accuracy. Written to `<out_dir>/figures/`.

# %% tags=["parameters"]
# source: "results" (the committed files) or an MLflow tracking URI; sweeps are read from results_dir
# tracking_uri: where this analysis is logged as a run of its own; empty: the local default; none: nowhere
source = "results"
results_dir = "results"
out_dir = "results"
tracking_uri = ""

# %%
from pathlib import Path

import pandas as pd
from IPython.display import Image, display

from akd import records
from akd.report import differences, figures
from akd.report.style import save
from akd.results import LABELS

if source == "results":
    runs, curves = records.runs_from_results(results_dir), records.curves_from_results(results_dir)
else:
    runs, curves = records.runs_from_mlflow(source), records.curves_from_mlflow(source)
fig_dir = Path(out_dir) / "figures"
written: list[Path] = []


def show(fig, name: str) -> None:  # noqa: ANN001
    paths = save(fig, fig_dir, name)
    written.extend(paths)
    display(Image(filename=str(paths[0])))


# %% [markdown]
# ## The annealing schedule
#
# Phase 1 regresses the student's logits onto the teacher's scaled by Phi(T) = 1 - (T - 1)/tau_max,
# T falling from tau_max to 1 in equal steps; phase 2 trains on the labels alone. The paper's CIFAR
# setting (tau_max 10, 200 + 200 epochs) and the Fashion-MNIST `cpu` profile (tau_max 5, 10 + 10).

# %%
show(figures.schedule(10, 200, 200), "schedule_paper_cifar")
show(figures.schedule(5, 10, 10), "schedule_fashion_mnist_cpu")

# %% [markdown]
# ## Validation curves (mean over seeds, min-max band; Annealing-KD's phase 2 marked)

# %%
for (benchmark, variant, dataset), part in curves.groupby(["benchmark", "variant", "dataset"]):
    metric = runs[(runs["benchmark"] == benchmark) & (runs["dataset"] == dataset)]["metric"].iloc[0]
    name = f"curves_{benchmark}_{variant}" + (f"_{dataset}" if dataset != benchmark else "")
    show(
        figures.curves(part, metric, f"{benchmark} / {variant}" + (f" / {dataset}" if dataset != benchmark else "")),
        name,
    )
if curves.empty:
    print("no per-epoch curves recorded (curves.csv) in the source")

# %% [markdown]
# ## Annealing-KD minus each baseline, every benchmark (paired by seed)
#
# Diamond: mean difference; line: 95 % BCa bootstrap interval; ticks: the seeds. Black where the
# difference is distinguishable (interval excludes 0 and sign-flip p < 0.05), grey where not.

# %%
pairs = differences.comparisons(runs)
labels = [
    f"{i['benchmark']} {i['variant']}"
    + (f" {i['dataset']}" if i["dataset"] != i["benchmark"] else "")
    + f" vs {LABELS[i['baseline']]}"
    + (" †" if ("unequal" in i["flags"] or "test set" in i["flags"]) else "")
    for i, _ in pairs
]
show(figures.forest(list(zip(labels, [p for _, p in pairs], strict=True))), "forest")
print("† unequal epoch budgets or test-set selection")

# %% [markdown]
# ## Sweeps and ablations
#
# From `results/<benchmark>/<variant>/sweep-<space>/`: the objective over tau_max x phase-1 epochs
# (each trial a point; validation, the objective), and each ablation grid's test metric per
# setting, one point per seed (the `tau_max` grid is the sensitivity to tau_max; `gap` the
# teacher-student gap).

# %%
sweeps = sorted(Path(results_dir).glob("*/*/sweep-*"))
for folder in sweeps:
    benchmark, variant, space = folder.parts[-3], folder.parts[-2], folder.name.removeprefix("sweep-")
    trials = pd.read_csv(folder / "trials.csv") if (folder / "trials.csv").exists() else pd.DataFrame()
    tau, phase1 = "annealing.tau_max", "annealing.phase1_epochs"
    if (
        not trials.empty
        and {f"param:{tau}", f"param:{phase1}"} <= set(trials.columns)
        and not (folder / "grid.csv").exists()
    ):
        show(
            figures.contour(trials, tau, phase1, f"{benchmark} / {variant}: {space} sweep"),
            f"sweep_{benchmark}_{variant}_{space}_contour",
        )
    if (folder / "grid.csv").exists():
        grid = pd.read_csv(folder / "grid.csv")
        metric = next(c for c in grid.columns if c.startswith("test_")).removeprefix("test_")
        for key in [c for c in grid.columns if c not in ("seed", f"test_{metric}", f"val_{metric}")]:
            title = f"{benchmark} / {variant}: {space} ablation"
            show(figures.grid(grid, key, metric, title), f"sweep_{benchmark}_{variant}_{space}_{key.split('.')[-1]}")
if not sweeps:
    print("no sweep outputs in", results_dir)

# %% [markdown]
# ## Fidelity beside accuracy
#
# Test accuracy against top-1 agreement with the teacher, per method and seed (Stanton et al.,
# 2021: distillation can improve accuracy while the student still disagrees with its teacher).

# %%
recorded = runs.dropna(subset=["test_agreement"]) if "test_agreement" in runs else runs.iloc[0:0]
for (benchmark, variant, dataset), part in recorded.groupby(["benchmark", "variant", "dataset"]):
    suffix = f"_{dataset}" if dataset != benchmark else ""
    show(
        figures.fidelity(part, part["metric"].iloc[0], f"{benchmark} / {variant}{suffix.replace('_', ' ')}"),
        f"fidelity_{benchmark}_{variant}{suffix}",
    )
if recorded.empty:
    print("no run in the source recorded its fidelity to the teacher yet")

# %%
if tracking_uri != "none":
    from akd.report.publish import log_outputs

    run_id = log_outputs(tracking_uri or None, "paper_figures", written, {"source": source})
    print(f"logged {len(written)} files to MLflow run {run_id}")
print("\n".join(str(p) for p in written))
