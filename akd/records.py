"""Runs as tidy pandas frames, from any MLflow tracking store or from the committed results.

One layer for every notebook and table: whatever made the runs (invocations, machines, users),
:func:`runs` gives one row per run x seed and :func:`curves` one row per run x seed x epoch, with
the same columns whether they come from

- an MLflow tracking URI (the local sqlite store or a server): the benchmark's child runs that
  FINISHED (failed, killed and running ones are left out), selected by benchmark, variant,
  method and code version; where a run was repeated (the same benchmark, variant, dataset, method
  and seed), the latest finished one counts;
- the committed ``results/<benchmark>/<variant>[/<task>]/runs.csv`` and ``curves.csv``, so the
  analysis regenerates everything in CI without MLflow or training.

What cannot be read as that is refused with one line (:class:`akd.errors.AkdError`, see
:mod:`akd.records_checks`): a file with a missing key column, a seed or metric that is not a
number, no rows, a reported metric that is not finite, or a repeated run x seed; a store with no
FINISHED benchmark run, or a local store that is not there (never created).

Columns: ``benchmark``, ``variant``, ``dataset``, ``run`` (``teacher``, ``ta`` or the method),
``seed``, ``metric`` (the task's reported metric: ``test_<metric>`` is its number), ``git_commit``,
``source``, ``epochs`` (the run's epochs over all its stages: Annealing-KD's two phases) and
``selection`` (``val``, or ``test`` under the official protocol) and ``compare`` (the comparisons
the benchmark declared, ``akd.config.comparison_pairs``) where the config was recorded,
then the run's metrics as in ``runs.csv`` (``test_<m>``,
``test_<m>_last``, ``val_<m>_best``, ``best_epoch``, ``train_seconds``, ``test_agreement``, ...).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from mlflow.tracking import MlflowClient

from akd.config import BenchConfig, config_from_dict, resolved_compare
from akd.errors import AkdError
from akd.methods import student_epochs
from akd.records_checks import check_store_exists, no_finished_runs, read_curves, read_runs, read_summary
from akd.results import REFERENCE
from akd.settings import nest

KEYS = ["benchmark", "variant", "dataset", "run", "seed"]
STUDENT_KINDS = {"teacher": "teacher", "shared": "ta", "method": None}  # None: the method tag names it
PER_EPOCH = ("train_loss", "lr", "phase", "temperature", "scale")  # histories, not results
LADDER = "-gap-"  # a teacher ladder's rungs are variants <profile>-gap-<teacher>, each with its own teacher


def on_ladder(variants: pd.Series) -> pd.Series:
    """Which rows are rungs of a teacher ladder: the gap figure's and table's, no profile's own results."""
    return variants.str.contains(LADDER, regex=False)


def recorded(config: dict) -> tuple[BenchConfig | None, str, str]:
    """(the rebuilt config or None, where checkpoints were selected, the comparisons its summary
    judged) from a recorded config (nested, as summary.json holds it). A config that was not recorded
    (a reused run's MLflow run holds only its seed) gives None, never the defaults."""
    compare = str(config.get("compare", REFERENCE))
    selection = str(config.get("data", {}).get("selection", ""))
    if "student_epochs" not in config:
        return None, selection, compare
    try:
        cfg = config_from_dict(config)
    except AkdError:  # a plug-in not installed here, another version
        return None, selection, compare
    return cfg, selection, resolved_compare(cfg)


def run_epochs(run: str, cfg: BenchConfig | None) -> float:
    """A run's epochs over all its stages (the teacher's, the TA's, a method's student stages); NaN unknown."""
    if cfg is None:
        return math.nan
    roles = {"teacher": cfg.teacher_epochs, "ta": cfg.ta_epochs}
    try:
        return float(roles[run]) if run in roles else float(student_epochs(run, cfg))
    except AkdError:  # a method not installed here
        return math.nan


def _select(df: pd.DataFrame, benchmarks, variants, methods) -> pd.DataFrame:
    for column, wanted in (("benchmark", benchmarks), ("variant", variants), ("run", methods)):
        if wanted is not None and not df.empty:
            df = df[df[column].isin(list(wanted))]
    return df.reset_index(drop=True)


# ---------------------------------------------------------------------------------- committed results
def _folders(root: Path) -> Iterable[tuple[Path, dict]]:
    """(folder, what it is) for every results folder holding one invocation's runs.csv."""
    for csv in sorted(root.glob("*/*/runs.csv")) + sorted(root.glob("*/*/*/runs.csv")):
        folder = csv.parent
        parts = folder.relative_to(root).parts
        summary = folder / "summary.json"
        info = read_summary(summary)
        if len(parts) == 2 and not summary.exists() and any(folder.glob("*/summary.json")):
            continue  # the table across a several-task benchmark's tasks: its task folders hold the runs
        dataset = info.get("data", {}).get("dataset") or (parts[2] if len(parts) == 3 else parts[0])
        yield (
            folder,
            {
                "benchmark": info.get("benchmark", parts[0]),
                "variant": info.get("variant", parts[1]),
                "dataset": dataset,
                "metric": info.get("metrics", {}).get("reported", "acc"),
                "git_commit": info.get("tags", {}).get("git_commit", ""),
                "source": str(folder),
            },
        )


def runs_from_results(root: str | Path = "results", benchmarks=None, variants=None, methods=None) -> pd.DataFrame:
    """One row per run x seed from every committed ``runs.csv`` under ``root``."""
    frames = []
    for folder, meta in _folders(Path(root)):
        df = read_runs(folder / "runs.csv", meta["metric"]).drop(columns=["task", "metric"], errors="ignore")
        df = df.assign(**meta)
        cfg, selection, compare = recorded(_config(folder))  # once per folder
        df["epochs"] = [run_epochs(run, cfg) for run in df["run"]]
        df["selection"], df["compare"] = selection, compare
        frames.append(df)
    return _select(_tidy(frames), benchmarks, variants, methods)


def _config(folder: Path) -> dict:
    return read_summary(folder / "summary.json").get("config", {})


def config_of_params(params: dict[str, str]) -> dict:
    """A run's MLflow params (flat strings; lists as Python literals) as a nested config dict."""
    values = {k: ast.literal_eval(v) if v.startswith("[") else v for k, v in params.items() if k != "seed"}
    return nest(values)


def curves_from_results(root: str | Path = "results", benchmarks=None, variants=None, methods=None) -> pd.DataFrame:
    """One row per run x seed x epoch from every committed ``curves.csv`` (empty where none was written)."""
    frames = [
        read_curves(f / "curves.csv").assign(**meta) for f, meta in _folders(Path(root)) if (f / "curves.csv").exists()
    ]
    return _select(_tidy(frames), benchmarks, variants, methods)


def _tidy(frames: list[pd.DataFrame]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame(columns=[*KEYS, "metric", "git_commit", "source"])
    df = pd.concat(frames, ignore_index=True)
    df["seed"] = df["seed"].astype(int)
    first = [*KEYS, "metric", "git_commit", "source"] + [
        c for c in ("epochs", "selection", "compare") if c in df.columns
    ]
    return df[first + [c for c in df.columns if c not in first]]


# ---------------------------------------------------------------------------------- MLflow
def _is_result(name: str) -> bool:
    return not name.startswith(("val_", "train_")) or name.endswith(("_best", "_last")) or name == "train_seconds"


def _finished(uri: str, benchmarks, variants, methods, code_version) -> tuple[MlflowClient, list]:
    """The store's FINISHED benchmark runs, selected; refused where it holds none (or is not there)."""
    check_store_exists(uri)  # before MlflowClient, which would create a missing sqlite file
    client = MlflowClient(tracking_uri=uri)
    experiments = [e.experiment_id for e in client.search_experiments() if e.name.startswith("akd")]
    out = _search(client, experiments, "attributes.status = 'FINISHED'")
    if not out:
        raise no_finished_runs(uri, [r.info.status for r in _search(client, experiments, "")])
    runs = []
    for r in out:
        tags = r.data.tags
        run = STUDENT_KINDS[tags["kind"]] or tags.get("method", "")
        if code_version and not tags.get("git_commit", "").startswith(code_version):
            continue
        runs.append((r, run))
    return client, [
        (r, run)
        for r, run in runs
        if (benchmarks is None or r.data.tags.get("benchmark") in benchmarks)
        and (variants is None or r.data.tags.get("variant") in variants)
        and (methods is None or run in methods)
    ]


def _search(client: MlflowClient, experiments: list[str], query: str) -> list:
    """Every benchmark run (teacher, TA, method) of ``experiments`` that ``query`` selects."""
    out = []
    for start in range(0, len(experiments), 100):
        token = None
        while True:
            page = client.search_runs(experiments[start : start + 100], query, max_results=5000, page_token=token)
            out += [r for r in page if r.data.tags.get("kind") in STUDENT_KINDS]
            token = page.token
            if not token:
                break
    return out


def _row(r, run: str) -> dict:  # noqa: ANN001
    tags = r.data.tags
    return {
        "benchmark": tags.get("benchmark", ""),
        "variant": tags.get("variant", ""),
        "dataset": r.data.params.get("data.dataset", ""),
        "run": run,
        "seed": int(tags.get("seed", r.data.params.get("seed", -1))),
        "metric": tags.get("metric", "acc"),  # the task's reported metric (runs before the tag: accuracy)
        "git_commit": tags.get("git_commit", ""),
        "source": r.info.run_id,
        "start_time": r.info.start_time,
    } | _budget(run, config_of_params(r.data.params))


def _budget(run: str, config: dict) -> dict:
    cfg, selection, compare = recorded(config)
    return {"epochs": run_epochs(run, cfg), "selection": selection, "compare": compare}


def runs_from_mlflow(
    uri: str, benchmarks=None, variants=None, methods=None, code_version: str | None = None
) -> pd.DataFrame:
    """One row per run x seed from the FINISHED runs of a tracking store (``source``: the MLflow run id).

    ``code_version`` keeps runs whose git commit starts with it. Of repeated runs the latest counts.
    """
    _, found = _finished(uri, benchmarks, variants, methods, code_version)
    rows = [
        _row(r, run) | {k: v for k, v in r.data.metrics.items() if _is_result(k) and k not in PER_EPOCH}
        for r, run in found
    ]
    return _latest(rows)


def curves_from_mlflow(
    uri: str, benchmarks=None, variants=None, methods=None, code_version: str | None = None
) -> pd.DataFrame:
    """One row per run x seed x epoch (``step``): every per-epoch metric of :func:`runs_from_mlflow`'s runs."""
    client, found = _finished(uri, benchmarks, variants, methods, code_version)
    latest = set(_latest([_row(r, run) for r, run in found])["source"]) if found else set()
    rows = []
    for r, run in found:
        if r.info.run_id not in latest:
            continue
        steps: dict[int, dict] = {}
        for key in r.data.metrics:
            if _is_result(key) and key not in PER_EPOCH:
                continue
            for m in client.get_metric_history(r.info.run_id, key):
                steps.setdefault(m.step, {})[key] = m.value
        base = _row(r, run)
        base.pop("start_time")
        rows += [base | {"step": step} | values for step, values in sorted(steps.items())]
    return _tidy([pd.DataFrame(rows)]) if rows else _tidy([])


def _latest(rows: list[dict]) -> pd.DataFrame:
    if not rows:
        return _tidy([])
    df = pd.DataFrame(rows).sort_values("start_time").drop_duplicates(KEYS, keep="last")
    return _tidy([df.drop(columns="start_time").sort_values(KEYS)])
