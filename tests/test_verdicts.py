"""One source of verdicts: every committed summary agrees with the committed differences table,
and both agree with what the statistics compute from the committed runs today (nothing stale)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from akd import records
from akd.refresh import refresh
from akd.report import differences
from akd.results import LABELS

RESULTS = Path(__file__).resolve().parent.parent / "results"
LINE = re.compile(
    r"^- (?:(?P<task>[\w.-]+): )?Annealing-KD minus (?P<label>[^:]+): (?P<mean>\S+) .*\): (?P<verdict>.+)\.$"
)
NAMES = {label: run for run, label in LABELS.items()}


def _summary_verdicts() -> dict[tuple, tuple[str, str]]:
    """(benchmark, variant, dataset, baseline) -> (mean as printed, verdict) from every summary.md."""
    found = {}
    for md in sorted(RESULTS.glob("*/*/summary.md")) + sorted(RESULTS.glob("*/*/*/summary.md")):
        parts = md.parent.relative_to(RESULTS).parts
        for line in md.read_text().splitlines():
            m = LINE.match(line)
            if not m:
                continue
            dataset = m["task"] or (parts[2] if len(parts) == 3 else parts[0])
            key = (parts[0], parts[1], dataset, NAMES[m["label"]])
            value = (m["mean"], m["verdict"])
            assert found.setdefault(key, value) == value, f"{md}: {key} disagrees with another summary"
    return found


def _differences() -> pd.DataFrame:
    return pd.read_csv(RESULTS / "paper" / "differences.csv")


def test_every_summary_verdict_agrees_with_the_differences_table():
    summaries = _summary_verdicts()
    diff = _differences()
    assert summaries, "no verdict line found in any committed summary.md"
    table = {
        (r["benchmark"], r["variant"], r["dataset"], r["baseline"]): r["verdict"].replace("Annealing-KD is", "A is")
        for r in diff.to_dict("records")
    }
    for key, (_, verdict) in summaries.items():
        assert key in table, f"{key} has a verdict in its summary.md but no line in differences.csv"
        assert verdict.replace("Annealing-KD is", "A is") == table[key], f"{key}: summary and differences disagree"
    single = {k for k in table if (RESULTS / k[0] / k[1] / "summary.json").exists() or k[2] != k[0]}
    assert single <= set(summaries), f"differences without a summary verdict: {single - set(summaries)}"


def test_every_summary_csv_verdict_agrees_with_the_differences_table():
    diff = _differences()
    for csv in sorted(RESULTS.glob("**/summary.csv")):
        table = pd.read_csv(csv)
        if "annealing_minus_verdict" not in table:
            assert not (csv.parent / "summary.json").exists(), f"{csv}: no verdict columns; run python -m akd.refresh"
            continue
        parts = csv.parent.relative_to(RESULTS).parts
        dataset = parts[2] if len(parts) == 3 else parts[0]
        for r in table.dropna(subset=["annealing_minus_verdict"]).to_dict("records"):
            line = diff[
                (diff["benchmark"] == parts[0])
                & (diff["variant"] == parts[1])
                & (diff["dataset"] == dataset)
                & (diff["baseline"] == r["run"])
            ]
            assert len(line) == 1, f"{csv}: {r['run']} has no line in differences.csv"
            assert r["annealing_minus_verdict"] == line["verdict"].iloc[0]
            assert r["annealing_minus_mean"] == pytest.approx(line["mean"].iloc[0], abs=1e-3)


def test_the_committed_differences_are_what_the_committed_runs_give_today():
    fresh = differences.table(differences.comparisons(records.runs_from_results(RESULTS)))
    committed = _differences()
    assert len(fresh) == len(committed)
    for column in ("verdict", "flags", "per_seed", "interval"):
        assert list(fresh[column].fillna("")) == list(committed[column].fillna("")), column
    for column in ("mean", "ci_low", "ci_high", "p_t", "p_holm", "p_sign_flip"):
        assert list(fresh[column]) == pytest.approx(list(committed[column]), abs=1e-3), column


def test_refreshing_the_committed_summaries_changes_nothing(tmp_path):
    import shutil

    copy = tmp_path / "results"
    shutil.copytree(RESULTS, copy, ignore=shutil.ignore_patterns("figures", "paper", "perf", "sweep-*"))
    refresh(copy)
    for md in sorted(copy.glob("**/summary.*")):
        original = RESULTS / md.relative_to(copy)
        assert md.read_text() == original.read_text(), f"{original} is stale: run python -m akd.refresh"


def test_refresh_refuses_a_repeated_seed_and_writes_nothing(tmp_path):
    import shutil

    from akd.errors import AkdError

    folder = tmp_path / "results" / "fashion_mnist" / "cpu"
    shutil.copytree(RESULTS / "fashion_mnist" / "cpu", folder, ignore=shutil.ignore_patterns("sweep-*"))
    runs = folder / "runs.csv"
    lines = runs.read_text().splitlines()
    runs.write_text("\n".join([*lines, lines[-1]]) + "\n")  # the last seed again: would be counted twice
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    with pytest.raises(AkdError, match="repeats run"):
        refresh(tmp_path / "results")
    assert before == {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_declared_comparisons_choose_the_pairs_and_holm_spans_them():
    from akd.config import comparison_pairs
    from akd.results import compare

    methods = ["nokd", "kd", "dkd", "annealing"]
    assert comparison_pairs("annealing", methods) == [("annealing", "nokd"), ("annealing", "kd"), ("annealing", "dkd")]
    assert comparison_pairs("dkd: kd, nokd", methods) == [("dkd", "kd"), ("dkd", "nokd")]
    assert comparison_pairs("annealing", ["kd", "nokd"]) == []  # the reference not run: nothing judged
    everything = comparison_pairs("all-pairs", methods)
    assert len(everything) == 6 and everything[0] == ("nokd", "kd") and everything[-1] == ("dkd", "annealing")
    rows = [
        {"run": m, "seed": s, "test_acc": 70.0 + i + 0.1 * s * (i % 2)} for i, m in enumerate(methods) for s in range(3)
    ]
    pairs = compare(rows, "acc", everything)
    assert {p.family_size for p in pairs.values()} == {6}  # Holm over every declared pair
    assert compare(rows, "acc", [("dkd", "kd")])[("dkd", "kd")].family_size == 1


def test_a_comparison_names_known_methods_and_leaves_out_those_not_run():
    from akd.benchfile import load_benchmark
    from akd.config import comparison_pairs, resolved_compare
    from akd.errors import AkdError

    subset = load_benchmark("fashion_mnist", "smoke", {"methods": "nokd,dkd", "compare": "dkd: kd, nokd"})
    assert subset.comparison_pairs() == [("dkd", "nokd")]  # `akd train`, a sweep arm, --methods: a subset
    with pytest.raises(AkdError, match="unknown method fitnet"):
        load_benchmark("fashion_mnist", "smoke", {"compare": "fitnet"})
    every = load_benchmark("fashion_mnist", "smoke", {"compare": "all-pairs", "methods": "kd,dkd,nokd"})
    assert every.comparison_pairs()[0] == ("kd", "dkd")
    # what the records keep: the summary's orientation, whatever order a reader lists the methods in
    assert comparison_pairs(resolved_compare(every), ["nokd", "kd", "dkd"]) == every.comparison_pairs()


def test_a_summary_counts_every_runs_training_time_whenever_it_ran():
    from akd.results import _trained_minutes

    rows = [{"train_seconds": 60.0}, {"train_seconds": 30.0}, {"train_seconds": float("nan")}, {}]
    assert _trained_minutes(rows) == 1.5  # a reused run's time too; a checkpoint's unknown time adds nothing


def test_a_summary_promises_bit_identical_reruns_only_where_they_are():
    from akd.results import rerun_words

    assert "bit-identical" in rerun_words({"device": "cpu", "deterministic": "false"})  # CPU kernels: tested
    assert "bit-identical" in rerun_words({"device": "cuda:0", "deterministic": "true"})
    off = rerun_words({"device": "cuda:0", "deterministic": "false"})
    assert "bit-identical" not in off and "deterministic=true" in off
