"""Every table the suite writes compiles with pdflatex and fits its float: text escaped, a real minus, no overflow.

The tables are generated from the committed results with the functions the notebook
(analysis/paper_tables.py) calls, and every committed results/paper/*.tex is compiled as it is.
Without pdflatex these tests skip, except under CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from akd import records
from akd.paper import GLUE_PAPER, GLUE_SERVER, GLUE_TASKS, PAPER_NUMBERS
from akd.report import differences, latex, tables
from tests.conftest import PAPER_TABLES

RESULTS = Path(__file__).resolve().parent.parent / "results"


@pytest.mark.parametrize(
    ("text", "tex"),
    [
        ("95 % t interval", r"95 \% t interval"),
        ("glue_mini cpu", r"glue\_mini cpu"),
        ("a & b # c $5 {x} ~ ^", r"a \& b \# c \$5 \{x\} \textasciitilde{} \textasciicircum{}"),
        (r"C:\path", r"C:\textbackslash{}path"),
        ("−0.53", "$-$0.53"),
        ("-0.53", "$-$0.53"),
        ("[-0.30, +1.40]", "[$-$0.30, +1.40]"),
        ("-.5", "$-$.5"),
        ("cpu-baselines-20ep", "cpu-baselines-20ep"),  # a hyphen inside a word stays a hyphen
        ("86.59 ± 0.79†", r"86.59 $\pm$ 0.79$^\dagger$"),
        ("— and –", "--- and --"),
        ("KL(teacher ‖ student)", r"KL(teacher $\|$ student)"),
        ("τ_max × Φ", r"$\tau$\_max $\times$ $\Phi$"),
        ("--glue-submission", "-{}-glue-submission"),
        ("a < b > c", r"a \textless{} b \textgreater{} c"),
    ],
)
def test_escape_by_hand(text, tex):
    assert latex.escape(text) == tex


def test_minus_in_plain_text():
    assert latex.minus("-0.53 [-1.2, 3] cpu-20ep") == "−0.53 [−1.2, 3] cpu-20ep"


@pytest.fixture
def pdflatex():
    if shutil.which("pdflatex") is None:
        if os.environ.get("CI"):
            pytest.fail("pdflatex is missing under CI: .ci/run installs texlive-latex-recommended")
        pytest.skip("pdflatex not installed (apt-get install texlive-latex-recommended); CI fails here instead")


def generate(runs) -> dict[str, str]:  # noqa: ANN001
    """Every table of analysis/paper_tables.py, as LaTeX, from ``runs`` (the notebook's own calls)."""
    out = {}
    t = tables.Task
    cifar = [t(n.upper().replace("CIFAR", "CIFAR-"), n, "paper", n, PAPER_NUMBERS[n]) for n in ("cifar10", "cifar100")]
    out["cifar"] = tables.to_latex(tables.build(runs, cifar), "CIFAR test accuracy (%)", "tab:cifar")
    for table, variant in {"distilroberta": "paper", "bert-small": "bert"}.items():
        glue = [t(g, "glue", variant, f"glue-{g}", GLUE_PAPER[table][f"glue-{g}"]) for g in GLUE_TASKS]
        glue.append(t("GLUE server (test)", "glue", variant, "glue-server", GLUE_SERVER[table], apart=True))
        long = tables.build(runs, glue, score=True)
        out[f"glue_{table}"] = tables.to_latex(long, f"GLUE dev ({table}), x100", f"tab:glue_{table}")
    fm = sorted(set(runs[runs["benchmark"] == "fashion_mnist"]["variant"]))
    families = {
        "fashion_mnist": [v for v in fm if v.split("-")[0] == "cpu"],
        "fashion_mnist_study": [v for v in fm if v.split("-")[0] == "study" and "-gap-" not in v],
        "fashion_mnist_gap": [v for v in fm if "-gap-" in v],
    }
    for name, variants in families.items():
        fm_tasks = [t(f"Fashion-MNIST {v}", "fashion_mnist", v, "fashion_mnist") for v in variants]
        out[name] = tables.to_latex(tables.build(runs, fm_tasks), "Fashion-MNIST accuracy (%)", f"tab:{name}")
    mini = runs[runs["benchmark"] == "glue_mini"]
    for variant in sorted(set(mini["variant"])):
        tasks = [t(d, "glue_mini", variant, d) for d in sorted(set(mini[mini["variant"] == variant]["dataset"]))]
        long = tables.build(runs, tasks, score=True)
        out[f"glue_mini_{variant}"] = tables.to_latex(long, f"glue_mini_{variant} x100 (100 %)", f"tab:m_{variant}")
    fid = tables.fidelity(runs[~runs["variant"].str.contains("-gap-")])
    out["fidelity"] = tables.fidelity_latex(fid, "Fidelity", "tab:fidelity")
    diff = differences.table(differences.comparisons(runs))
    out["differences"] = differences.to_latex(diff, "Annealing-KD minus each baseline", "tab:differences")
    return out


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    return generate(records.runs_from_results(RESULTS))


NAMES = PAPER_TABLES


@pytest.mark.parametrize("name", NAMES)
def test_every_generated_table_compiles_and_fits(pdflatex, generated, name, tmp_path):
    assert name in generated, f"{name} was not generated (results changed?)"
    path = tmp_path / f"{name}.tex"
    path.write_text(generated[name])
    ok, log = latex.compile_tex(path)
    assert ok, f"{name}.tex does not compile or overflows its float:\n{log[-1500:]}"


@pytest.mark.parametrize("path", sorted(RESULTS.glob("paper/*.tex")), ids=lambda p: p.name)
def test_every_committed_table_compiles_and_fits(pdflatex, path):
    ok, log = latex.compile_tex(path)
    assert ok, f"{path.name} does not compile or overflows its float (regenerate: nox -s analysis):\n{log[-1500:]}"


def test_the_compile_check_catches_what_it_must(pdflatex):
    table = latex.table(["Task", "Ours"], [["a", "1.00"]], "accuracy (%)", "tab:a", "lr")
    assert latex.compile_tex(table)[0]
    ok, log = latex.compile_tex(table.replace(r"(\%)", "(%)"))  # an unescaped % ends the caption early
    assert not ok and "!" in log
    wide = table.replace("1.00", "x" * 120)  # wider than a column
    ok, log = latex.compile_tex(wide.replace("table*", "table"))
    assert not ok and "Overfull" in log
