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
# # The paper's tables, reproduced
#
# Every table of Annealing-KD (Jafari et al., EACL 2021) that the suite can reproduce: tasks as
# rows (the paper's row and ours), methods as columns; ours is the mean with the half-width of its
# 95 % Student t interval over seeds (`akd.stats.mean_interval`), n stated once in the caption; a
# row or column with no number is left out and named in the note below the table. Each caption
# gives every method's epoch budget, and a student trained for more (or fewer) epochs than the
# other students of its task is marked †. Then Annealing-KD minus each baseline, paired by seed;
# and each student's fidelity to its teacher. The LaTeX needs only `\usepackage{booktabs}`
# (`akd/report/latex.py`); tests/test_latex.py compiles every table with `pdflatex`.
#
# Run headless with `nox -s analysis` (parameters below); `source` is `results` (the committed
# `runs.csv` files) or an MLflow tracking URI (the local sqlite store, or a server).

# %% tags=["parameters"]
# source: "results" (the committed runs.csv files) or an MLflow tracking URI (sqlite:///..., http://host:5000)
# tracking_uri: where this analysis is logged as a run of its own; empty: the local default; none: nowhere
source = "results"
results_dir = "results"
out_dir = "results"
tracking_uri = ""
cifar_variant = "paper"
glue_variants = {"distilroberta": "paper", "bert-small": "bert"}

# %%
from pathlib import Path

import pandas as pd
from IPython.display import Markdown, display

import akd.catalog  # noqa: F401  (the methods' names, colours and budgets, from their specs)
from akd import records
from akd.hashing import atomic_write
from akd.paper import GLUE_PAPER, GLUE_SERVER, GLUE_TASKS, PAPER_NUMBERS
from akd.report import differences, tables

if source == "results":
    runs = records.runs_from_results(results_dir)
else:
    runs = records.runs_from_mlflow(source)
paper_dir = Path(out_dir) / "paper"
written: list[Path] = []
print(f"{len(runs)} runs x seeds from {source}:")
display(runs.groupby(["benchmark", "variant", "dataset"]).size().rename("runs x seeds").to_frame())


# %%
def write(name: str, long: pd.DataFrame, markdown: str, latex: str) -> None:
    """One table as CSV (every number, n and epochs per cell), Markdown and LaTeX, each written whole."""
    for ext, text in (("csv", long.to_csv(index=False, float_format="%.4f")), ("md", markdown), ("tex", latex)):
        path = paper_dir / f"{name}.{ext}"
        atomic_write(path, text)
        written.append(path)
    display(Markdown(markdown))


def paper_table(name: str, what: str, tasks: list[tables.Task], score: bool = False) -> None:
    """``what`` the numbers are; the caption adds the interval, n and the epoch budgets from the runs."""
    long = tables.build(runs, tasks, score=score)
    write(name, long, tables.to_markdown(long, what), tables.to_latex(long, what, f"tab:{name}"))


# %% [markdown]
# ## CIFAR-10 and CIFAR-100 (paper Table 1): resnet110 teacher, resnet20 TA, resnet8 student

# %%
paper_table(
    "cifar",
    f"CIFAR test accuracy (%): the paper's number beside ours where run ({cifar_variant} profile); "
    "resnet110 teacher, resnet20 TA, resnet8 students",
    [
        tables.Task(name.upper().replace("CIFAR", "CIFAR-"), name, cifar_variant, name, PAPER_NUMBERS[name])
        for name in ("cifar10", "cifar100")
    ],
)

# %% [markdown]
# ## GLUE dev (paper Tables 2 and 3), with the paper's GLUE-server averages apart
#
# Tasks as rows, so eight tasks fit a page. The server row is the paper's test-server average,
# below a rule and outside the score: the suite writes the server's submission files
# (`--glue-submission`) but cannot score them here, so there is never an "Ours" row for it.

# %%
LABEL = {
    "cola": "CoLA",
    "rte": "RTE",
    "mrpc": "MRPC",
    "stsb": "STS-B",
    "sst2": "SST-2",
    "qnli": "QNLI",
    "qqp": "QQP",
    "mnli": "MNLI-m",
}
for table, variant in glue_variants.items():
    tasks = [tables.Task(LABEL[t], "glue", variant, f"glue-{t}", GLUE_PAPER[table][f"glue-{t}"]) for t in GLUE_TASKS]
    server = tables.Task("GLUE server (test)", "glue", variant, "glue-server", GLUE_SERVER[table], apart=True)
    long = tables.build(runs, [*tasks, server], score=True)
    what = (
        f"GLUE dev ({table} student, {variant} profile): task metric x100 (Matthews for CoLA, Pearson for STS-B, "
        "accuracy otherwise), the paper's number beside ours where run. GLUE server (test): the paper's test-server "
        "average; the suite writes the submission files but cannot score them, so it has no row of ours"
    )
    write(f"glue_{table}", long, tables.to_markdown(long, what), tables.to_latex(long, what, f"tab:glue_{table}"))

# %% [markdown]
# ## The offline benchmarks (real data that install here)
#
# Fashion-MNIST (resnet32 -> resnet14 -> resnet8; one row per variant: the `cpu` profile, where
# Annealing-KD's two phases give it twice the baselines' epochs, equal 20-epoch budgets, equal
# 10-epoch budgets) and glue_mini (movie-review sentences, MiniLM 6/4/2 layers). The paper has no
# numbers for them.

# %%
fm = sorted(set(runs[runs["benchmark"] == "fashion_mnist"]["variant"]))
rungs = set(runs[records.on_ladder(runs["variant"])]["variant"])
for name, variants, what in (
    ("fashion_mnist", [v for v in fm if v.split("-")[0] == "cpu"], "resnet32 teacher, resnet14 TA, resnet8 students"),
    (
        "fashion_mnist_study",
        [v for v in fm if v.split("-")[0] == "study" and v not in rungs],
        "the study: resnet20 teacher on all 54,000 images, resnet14 TA, resnet8 students on 2,000",
    ),
    ("fashion_mnist_gap", [v for v in fm if v in rungs], "the teacher ladder at the study's settings"),
):
    if variants:  # one table per profile family: another family trains on other data
        paper_table(
            name,
            f"Fashion-MNIST test accuracy (%) per variant ({what})",
            [tables.Task(f"Fashion-MNIST {v}", "fashion_mnist", v, "fashion_mnist") for v in variants],
        )
mini = runs[runs["benchmark"] == "glue_mini"]
for variant in sorted(set(mini["variant"])):
    tasks = sorted(set(mini[mini["variant"] == variant]["dataset"]))
    metric = "accuracy; Pearson for movies-score" if "movies-score" in tasks else "accuracy"
    paper_table(
        f"glue_mini_{variant}",
        f"glue_mini ({variant} profile): test metric x100 per task ({metric}); "
        "MiniLM 6-layer teacher, 4-layer TA, 2-layer students",
        [tables.Task(t, "glue_mini", variant, t) for t in tasks],
        score=True,
    )

# %% [markdown]
# ## Annealing-KD minus each baseline, paired by seed
#
# Same seed, same initial weights and batches: the per-seed difference is the honest comparison.
# The verdicts come from `akd.stats` (the paired t interval and test, Holm's correction across the
# comparisons of one family, the sign-flip p beside); flags mark unequal epoch budgets and
# test-set selection.

# %%
pairs = differences.comparisons(runs)
diff = differences.table(pairs)
caption = "Annealing-KD minus each baseline (test metric), paired by seed"
write(
    "differences", diff, differences.to_markdown(diff, caption), differences.to_latex(diff, caption, "tab:differences")
)

# %% [markdown]
# ## Fidelity beside accuracy (Stanton et al., NeurIPS 2021)
#
# Top-1 agreement with the teacher and KL(teacher ‖ student) on the test split, for runs that
# recorded them (runs made before the suite measured fidelity read —). Every row names its task
# and setting, and gives the student's epochs.

# %%
fid = tables.fidelity(runs[~records.on_ladder(runs["variant"])])  # a ladder's rungs: the gap table above
what = "Student fidelity to the teacher on the test split"
write("fidelity", fid, tables.fidelity_markdown(fid, what), tables.fidelity_latex(fid, what, "tab:fidelity"))

# %%
if tracking_uri != "none":
    from akd.report.publish import log_outputs

    run_id = log_outputs(tracking_uri or None, "paper_tables", written, {"source": source})
    print(f"logged {len(written)} files to MLflow run {run_id}")
print("\n".join(str(p) for p in written))
