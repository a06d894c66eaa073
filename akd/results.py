"""Summary tables: each run's reported test metric as mean +- std over seeds, beside the paper's numbers.

The reported metric is the task's (``Task.report_metric``: accuracy for images); every metric of
every run is in ``runs.csv``.

Written as ``results/<benchmark>/<variant>/summary.csv``, ``summary.md``, ``runs.csv``,
``curves.csv`` (every trained run's per-epoch history) and ``summary.json`` (provenance, with the
data's folder and fingerprint), atomically: a failed benchmark
leaves the previous summary untouched. A folder's results belong to the data recorded in its
``summary.json``: a run on other data (another ``--data-dir`` holding other files) is filed under a
``data-<fingerprint>`` variant instead (:func:`other_data_label`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from akd.config import BenchConfig
from akd.hashing import atomic_write
from akd.paper import paper_row
from akd.stats import Paired, family
from akd.tasks.base import Task

LABELS = {
    "teacher": "Teacher",
    "ta": "TA (TAKD)",
    "nokd": "No-KD",
    "kd": "KD",
    "takd": "TAKD",
    "annealing": "Annealing-KD",
}


def summarize(rows: list[dict[str, Any]], cfg: BenchConfig, task: Task) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    m = task.report_metric
    order = ["teacher", "ta", *cfg.methods]
    arch = {"teacher": cfg.teacher, "ta": cfg.ta}
    paper = paper_row(cfg.paper_table, cfg.data.dataset)
    out = []
    for name in [n for n in order if n in set(df["run"])]:
        part = df[df["run"] == name]
        out.append(
            {
                "run": name,
                "model": arch.get(name, cfg.student),
                f"test_{m}_mean": part[f"test_{m}"].mean(),
                f"test_{m}_std": part[f"test_{m}"].std(ddof=1),  # NaN for a single seed
                f"test_{m}_last_mean": part[f"test_{m}_last"].mean(),
                f"test_{m}_last_std": part[f"test_{m}_last"].std(ddof=1),
                "n_seeds": len(part),
                "paper": paper.get(name, float("nan")),
            }
        )
    return pd.DataFrame(out)


def mean_std(mean: float, std: float) -> str:
    """``mean ± std`` to two decimals; the mean alone when the std is undefined (one seed)."""
    return f"{mean:.2f}" if pd.isna(std) else f"{mean:.2f} ± {std:.2f}"


REFERENCE = "annealing"
COMPARED = ("nokd", "kd", "takd")
VERDICTS = "Annealing-KD minus each method, paired by seed (same initial weights and batches):"


def compare(rows: list[dict[str, Any]], metric: str) -> dict[str, Paired]:
    """Annealing-KD minus each other student method on one task (``akd.stats.family``: Holm across them)."""
    values: dict[str, dict[int, float]] = {}
    for r in rows:
        values.setdefault(r["run"], {})[int(r["seed"])] = float(r[f"test_{metric}"])
    if REFERENCE not in values:
        return {}
    others = {name: values[name] for name in COMPARED if name in values}
    return family(values[REFERENCE], others, metric=f"test_{metric}", reference_name=REFERENCE)


def method_epochs(config: dict[str, Any]) -> dict[str, float]:
    """Each student method's epochs over all its stages, from a resolved config (``BenchConfig.to_dict()``)."""
    annealing = config.get("annealing", {})
    student = float(config.get("student_epochs", "nan"))
    phases = float(annealing.get("phase1_epochs", "nan")) + float(annealing.get("phase2_epochs", "nan"))
    return {name: student for name in COMPARED} | {REFERENCE: phases}


def budget_note(epochs: dict[str, float], other: str) -> str:
    """`` (not budget-matched: ...)`` after a verdict whose two methods trained for different epochs."""
    a, b = epochs.get(REFERENCE, float("nan")), epochs.get(other, float("nan"))
    if pd.isna(a) or pd.isna(b) or a == b:
        return ""
    return f" (not budget-matched: Annealing-KD {a:g} epochs, {LABELS.get(other, other)} {b:g})"


def verdict(
    rows: list[dict[str, Any]],
    metric: str,
    unit: str = "points",
    epochs: dict[str, float] | None = None,
    pairs: dict[str, Paired] | None = None,
) -> list[str]:
    """One sentence per comparison of :func:`compare` (or ``pairs``, already computed): numbers, verdict, budgets."""
    pairs = compare(rows, metric) if pairs is None else pairs
    return [
        p.sentence("Annealing-KD", LABELS[name], unit, note=budget_note(epochs or {}, name))
        for name, p in pairs.items()
    ]


def budget_line(annealing_epochs: float, student_epochs: float) -> list[str]:
    if annealing_epochs == student_epochs:
        return [f"Budget: every student trained for {student_epochs:g} epochs (Annealing-KD's two phases together)."]
    return [
        f"Budget: Annealing-KD trained the student for {annealing_epochs:g} epochs, the other methods for "
        f"{student_epochs:g}; compare an equal-budget variant before crediting the method."
    ]


def verdict_block(
    rows: list[dict[str, Any]],
    metric: str,
    budget: list[str],
    epochs: dict[str, float] | None = None,
    pairs: dict[str, Paired] | None = None,
) -> list[str]:
    """What follows a summary's table: the paired comparisons and the epoch budgets."""
    lines = verdict(rows, metric, epochs=epochs, pairs=pairs)
    return ["", VERDICTS, "", *[f"- {line}" for line in lines], "", *budget] if lines else []


def with_verdicts(
    table: pd.DataFrame, pairs: dict[str, Paired], epochs: dict[str, float] | None = None
) -> pd.DataFrame:
    """The summary table with Annealing-KD minus each compared method's row (the same numbers as the text)."""
    table = table.drop(columns=[c for c in table.columns if c.startswith("annealing_minus_")])
    columns = {
        "annealing_minus_mean": lambda p: p.mean,
        "annealing_minus_ci_low": lambda p: p.ci_low,
        "annealing_minus_ci_high": lambda p: p.ci_high,
        "annealing_minus_p_holm": lambda p: p.p_adjusted,
    }
    for column, get in columns.items():
        table[column] = [get(pairs[r]) if r in pairs else None for r in table["run"]]
    table["annealing_minus_verdict"] = [
        pairs[r].judgement().replace("A is", "Annealing-KD is") + budget_note(epochs or {}, r) if r in pairs else None
        for r in table["run"]
    ]
    return table


def hardware_line(tags: dict[str, str]) -> str:
    """The machine a result came from, in words: device (and the CPU beside a GPU), threads, mode."""
    where = tags.get("device.name", "?")
    if tags.get("device", "").startswith("cuda"):
        where += f" (CPU {tags.get('host.cpu', '?')})"
    threads, mode = tags.get("host.cpu_threads", "?"), tags.get("deterministic", "?")
    return f"{where}, {threads} torch threads, deterministic mode {mode}"


def to_markdown(
    table: pd.DataFrame,
    rows: list[dict[str, Any]],
    cfg: BenchConfig,
    wall_seconds: float,
    tags: dict[str, str],
    task: Task,
) -> str:
    m = task.report_metric
    name = "accuracy (%)" if m == "acc" else f"{m} (x100)"
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    head = [
        f"# {cfg.benchmark} / {cfg.variant}",
        "",
        f"Generated by `{tags.get('command') or f'akd bench {cfg.benchmark} --profile {cfg.profile}'}` on {when}; "
        f"wall time {wall_seconds / 60:.1f} min on {tags.get('device', '?')}.",
        f"Hardware: {hardware_line(tags)}. Reruns are bit-identical only on the same hardware and software.",
        f"Code {tags.get('git_commit', '?')[:12]} (dirty: {tags.get('git_dirty', '?')}), "
        f"torch {tags.get('version.torch', '?')}. Seeds: {', '.join(map(str, cfg.seeds))}.",
        f"Data: {cfg.data.dataset} from {tags.get('data_folder', '?')}, "
        f"fingerprint {tags.get('data_fingerprint', '?')}.",
        f"Teacher {cfg.teacher} ({cfg.teacher_epochs} ep), TA {cfg.ta} ({cfg.ta_epochs} ep), student "
        f"{cfg.student} ({cfg.student_epochs} ep; Annealing-KD {cfg.annealing.phase1_epochs}+"
        f"{cfg.annealing.phase2_epochs} ep, tau_max {cfg.annealing.tau_max}).",
        f"Selection on the {'validation split' if cfg.data.selection == 'val' else 'TEST set (official protocol)'}; "
        f"test {name} at the selected epoch and at the last epoch, mean ± std over seeds.",
        "",
        f"| run | model | test {m} (selected) | test {m} (last) | seeds | paper |",
        "|---|---|---|---|---|---|",
    ]
    for r in table.to_dict("records"):
        paper = "—" if pd.isna(r["paper"]) else f"{r['paper']:.2f}"
        selected = mean_std(r[f"test_{m}_mean"], r[f"test_{m}_std"])
        last = mean_std(r[f"test_{m}_last_mean"], r[f"test_{m}_last_std"])
        name = LABELS.get(r["run"], r["run"])
        head.append(f"| {name} | {r['model']} | {selected} | {last} | {r['n_seeds']} | {paper} |")
    budget = budget_line(cfg.annealing.phase1_epochs + cfg.annealing.phase2_epochs, cfg.student_epochs)
    return "\n".join(head + verdict_block(rows, m, budget, method_epochs(cfg.to_dict()))) + "\n"


def recorded_fingerprint(folder: Path) -> str | None:
    """The data fingerprint a results folder was made from, if it records one."""
    try:
        return json.loads((folder / "summary.json").read_text())["data"]["fingerprint"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def other_data_label(cfg: BenchConfig, task: Task, results_root: Path) -> str | None:
    """A label for ``cfg``'s results when its folder holds results made from other data, else None.

    A folder written before fingerprints were recorded counts as made from the default data
    folder: a run that reads another folder goes elsewhere.
    """
    folder = cfg.results_folder(results_root)
    recorded = recorded_fingerprint(folder)
    if recorded == task.fingerprint or not (folder / "summary.md").exists():
        return None
    if recorded is None and cfg.data.default_folder:
        return None
    return f"{cfg.label}-data-{task.fingerprint[:8]}" if cfg.label else f"data-{task.fingerprint[:8]}"


def write_summary(
    table: pd.DataFrame,
    cfg: BenchConfig,
    rows: list[dict[str, Any]],
    wall_seconds: float,
    tags: dict[str, str],
    results_root: Path,
    task: Task,
    curves: list[dict[str, Any]] | None = None,
) -> list[Path]:
    """``summary.{json,csv,md}``, ``runs.csv`` and, given the runs' histories, ``curves.csv``."""
    folder = cfg.results_folder(results_root)
    csv, md, per_seed = folder / "summary.csv", folder / "summary.md", folder / "runs.csv"
    record = {
        "benchmark": cfg.benchmark,
        "variant": cfg.variant,
        "wall_seconds": wall_seconds,
        "data": {"dataset": cfg.data.dataset, "folder": task.source, "fingerprint": task.fingerprint},
        "metrics": {"reported": task.report_metric, "selection": task.selection_metric},
        "tags": tags,
        "config": cfg.to_dict(),
    }
    atomic_write(folder / "summary.json", json.dumps(record, indent=1, sort_keys=True, default=str) + "\n")
    atomic_write(per_seed, pd.DataFrame(rows).to_csv(index=False, float_format="%.4f"))
    if curves:  # per epoch: the figures' validation curves without MLflow
        atomic_write(folder / "curves.csv", pd.DataFrame(curves).to_csv(index=False, float_format="%.6g"))
    table = with_verdicts(table, compare(rows, task.report_metric), method_epochs(cfg.to_dict()))
    atomic_write(csv, table.to_csv(index=False, float_format="%.4f"))
    atomic_write(md, to_markdown(table, rows, cfg, wall_seconds, tags, task))
    return [csv, md, per_seed]
