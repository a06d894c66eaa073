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
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from akd.config import BenchConfig, config_from_dict
from akd.errors import AkdError
from akd.hashing import atomic_write
from akd.methods import Looks, student_epochs
from akd.paper import paper_row
from akd.stats import Paired, family_of_pairs
from akd.tasks.base import Task

LABELS = Looks("label")  # a method's or role's name in tables and figures, from its spec


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


REFERENCE = "annealing"  # the default reference of every comparison (BenchConfig.compare)
Pairs = dict[tuple[str, str], Paired]


def verdicts_header(pairs: list[tuple[str, str]]) -> str:
    """The line above a summary's comparisons: who minus whom."""
    same = {a for a, _ in pairs}
    who = f"{LABELS[next(iter(same))]} minus each method" if len(same) == 1 else "Each pair, the first minus the second"
    return f"{who}, paired by seed (same initial weights and batches):"


def compare(rows: list[dict[str, Any]], metric: str, pairs: list[tuple[str, str]]) -> Pairs:
    """``A minus B`` for each declared pair on one task (``akd.stats.family_of_pairs``: Holm across them)."""
    values: dict[str, dict[int, float]] = {}
    for r in rows:
        values.setdefault(r["run"], {})[int(r["seed"])] = float(r[f"test_{metric}"])
    return family_of_pairs(values, pairs, metric=f"test_{metric}")


def method_epochs(config: dict[str, Any] | BenchConfig) -> dict[str, float]:
    """Each method's student epochs over all its stages (from its spec's stages), from a config or a
    resolved config's dict (``summary.json``); NaN for a method this installation cannot build."""
    cfg = config if isinstance(config, BenchConfig) else _rebuilt(config)
    if cfg is None:
        return {}
    out: dict[str, float] = {}
    for method in cfg.methods:
        try:
            out[method] = float(student_epochs(method, cfg))
        except AkdError:  # a plug-in not installed here
            out[method] = float("nan")
    return out


def _rebuilt(config: dict[str, Any]) -> BenchConfig | None:
    try:
        return config_from_dict(config)
    except AkdError:  # a config of another version
        return None


def budget_note(epochs: dict[str, float], a: str, b: str) -> str:
    """`` (not budget-matched: ...)`` after a verdict on A minus B whose methods trained for different epochs."""
    ea, eb = epochs.get(a, float("nan")), epochs.get(b, float("nan"))
    if pd.isna(ea) or pd.isna(eb) or ea == eb:
        return ""
    return f" (not budget-matched: {LABELS[a]} {ea:g} epochs, {LABELS[b]} {eb:g})"


def judged(p: Paired, a: str, b: str, epochs: dict[str, float] | None = None) -> str:
    """The verdict in words with A named, and unequal budgets said."""
    return p.judgement().replace("A is", f"{LABELS[a]} is") + budget_note(epochs or {}, a, b)


def verdict(
    rows: list[dict[str, Any]],
    metric: str,
    pairs: Pairs,
    unit: str = "points",
    epochs: dict[str, float] | None = None,
) -> list[str]:
    """One sentence per comparison of :func:`compare`: numbers, verdict, budgets."""
    return [p.sentence(LABELS[a], LABELS[b], unit, note=budget_note(epochs or {}, a, b)) for (a, b), p in pairs.items()]


def budget_line(epochs: dict[str, float]) -> list[str]:
    """One sentence on the methods' student epochs (from their specs' stages): equal, or who trained longer."""
    known = {m: e for m, e in epochs.items() if not pd.isna(e)}
    if not known:
        return []
    if len(set(known.values())) == 1:
        note = " (Annealing-KD's two phases together)" if REFERENCE in known else ""
        return [f"Budget: every student trained for {next(iter(known.values())):g} epochs{note}."]
    common = max(set(known.values()), key=list(known.values()).count)
    differ = [(LABELS[m], e) for m, e in known.items() if e != common]
    first = f"{differ[0][0]} trained the student for {differ[0][1]:g} epochs"
    more = "".join(f", {label} for {e:g}" for label, e in differ[1:])
    return [
        f"Budget: {first}{more}, the other methods for {common:g}; "
        "compare an equal-budget variant before crediting the method."
    ]


def verdict_block(
    rows: list[dict[str, Any]],
    metric: str,
    budget: list[str],
    pairs: Pairs,
    epochs: dict[str, float] | None = None,
) -> list[str]:
    """What follows a summary's table: the paired comparisons and the epoch budgets."""
    lines = verdict(rows, metric, pairs, epochs=epochs)
    return ["", verdicts_header(list(pairs)), "", *[f"- {line}" for line in lines], "", *budget] if lines else []


def with_verdicts(table: pd.DataFrame, pairs: Pairs, epochs: dict[str, float] | None = None) -> pd.DataFrame:
    """The summary table with, on each compared method's row, the reference minus it (the same numbers as
    the text): columns ``<reference>_minus_*``. Comparisons with several references (all pairs) are
    in summary.md only."""
    table = table.drop(columns=[c for c in table.columns if "_minus_" in c])
    references = {a for a, _ in pairs}
    if len(references) != 1:
        return table
    ref = next(iter(references))
    by_b = {b: (a, p) for (a, b), p in pairs.items()}
    columns = {"mean": lambda p: p.mean, "ci_low": lambda p: p.ci_low, "ci_high": lambda p: p.ci_high}
    for column, get in (columns | {"p_holm": lambda p: p.p_adjusted}).items():
        table[f"{ref}_minus_{column}"] = [get(by_b[r][1]) if r in by_b else None for r in table["run"]]
    table[f"{ref}_minus_verdict"] = [judged(by_b[r][1], ref, r, epochs) if r in by_b else None for r in table["run"]]
    return table


def hardware_line(tags: dict[str, str]) -> str:
    """The machine a result came from, in words: device (and the CPU beside a GPU), threads, mode."""
    where = tags.get("device.name", "?")
    if tags.get("device", "").startswith("cuda"):
        where += f" (CPU {tags.get('host.cpu', '?')})"
    threads, mode = tags.get("host.cpu_threads", "?"), tags.get("deterministic", "?")
    return f"{where}, {threads} torch threads, deterministic mode {mode}"


def rerun_words(tags: dict[str, str]) -> str:
    """What a rerun of these numbers gives: a GPU without deterministic mode differs in the last digits."""
    if tags.get("device", "").startswith("cuda") and tags.get("deterministic") != "true":
        return "Reruns differ in the last digits: deterministic mode was off on a GPU (--set deterministic=true)."
    return "Reruns are bit-identical on the same hardware and software, and only there."


def to_markdown(
    table: pd.DataFrame,
    rows: list[dict[str, Any]],
    cfg: BenchConfig,
    wall_seconds: float,
    tags: dict[str, str],
    task: Task,
    pairs: Pairs | None = None,
    epochs: dict[str, float] | None = None,
    estimated_seconds: float | None = None,
) -> str:
    m = task.report_metric
    planned = "" if estimated_seconds is None else f" (the plan estimated {estimated_seconds / 60:.1f})"
    epochs = method_epochs(cfg) if epochs is None else epochs
    name = "accuracy (%)" if m == "acc" else f"{m} (x100)"
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    head = [
        f"# {cfg.benchmark} / {cfg.variant}",
        "",
        f"Generated by `{tags.get('command') or f'akd bench {cfg.benchmark} --profile {cfg.profile}'}` on {when}; "
        f"wall time {wall_seconds / 60:.1f} min{planned} on {tags.get('device', '?')} (this invocation: a run "
        f"reused from the store costs nothing here); the runs' own training took {_trained_minutes(rows):.1f} min "
        "in all.",
        f"Hardware: {hardware_line(tags)}. {rerun_words(tags)}",
        f"Code {tags.get('git_commit', '?')[:12]} (dirty: {tags.get('git_dirty', '?')}), "
        f"torch {tags.get('version.torch', '?')}. Seeds: {', '.join(map(str, cfg.seeds))}.",
        f"Data: {cfg.data.dataset} from {tags.get('data_folder', '?')}, "
        f"fingerprint {tags.get('data_fingerprint', '?')}.",
        f"Teacher {cfg.teacher} ({cfg.teacher_epochs} ep{_teacher_data(cfg)}), TA {cfg.ta} ({cfg.ta_epochs} ep), "
        f"student {cfg.student} ({cfg.student_epochs} ep{_other_budgets(cfg, epochs)}).",
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
    pairs = compare(rows, m, cfg.comparison_pairs()) if pairs is None else pairs
    return "\n".join(head + verdict_block(rows, m, budget_line(epochs), pairs, epochs)) + "\n"


def _teacher_data(cfg: BenchConfig) -> str:
    n, own = cfg.teacher_train_subset, cfg.data.train_subset
    if n == -1 or n == own:
        return ""
    return (
        f", trained on {'every training sample' if n == 0 else f'{n} training samples'}; the students on {own or 'all'}"
    )


def _other_budgets(cfg: BenchConfig, epochs: dict[str, float]) -> str:
    """``; Annealing-KD 20 ep`` for each method whose stages train the student longer or shorter."""
    other = {m: e for m, e in epochs.items() if e != cfg.student_epochs}
    return "".join(f"; {LABELS[m]} {e:g} ep" for m, e in other.items())


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


def _trained_minutes(rows: list[dict[str, Any]]) -> float:
    """Every run's training time (``train_seconds``: its stages, evaluations included), whenever it ran."""
    seconds = (float(r.get("train_seconds") or 0.0) for r in rows)
    return sum(x for x in seconds if math.isfinite(x)) / 60


def write_summary(
    table: pd.DataFrame,
    cfg: BenchConfig,
    rows: list[dict[str, Any]],
    wall_seconds: float,
    tags: dict[str, str],
    results_root: Path,
    task: Task,
    curves: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
    estimated_seconds: float | None = None,
) -> list[Path]:
    """``summary.{json,csv,md}``, ``runs.csv`` and, given the runs' histories, ``curves.csv``;
    ``extra`` is recorded in ``summary.json`` beside the config (a study's tuned settings)."""
    folder = cfg.results_folder(results_root)
    csv, md, per_seed = folder / "summary.csv", folder / "summary.md", folder / "runs.csv"
    record = {
        "benchmark": cfg.benchmark,
        "variant": cfg.variant,
        "wall_seconds": wall_seconds,
        "estimated_seconds": estimated_seconds,
        "data": {"dataset": cfg.data.dataset, "folder": task.source, "fingerprint": task.fingerprint},
        "metrics": {"reported": task.report_metric, "selection": task.selection_metric},
        "tags": tags,
        "config": cfg.to_dict(),
        **(extra or {}),
    }
    atomic_write(folder / "summary.json", json.dumps(record, indent=1, sort_keys=True, default=str) + "\n")
    atomic_write(per_seed, pd.DataFrame(rows).to_csv(index=False, float_format="%.4f"))
    if curves:  # per epoch: the figures' validation curves without MLflow
        atomic_write(folder / "curves.csv", pd.DataFrame(curves).to_csv(index=False, float_format="%.6g"))
    pairs, epochs = compare(rows, task.report_metric, cfg.comparison_pairs()), method_epochs(cfg)
    table = with_verdicts(table, pairs, epochs)
    atomic_write(csv, table.to_csv(index=False, float_format="%.4f"))
    atomic_write(md, to_markdown(table, rows, cfg, wall_seconds, tags, task, pairs, epochs, estimated_seconds))
    return [csv, md, per_seed]
