"""The analysis notebooks execute headless on the committed results and write every table and figure."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from akd.report import notebooks

pytestmark = pytest.mark.slow
RESULTS = Path(__file__).resolve().parent.parent / "results"
TABLES = ["cifar", "glue_distilroberta", "glue_bert-small", "fashion_mnist", "glue_mini_cpu", "differences", "fidelity"]


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
            names.add(f"sweep_{benchmark}_{variant}_{space}_contour")
    for csv in RESULTS.glob("*/*/curves.csv"):
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
    assert r"\toprule" in tex and "93.80 & not run" in tex  # the paper's teacher, never filled in
    figures = {p.stem for p in (tmp_path / "out" / "figures").glob("*.pdf")}
    assert _expected_figures() <= figures
    assert {p.stem for p in (tmp_path / "out" / "figures").glob("*.png")} == figures
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("akd-analysis")
    runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
    assert set(runs) == {"paper_tables", "paper_figures"}
    logged = {a.path for a in client.list_artifacts(runs["paper_tables"].info.run_id, "paper")}
    assert "paper/differences.tex" in logged
