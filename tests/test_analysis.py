"""The analysis notebooks execute headless on the committed results and write every table and figure, all at once."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from akd.report import notebooks
from tests.conftest import PAPER_TABLES

pytestmark = pytest.mark.slow
RESULTS = Path(__file__).resolve().parent.parent / "results"
TABLES = PAPER_TABLES


def _expected_figures() -> set[str]:
    names = {"schedule_paper_cifar", "schedule_fashion_mnist_cpu", "forest"}
    for sweep in RESULTS.glob("*/*/sweep-*"):
        benchmark, variant, space = sweep.parts[-3], sweep.parts[-2], sweep.name.removeprefix("sweep-")
        if (sweep / "grid.csv").exists():
            keys = [
                c
                for c in pd.read_csv(sweep / "grid.csv").columns
                if c != "seed" and not c.startswith(("test_", "val_"))
            ]
            names |= {f"sweep_{benchmark}_{variant}_{space}_{k.split('.')[-1]}" for k in keys}
        elif "param:annealing.tau_max" in pd.read_csv(sweep / "trials.csv").columns:
            names.add(f"sweep_{benchmark}_{variant}_{space}_trials")
    for csv in RESULTS.glob("*/*/curves.csv"):
        if "-gap-" not in csv.parts[-2]:  # a teacher ladder's rungs: the gap figure, not one curve figure each
            names.add(f"curves_{csv.parts[-3]}_{csv.parts[-2]}")
    return names


def test_notebooks_write_every_table_and_figure_and_log_them(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    params = {"results_dir": str(RESULTS), "out_dir": str(tmp_path / "out"), "tracking_uri": uri}
    executed = notebooks.run(parameters=params, work_dir=tmp_path / "nb", log=lambda *_: None)
    assert [p.name for p in executed] == ["paper_tables.executed.ipynb", "paper_figures.executed.ipynb"]
    paper = tmp_path / "out" / "paper"
    for name in TABLES:
        for ext in ("csv", "md", "tex"):
            assert (paper / f"{name}.{ext}").stat().st_size > 0, f"{name}.{ext}"
    tex = (paper / "cifar.tex").read_text()
    assert r"\toprule" in tex and "93.80" in tex and "not run for any task" in tex  # ours is never filled in
    figures = {p.stem for p in (tmp_path / "out" / "figures").glob("*.pdf")}
    assert _expected_figures() <= figures
    assert {p.stem for p in (tmp_path / "out" / "figures").glob("*.png")} == figures
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("akd-analysis")
    runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
    assert set(runs) == {"paper_tables", "paper_figures"}
    logged = {a.path for a in client.list_artifacts(runs["paper_tables"].info.run_id, "paper")}
    assert "paper/differences.tex" in logged


TINY = """# %% tags=["parameters"]
out_dir = "results"

# %%
from pathlib import Path

for name, text in {WRITES}.items():
    (Path(out_dir) / name).parent.mkdir(parents=True, exist_ok=True)
    (Path(out_dir) / name).write_text(text)
{FAIL}
"""


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """Two tiny notebooks (the second fails) and an out_dir holding an earlier analysis's outputs."""
    folder = tmp_path / "analysis"
    folder.mkdir()
    writes = {"paper/t.md": "new table", "paper/t.tex": "new"}
    (folder / "ok.py").write_text(TINY.format(WRITES=writes, FAIL=""))
    writes = {"figures/f.pdf": "half a figure", "extra/x.txt": "new"}
    (folder / "bad.py").write_text(TINY.format(WRITES=writes, FAIL='raise RuntimeError("the second notebook broke")'))
    monkeypatch.setattr(notebooks, "NOTEBOOKS", ("ok", "bad"))
    monkeypatch.setattr(notebooks, "NOTEBOOK_DIR", folder)
    monkeypatch.setattr(notebooks, "WORK_DIR", tmp_path / "executed")
    out = tmp_path / "out"
    for name, text in {"paper/t.md": "old table", "paper/stale.md": "old", "figures/f.pdf": "old figure"}.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
    (out / "fashion_mnist").mkdir()
    (out / "fashion_mnist" / "runs.csv").write_text("run,seed\n")
    return out


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_failing_notebook_leaves_out_dir_untouched(tiny, capsys):
    before = _tree(tiny)
    assert notebooks.main(["-p", "out_dir", str(tiny)]) == 1
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-1].startswith("analysis failed") and "the second notebook broke" in printed[-1]
    assert _tree(tiny) == before  # byte for byte: nothing half-written
    assert sorted(p.name for p in tiny.iterdir()) == ["fashion_mnist", "figures", "paper"]  # no temporary folder


def test_outputs_replace_only_the_folders_written(tiny):
    figures = _tree(tiny / "figures")
    executed = notebooks.publish(["ok"], {"out_dir": str(tiny)}, log=lambda *_: None)
    assert [p.name for p in executed] == ["ok.executed.ipynb"]
    assert _tree(tiny / "paper") == {"t.md": b"new table", "t.tex": b"new"}  # the whole folder: stale.md gone
    assert _tree(tiny / "figures") == figures  # not written by this notebook: as it was
    assert sorted(p.name for p in tiny.iterdir()) == ["fashion_mnist", "figures", "paper"]
