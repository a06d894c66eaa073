"""The analysis data layer refuses what it cannot read: one line naming the file (line, column), nothing written.

Lines are counted as in an editor: the header is line 1, the first row line 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from akd.errors import AkdError
from akd.records import curves_from_mlflow, curves_from_results, runs_from_mlflow, runs_from_results
from akd.tracking import Tracker

HEADER = "run,seed,test_acc,test_acc_last,val_acc_best,test_agreement\n"
GOOD = HEADER + "teacher,0,90.0,90.0,89.0,\nkd,0,80.0,80.1,79.0,91.0\nkd,1,81.0,81.1,80.0,92.0\n"
CURVES = "run,seed,step,val_acc,phase\nkd,0,0,70.0,1\nkd,0,1,75.0,1\nkd,1,0,71.0,1\n"


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _refused(call, root: Path, *fragments: str) -> str:
    """``call()`` raises AkdError with one line holding every fragment, and leaves ``root`` as it was."""
    before = _tree(root)
    with pytest.raises(AkdError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert _tree(root) == before
    return message


def _folder(tmp_path: Path, runs: str | None = GOOD, curves: str | None = None, summary=None) -> Path:
    folder = tmp_path / "results" / "fm" / "cpu"
    folder.mkdir(parents=True)
    if runs is not None:
        (folder / "runs.csv").write_text(runs)
    if curves is not None:
        (folder / "curves.csv").write_text(curves)
    if summary is not None:
        (folder / "summary.json").write_text(summary if isinstance(summary, str) else json.dumps(summary))
    return tmp_path / "results"


def test_good_files_read_with_empty_optional_cells(tmp_path):
    root = _folder(tmp_path, curves=CURVES)
    df = runs_from_results(root)
    assert len(df) == 3 and df["test_agreement"].isna().tolist() == [True, False, False]  # the teacher's
    assert curves_from_results(root)["step"].tolist() == [0, 1, 0]


BAD_RUNS = {
    "no run column": ("seed,test_acc\n0,80.0\n", None, ["line 1", "'run'"]),
    "no seed column": ("run,test_acc\nkd,80.0\n", None, ["line 1", "'seed'"]),
    "no reported metric column": (GOOD, {"metrics": {"reported": "f1"}}, ["line 1", "'test_f1'", "metrics.reported"]),
    "seed not a number": (GOOD.replace("kd,1,", "kd,one,"), None, ["line 4", "'seed'", "'one'"]),
    "seed not whole": (GOOD.replace("kd,1,", "kd,1.5,"), None, ["line 4", "'seed'", "not a whole number"]),
    "seed empty": (GOOD.replace("kd,1,", "kd,,"), None, ["line 4", "'seed'", "empty"]),
    "run empty": (GOOD.replace("kd,1,", ",1,"), None, ["line 4", "'run'", "empty"]),
    "test value not a number": (GOOD.replace("80.1", "80.1x"), None, ["line 3", "'test_acc_last'", "'80.1x'"]),
    "val value not a number": (GOOD.replace("79.0", "high"), None, ["line 3", "'val_acc_best'", "'high'"]),
    "reported metric empty": (GOOD.replace("kd,1,81.0", "kd,1,"), None, ["line 4", "run 'kd' seed 1", "test_acc"]),
    "reported metric nan": (GOOD.replace("kd,1,81.0", "kd,1,nan"), None, ["line 4", "run 'kd' seed 1", "test_acc"]),
    "reported metric inf": (GOOD.replace("kd,1,81.0", "kd,1,inf"), None, ["line 4", "seed 1", "test_acc (inf)"]),
    "zero bytes": ("", None, ["0 bytes"]),
    "blank": ("\n\n", None, ["no header"]),
    "header only": (HEADER, None, ["header line and no rows"]),
    "ragged row": (GOOD + "kd,2,80.0,80.0,79.0,91.0,extra\n", None, ["not a readable CSV", "line 5"]),
    "repeated run and seed": (
        GOOD + "kd,1,82.0,82.1,81.0,93.0\n",
        None,
        ["line 5 repeats run 'kd' seed 1 (lines 4 and 5); remove one of them"],
    ),
    "repeated after a blank line": (
        GOOD + "\nkd,0,82.0,82.1,81.0,93.0\n",
        None,
        ["line 6 repeats run 'kd' seed 0 (lines 3 and 6)"],
    ),
    "summary not JSON": (GOOD, "{not json", ["summary.json", "not readable JSON"]),
}


@pytest.mark.parametrize("case", list(BAD_RUNS))
def test_bad_runs_csv_refused(tmp_path, case):
    text, summary, fragments = BAD_RUNS[case]
    root = _folder(tmp_path, runs=text, summary=summary)
    name = "summary.json" if "summary" in case else "runs.csv"
    _refused(lambda: runs_from_results(root), root, str(root / "fm" / "cpu" / name), *fragments)


def test_several_task_runs_keyed_by_task(tmp_path):
    """A runs.csv with a task column: the same run and seed once per task, each task's own metric."""
    text = "run,seed,test_acc,test_corr,task,metric\nkd,0,80.0,,sst,acc\nkd,0,,70.0,score,corr\n"
    root = _folder(tmp_path, runs=text)
    assert sorted(runs_from_results(root)["test_acc"].fillna(-1)) == [-1, 80.0]
    (root / "fm" / "cpu" / "runs.csv").write_text(text + "kd,0,,71.0,score,corr\n")
    _refused(lambda: runs_from_results(root), root, "line 4 repeats task 'score' run 'kd' seed 0 (lines 3 and 4)")
    (root / "fm" / "cpu" / "runs.csv").write_text(text.replace(",70.0,score", ",,score"))
    _refused(lambda: runs_from_results(root), root, "line 3: run 'kd' seed 0 has no finite test_corr")


BAD_CURVES = {
    "no step column": ("run,seed,val_acc\nkd,0,70.0\n", ["line 1", "'step'"]),
    "no run column": ("seed,step,val_acc\n0,0,70.0\n", ["line 1", "'run'"]),
    "seed not a number": (CURVES.replace("kd,1,0", "kd,x,0"), ["line 4", "'seed'", "'x'"]),
    "step not a number": (CURVES.replace("kd,0,1,", "kd,0,one,"), ["line 3", "'step'", "'one'"]),
    "value not a number": (CURVES.replace("75.0", "7S.0"), ["line 3", "'val_acc'", "'7S.0'"]),
    "zero bytes": ("", ["0 bytes"]),
    "header only": ("run,seed,step,val_acc\n", ["header line and no rows"]),
    "repeated run seed step": (
        CURVES + "kd,0,1,76.0,1\n",
        ["line 5 repeats run 'kd' seed 0 step 1 (lines 3 and 5); remove one of them"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_CURVES))
def test_bad_curves_csv_refused(tmp_path, case):
    text, fragments = BAD_CURVES[case]
    root = _folder(tmp_path, curves=text)
    _refused(lambda: curves_from_results(root), root, str(root / "fm" / "cpu" / "curves.csv"), *fragments)


# ---------------------------------------------------------------------------------- MLflow
@pytest.mark.parametrize("read", [runs_from_mlflow, curves_from_mlflow])
def test_missing_sqlite_store_refused_and_not_created(tmp_path, read):
    db = tmp_path / "nowhere" / "mlflow.db"
    (tmp_path / "nowhere").mkdir()
    _refused(lambda: read(f"sqlite:///{db}"), tmp_path, str(db), "no MLflow store")
    assert not db.exists() and list(tmp_path.rglob("*")) == [tmp_path / "nowhere"]


def test_missing_file_store_refused_and_not_created(tmp_path):
    _refused(lambda: runs_from_mlflow(str(tmp_path / "mlruns")), tmp_path, str(tmp_path / "mlruns"))
    assert not (tmp_path / "mlruns").exists()


def test_empty_store_refused(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    Tracker(uri, experiment="akd-fm")  # schema and experiment, no runs
    for read in (runs_from_mlflow, curves_from_mlflow):
        _refused(lambda r=read: r(uri), tmp_path, f"no FINISHED benchmark runs in {uri}", "no benchmark runs")


def test_store_of_unfinished_runs_refused(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker(uri, experiment="akd-fm")
    parent = tracker.start("fm/cpu", {"kind": "benchmark", "benchmark": "fm", "variant": "cpu"})
    for seed, status in enumerate(("FAILED", "FAILED", "KILLED", None)):
        tags = {"kind": "method", "method": "kd", "seed": str(seed), "benchmark": "fm", "variant": "cpu"}
        run = tracker.start(f"kd/seed{seed}", tags, {"seed": seed}, parent=parent)
        tracker.log_metrics(run, {"test_acc": 80.0})
        if status:
            tracker.end(run, status=status)
    tracker.end(parent)  # FINISHED, but the invocation's run is no benchmark result
    message = _refused(lambda: runs_from_mlflow(uri), tmp_path, f"no FINISHED benchmark runs in {uri}")
    assert "found 4 runs, all FAILED (2)/KILLED (1)/RUNNING (1)" in message
    _refused(lambda: curves_from_mlflow(uri), tmp_path, "found 4 runs")
