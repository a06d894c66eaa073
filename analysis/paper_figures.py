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
# Each figure is written as PDF (TrueType fonts embedded, no creation date: the same bytes every
# time) and PNG, at exactly one column or the whole text width of the venue chosen below (ICML 2024
# by default: 3.25 / 6.75 in; also `neurips`, `acl`), in its serif face (Times-like STIXGeneral
# with Computer Modern math) or sans serif, with its caption beside it as `<name>.caption.txt`
# (printed under each figure here). Intervals are 95 % Student t intervals over seeds; budgets
# are written inside every figure that compares methods trained for different numbers of epochs.
# Written to `<out_dir>/figures/`, with a README listing every figure and its caption.

# %% tags=["parameters"]
# source: "results" (the committed files) or an MLflow tracking URI; sweeps are read from results_dir
# tracking_uri: where this analysis is logged as a run of its own; empty: the local default; none: nowhere
# venue: icml, neurips or acl (the widths and fonts of its style file); serif: the venue's Times-like face
source = "results"
results_dir = "results"
out_dir = "results"
tracking_uri = ""
venue = "icml"
serif = True

# %%
from pathlib import Path

import pandas as pd
from IPython.display import Image, display

import akd.catalog  # noqa: F401  (the methods' names, colours and budgets, from their specs)
from akd import records
from akd.registry import METHODS
from akd.report import differences, figures, figures_results, figures_study, figures_sweep
from akd.report.style import Style, caption, save

if source == "results":
    runs, curves = records.runs_from_results(results_dir), records.curves_from_results(results_dir)
else:
    runs, curves = records.runs_from_mlflow(source), records.curves_from_mlflow(source)
style = Style(venue, serif=bool(serif) and str(serif).lower() not in ("false", "0", "no"))
fig_dir = Path(out_dir) / "figures"
written: list[Path] = []
listing: list[tuple[str, str, str]] = []


def show(fig, name: str) -> None:  # noqa: ANN001
    text, width = caption(fig), fig.get_figwidth()
    paths = save(fig, fig_dir, name)
    written.extend(paths)
    listing.append((name, f"{width:.2f} in", text))
    display(Image(filename=str(paths[0])))
    print(f"{name} ({width:.2f} in, {style.name}): {text}")


def where(benchmark: str, dataset: str) -> str:
    return benchmark + (f"_{dataset}" if dataset != benchmark else "")


# A profile's variants are compared with each other only (another profile may train on other data);
# a teacher ladder's variants (<profile>-gap-<teacher>) have a figure of their own.
runs["family"] = runs["variant"].str.split("-").str[0]
ladders = runs[records.on_ladder(runs["variant"])]
runs = runs[~records.on_ladder(runs["variant"])]
curves = curves[~records.on_ladder(curves["variant"])] if len(curves) else curves
students = runs[runs["run"].isin(figures.METHODS)]
print(f"venue {style.name}: one column {style.width('one'):.3f} in, two columns {style.width('two'):.3f} in")

# %% [markdown]
# ## The main result: each method per seed, its mean and t interval, budget-matched variants first
#
# One figure per profile (its variants as panels).

# %%
for (benchmark, dataset, family), _ in students.groupby(["benchmark", "dataset", "family"]):
    part = runs[runs["family"] == family]
    show(figures_results.main_result(part, benchmark, dataset, style), f"main_{where(benchmark, dataset)}_{family}")

# %% [markdown]
# ## Tune, then test (`akd study`): the paper's protocol beside every method tuned at the equal budget

# %%
for benchmark, dataset, profile in figures_study.study_profiles(runs):
    show(
        figures_study.protocols(runs, benchmark, dataset, profile, style),
        f"study_{where(benchmark, dataset)}_{profile}",
    )
if not figures_study.study_profiles(runs):
    print("no study (a variant P beside P-tuned) in the source")

# %% [markdown]
# ## The teacher-student gap: each method against its teacher's accuracy (a teacher ladder)

# %%
for (benchmark, dataset, family), _ in ladders.groupby(["benchmark", "dataset", "family"]):
    prefix = f"{family}{records.LADDER}"
    show(figures_study.gap(ladders, benchmark, dataset, prefix, style), f"gap_{where(benchmark, dataset)}_{family}")
if ladders.empty:
    print("no teacher ladder (variants <profile>-gap-<teacher>) in the source")

# %% [markdown]
# ## Test metric against the epoch budget (every variant that ran the benchmark)

# %%
for (benchmark, dataset, family), part in students.groupby(["benchmark", "dataset", "family"]):
    if part["epochs"].nunique() > 1:
        rows = runs[runs["family"] == family]
        show(figures_results.budget(rows, benchmark, dataset, style), f"budget_{where(benchmark, dataset)}_{family}")

# %% [markdown]
# ## Annealing-KD minus each baseline, every benchmark (paired by seed)
#
# One panel per metric; the numbers (mean, 95 % paired t interval, Holm-adjusted p, n, epochs) in
# a column of their own; † an unequal epoch budget, explained in the figure's legend.

# %%
pairs = differences.comparisons(runs)
if pairs:
    show(figures_results.forest(pairs, style, runs), "forest")

# %% [markdown]
# ## Sweeps and ablations
#
# From `results/<benchmark>/<variant>/sweep-<space>/`: each ablation grid's test metric per value
# (the `tau_max` grid is the sensitivity to tau_max, drawn with the baselines as reference bands:
# those of the same budget where a variant has them), and a sampled sweep's trials themselves.

# %%
sweeps = sorted(Path(results_dir).glob("*/*/sweep-*"))
for folder in sweeps:
    benchmark, variant, space = folder.parts[-3], folder.parts[-2], folder.name.removeprefix("sweep-")
    here = runs[(runs["benchmark"] == benchmark) & (runs["variant"] == variant)]
    dataset = here["dataset"].iloc[0] if len(here) else benchmark
    if (folder / "grid.csv").exists():
        grid = pd.read_csv(folder / "grid.csv")
        metric = next(c for c in grid.columns if c.startswith("test_")).removeprefix("test_")
        for key in [c for c in grid.columns if c not in ("seed", f"test_{metric}", f"val_{metric}")]:
            epoch_key = "epochs" in key
            head = key.split(".")[0]
            swept = head if "." in key and head in METHODS else "annealing"  # a method's own setting names it
            reference, ref_variant, _ = figures_sweep.reference_runs(runs, benchmark, variant, dataset)
            show(
                figures_sweep.grid(
                    grid,
                    key,
                    metric,
                    f"{benchmark} / {variant}: {figures_sweep.key_label(key)} "
                    + ("sensitivity" if key.endswith("tau_max") else "ablation"),
                    style,
                    reference=reference if key.endswith("tau_max") else None,
                    reference_variant=ref_variant,
                    annealing_epochs=None if epoch_key else figures.budgets(here).get(swept),
                    method=swept,
                ),
                f"sweep_{benchmark}_{variant}_{space}_{key.split('.')[-1]}",
            )
    elif (folder / "trials.csv").exists():
        trials = pd.read_csv(folder / "trials.csv")
        if "method" in trials:  # a space over several methods: Annealing-KD's own trials
            trials = trials[trials["method"] == "annealing"]
        complete = "state" in trials and (trials["state"] == "COMPLETE").any()  # a sweep whose trials all failed: none
        if complete and {"param:annealing.tau_max", "param:annealing.phase1_epochs"} <= set(trials.columns):
            show(
                figures_sweep.trials(trials, f"{benchmark} / {variant}: {space} sweep", style),
                f"sweep_{benchmark}_{variant}_{space}_trials",
            )
if not sweeps:
    print("no sweep outputs in", results_dir)

# %% [markdown]
# ## Validation curves (mean over seeds, 95 % t band; Annealing-KD's phase 2 marked)

# %%
for (benchmark, variant, dataset), part in curves.groupby(["benchmark", "variant", "dataset"]):
    rows = runs[(runs["benchmark"] == benchmark) & (runs["variant"] == variant) & (runs["dataset"] == dataset)]
    metric = rows["metric"].iloc[0]
    label = f"{benchmark} / {variant}" + (f" / {dataset}" if dataset != benchmark else "")
    show(
        figures.curves(part, metric, label, style, epochs=figures.budgets(rows)),
        f"curves_{benchmark}_{variant}" + (f"_{dataset}" if dataset != benchmark else ""),
    )
if curves.empty:
    print("no per-epoch curves recorded (curves.csv) in the source")

# %% [markdown]
# ## The annealing schedule
#
# Phase 1 regresses the student's logits onto the teacher's scaled by Φ(T) = 1 - (T - 1)/τ_max,
# T falling from τ_max to 1 in equal steps (constant within an epoch); phase 2 trains on the
# labels alone. The paper's CIFAR setting (τ_max 10, 200 + 200 epochs) and the Fashion-MNIST
# `cpu` profile (τ_max 5, 10 + 10).

# %%
show(figures.schedule(10, 200, 200, style), "schedule_paper_cifar")
show(figures.schedule(5, 10, 10, style), "schedule_fashion_mnist_cpu")

# %% [markdown]
# ## Fidelity beside accuracy
#
# Test accuracy against top-1 agreement with the teacher, per method and seed (Stanton et al.,
# 2021: distillation can improve accuracy while the student still disagrees with its teacher).

# %%
recorded = runs.dropna(subset=["test_agreement"]) if "test_agreement" in runs else runs.iloc[0:0]
for (benchmark, variant, dataset), part in recorded.groupby(["benchmark", "variant", "dataset"]):
    suffix = f"_{dataset}" if dataset != benchmark else ""
    metric = part["metric"].iloc[0]
    rows = runs[(runs["benchmark"] == benchmark) & (runs["variant"] == variant) & (runs["dataset"] == dataset)]
    show(
        figures.fidelity(rows, metric, " / ".join([benchmark, variant, *([dataset] if suffix else [])]), style),
        f"fidelity_{benchmark}_{variant}{suffix}",
    )
if recorded.empty:
    print("no run in the source recorded its fidelity to the teacher yet")

# %%
readme = fig_dir / "README.md"
lines = [
    "# Figures",
    "",
    f"Written by `analysis/paper_figures.py` (source: `{source}`) for **{style.name}**: one column "
    f"{style.width('one'):.3f} in, two columns {style.width('two'):.3f} in; "
    f"{'serif (STIXGeneral, Computer Modern math)' if style.serif else 'sans serif (DejaVu Sans)'}, TrueType "
    "embedded. Each figure is a PDF and a PNG with its caption in `<name>.caption.txt`. Rerun with "
    "`-p venue neurips` or `-p venue acl` (and `-p serif False`) for another venue.",
    "",
]
for name, width, text in listing:
    lines += [f"## {name} ({width})", "", text, ""]
readme.write_text("\n".join(lines), encoding="utf-8")
written.append(readme)

# %%
if tracking_uri != "none":
    from akd.report.publish import log_outputs

    run_id = log_outputs(tracking_uri or None, "paper_figures", written, {"source": source, "venue": venue})
    print(f"logged {len(written)} files to MLflow run {run_id}")
print("\n".join(str(p) for p in written))
