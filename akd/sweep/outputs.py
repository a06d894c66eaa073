"""A sweep's files in ``results/<benchmark>/<variant>/sweep-<space>/``: trials.csv, best.json, tables.

- ``trials.csv``: one row per trial of every arm: state, objective, sampled settings, test value
  and per-seed validation and test values, duration, MLflow run id.
- ``best.json``: per method the best trial (chosen on the objective, validation) with its
  settings, what they gave on test (for reporting), and the study's counts; ``akd bench
  --from-sweep`` reads it.
- ``grid.md`` / ``grid.csv`` for an ablation grid: every point, per-seed test and validation
  values, mean ± std; ``table.md`` for a several-method (fair) space: each method's best, "tuned
  with N trials".
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from akd.hashing import atomic_write
from akd.results import mean_std
from akd.sweep.space import Space


def trials_frame(studies: dict[str, optuna.Study], metric: str) -> pd.DataFrame:
    rows = []
    for method, study in studies.items():
        for t in study.get_trials(deepcopy=False):
            if t.user_attrs.get("surplus") or t.state == optuna.trial.TrialState.WAITING:
                continue
            row: dict[str, Any] = {
                "method": method,
                "trial": t.number,
                "state": t.state.name,
                "objective": t.value,
                f"test_{metric}": t.user_attrs.get(f"test_{metric}"),
                **{f"param:{k}": v for k, v in settings_of(t).items()},
            }
            for seed, r in sorted(t.user_attrs.get("per_seed", {}).items()):
                row[f"val_{metric}_best_seed{seed}"] = r.get(f"val_{metric}_best")
                row[f"test_{metric}_seed{seed}"] = r.get(f"test_{metric}")
            row["seconds"] = t.duration.total_seconds() if t.duration else None
            row["retry_of"] = t.system_attrs.get("failed_trial")
            row["mlflow_run_id"] = t.user_attrs.get("mlflow_run_id")
            rows.append(row)
    return pd.DataFrame(rows)


def settings_of(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """A trial's settings: those sampled, and those derived from them (the budget's rest)."""
    return {**trial.params, **trial.user_attrs.get("derived", {})}


def best_record(study: optuna.Study, metric: str) -> dict[str, Any]:
    states = [t.state.name for t in study.get_trials(deepcopy=False) if not t.user_attrs.get("surplus")]
    counts = {s.lower(): states.count(s) for s in ("COMPLETE", "PRUNED", "FAIL")}
    complete = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))]
    record: dict[str, Any] = {"study": study.study_name, "trials": counts}
    if complete:
        best = max(complete, key=lambda t: (t.value, -t.number))
        values = [t.value for t in complete]
        record["best"] = {
            "trial": best.number,
            "objective": best.value,
            "params": settings_of(best),
            f"test_{metric}": best.user_attrs.get(f"test_{metric}"),
            "per_seed": best.user_attrs.get("per_seed", {}),
        }
        record["objective_range"] = [min(values), max(values)]
    return record


def _pm(values: list[float]) -> str:
    """mean ± std as in the benchmark tables (the mean alone for one seed); "not run" for none."""
    return (
        mean_std(statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else math.nan)
        if values
        else "not run"
    )


def grid_frame(study: optuna.Study, metric: str, seeds: list[int]) -> pd.DataFrame:
    """One row per grid point x seed with its validation and test values (complete trials)."""
    rows = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        for seed in seeds:
            r = t.user_attrs.get("per_seed", {}).get(str(seed))
            if r is not None:
                point = {k: t.params[k] for k in sorted(t.params)}
                rows.append(
                    {
                        **point,
                        "seed": seed,
                        f"val_{metric}": r[f"val_{metric}_best"],
                        f"test_{metric}": r[f"test_{metric}"],
                    }
                )
    return pd.DataFrame(rows)


def grid_markdown(frame: pd.DataFrame, keys: list[str], metric: str, header: str) -> str:
    lines = [
        header,
        "",
        f"| {' | '.join(keys)} | test {metric} (mean ± std) | val {metric} | per-seed test |",
        "|" + "---|" * (len(keys) + 3),
    ]
    if not frame.empty:
        for point, group in frame.groupby(keys, sort=True):
            point = point if isinstance(point, tuple) else (point,)
            tests = list(group[f"test_{metric}"])
            per_seed = ", ".join(f"{s}: {v:.2f}" for s, v in zip(group["seed"], tests, strict=True))
            lines.append(
                f"| {' | '.join(map(str, point))} | {_pm(tests)} | {_pm(list(group[f'val_{metric}']))} | {per_seed} |"
            )
    return "\n".join(lines) + "\n"


def fair_markdown(best: dict[str, Any], metric: str, n_trials: int, header: str) -> str:
    lines = [
        header,
        "",
        f"Each method tuned with {n_trials} trials over its own settings; chosen on validation {metric}.",
        "",
        f"| method | best val {metric} | test {metric} at that trial | settings | complete / pruned / failed |",
        "|---|---|---|---|---|",
    ]
    for method, rec in best.items():
        b, c = rec.get("best"), rec["trials"]
        counts = f"{c['complete']} / {c['pruned']} / {c['fail']}"
        if b is None:
            lines.append(f"| {method} | not run | not run | | {counts} |")
            continue
        settings = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in b["params"].items())
        test = b[f"test_{metric}"]
        lines.append(f"| {method} | {b['objective']:.2f} | {test:.2f} | {settings} | {counts} |")
    return "\n".join(lines) + "\n"


def write_outputs(
    folder: Path, space: Space, studies: dict[str, optuna.Study], metric: str, seeds: list[int], about: dict[str, Any]
) -> list[Path]:
    """Write the sweep's tables; returns their paths (figures: akd.sweep.figures)."""
    paths = []
    atomic_write(folder / "trials.csv", trials_frame(studies, metric).to_csv(index=False, float_format="%.4f"))
    paths.append(folder / "trials.csv")
    best = {method: best_record(study, metric) for method, study in studies.items()}
    doc = {**about, "space": space.name, "objective": f"val_{metric}_best, mean over seeds {seeds}", "methods": best}
    atomic_write(folder / "best.json", json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n")
    paths.append(folder / "best.json")
    header = f"# Sweep {space.name}: {about['benchmark']} / {about['variant']}, seeds {seeds}"
    if space.is_grid:
        study = next(iter(studies.values()))
        grid = grid_frame(study, metric, seeds)
        keys = sorted(space.arms[0].grid)
        atomic_write(folder / "grid.csv", grid.to_csv(index=False, float_format="%.4f"))
        atomic_write(folder / "grid.md", grid_markdown(grid, keys, metric, header))
        paths += [folder / "grid.csv", folder / "grid.md"]
    elif len(studies) > 1:
        n = max(rec["trials"]["complete"] + rec["trials"]["pruned"] for rec in best.values())
        atomic_write(folder / "table.md", fair_markdown(best, metric, n, header))
        paths.append(folder / "table.md")
    return paths


# where the data, outputs and runs are: never taken from a file (a best.json may come from anyone)
NOT_SWEPT = {"seeds", "methods", "tasks", "label", "device", "benchmark", "profile"}
NOT_SWEPT_SECTIONS = ("data.", "cache.")


def settings_from(path: Path, methods: list[str]) -> dict[str, Any]:
    """The best settings a sweep found for ``methods`` (flat keys), from its best.json or folder."""
    from akd.errors import AkdError

    file = path / "best.json" if path.is_dir() else path
    try:
        doc = json.loads(file.read_text())
        found = doc["methods"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AkdError(f"--from-sweep {path}: not a sweep's best.json ({type(exc).__name__})") from None
    settings: dict[str, Any] = {}
    if not isinstance(found, dict):
        raise AkdError(f"--from-sweep {file}: 'methods' is a {type(found).__name__}, not a table of methods")
    for method in methods:
        entry = found.get(method) or {}
        best = entry.get("best") if isinstance(entry, dict) else entry
        if best is None:  # a method the sweep did not tune, or none of its trials completed
            continue
        params = best.get("params", {}) if isinstance(best, dict) else best
        if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
            raise AkdError(f"--from-sweep {file}: {method}'s best params are a {type(params).__name__}, not settings")
        for key, value in params.items():
            if key.startswith(NOT_SWEPT_SECTIONS) or key in NOT_SWEPT:
                raise AkdError(
                    f"--from-sweep {file}: {key} is not a setting a sweep chooses (it says what data or which "
                    "runs, not how to train); set it with --set if you mean it"
                )
            if key in settings and settings[key] != value:
                raise AkdError(
                    f"--from-sweep: {key} is {settings[key]} for one method and {value} for {method}; "
                    "run the methods separately with --methods"
                )
            settings[key] = value
    if not settings:
        raise AkdError(f"--from-sweep {file}: no completed trial for {', '.join(methods)}")
    return settings
