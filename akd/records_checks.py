"""What the analysis data layer (:mod:`akd.records`) refuses to read, each refusal one line.

A committed ``runs.csv`` or ``curves.csv`` is read only when every row can be counted as what it
claims to be: the key columns there (``run``, ``seed``, and ``step`` for curves), every seed and
step a whole number, every ``test_*``/``val_*`` cell a number or empty, the reported metric
(``test_<metric>``) a finite number in every row, and no (task,) run, seed (, step) twice, which
would otherwise count as a further seed. Messages give file lines as an editor shows them: the
header is line 1, the first row line 2.

An MLflow store is read only when it holds a FINISHED benchmark run, and a local store that is not
there is refused rather than created (``MlflowClient`` creates a sqlite file on first use).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path

import pandas as pd

from akd.errors import AkdError

METRIC_COLUMN = re.compile(r"^(?:phase\d+\.)?(?:test|val)_")  # a run's metrics, per stage too
TEXT_COLUMNS = ("run", "task", "metric")
REWRITE = "rerun the command that made it (akd bench ...), or move its folder out of the results folder"


def read_summary(path: Path) -> dict:
    """A results folder's ``summary.json`` ({} where there is none)."""
    if not path.exists():
        return {}
    try:
        info = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AkdError(f"{path}: not readable JSON ({_first_line(exc)}); {REWRITE}") from None
    if not isinstance(info, dict):
        raise AkdError(f"{path}: not a JSON object; {REWRITE}")
    return info


def read_runs(path: Path, metric: str) -> pd.DataFrame:
    """A ``runs.csv``, checked; ``metric`` is the folder's reported metric (a ``metric`` column overrides it)."""
    df = _read(path)
    _require(path, df, ["run", "seed"])
    metrics = df["metric"].fillna(metric).astype(str) if "metric" in df.columns else pd.Series(metric, df.index)
    _require(
        path, df, [f"test_{m}" for m in dict.fromkeys(metrics)], "the reported metric: summary.json's metrics.reported"
    )
    _text(path, df, "run")
    seeds = _whole(path, df, "seed")
    for column in df.columns:
        if METRIC_COLUMN.match(str(column)):
            df[column] = _numbers(path, df, column)
    for line, run, seed, m in zip(df.index, df["run"], seeds, metrics, strict=True):
        value = df.at[line, f"test_{m}"]
        if not math.isfinite(value):
            raise AkdError(
                f"{path}: line {line}: run {run!r} seed {seed} has no finite test_{m} "
                f"({'empty or NaN' if pd.isna(value) else value}); rerun that seed or remove that row"
            )
    df["seed"] = seeds
    _unique(path, df, ["task", "run", "seed"])
    return df.reset_index(drop=True)


def read_curves(path: Path) -> pd.DataFrame:
    """A ``curves.csv``, checked: every value a number (histories hold numbers only)."""
    df = _read(path)
    _require(path, df, ["run", "seed", "step"])
    _text(path, df, "run")
    df["seed"], df["step"] = _whole(path, df, "seed"), _whole(path, df, "step")
    for column in df.columns:
        if column not in (*TEXT_COLUMNS, "seed", "step"):
            df[column] = _numbers(path, df, column)
    _unique(path, df, ["task", "run", "seed", "step"])
    return df.reset_index(drop=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__


def _read(path: Path) -> pd.DataFrame:
    """The rows of a CSV file indexed by their line in it (no quoted line breaks in these files)."""
    try:
        if path.stat().st_size == 0:
            raise AkdError(f"{path}: empty file (0 bytes); {REWRITE}")
        df = pd.read_csv(path, skip_blank_lines=False)
    except pd.errors.EmptyDataError:
        raise AkdError(f"{path}: no header line (blank file); {REWRITE}") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise AkdError(f"{path}: not a readable CSV file ({_first_line(exc)}); {REWRITE}") from None
    df.index = df.index + 2  # line 1 is the header
    df = df.dropna(how="all")  # blank lines
    if df.empty:
        raise AkdError(f"{path}: a header line and no rows; {REWRITE}")
    return df


def _require(path: Path, df: pd.DataFrame, columns: list[str], why: str = "") -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        what = ", ".join(repr(c) for c in missing) + (f" ({why})" if why else "")
        raise AkdError(f"{path}: line 1 (the header) has no column {what}; add it to the header or {REWRITE}")


def _text(path: Path, df: pd.DataFrame, column: str) -> None:
    empty = df[column].isna() | (df[column].astype(str).str.strip() == "")
    if empty.any():
        raise AkdError(f"{path}: line {empty.idxmax()} column {column!r} is empty; fill it in or remove that row")
    df[column] = df[column].astype(str)


def _numbers(path: Path, df: pd.DataFrame, column: str, fix: str = "an empty cell means not measured") -> pd.Series:
    """The column as numbers (as read where it is; else floats, empty cells NaN): any other cell is refused."""
    if pd.api.types.is_numeric_dtype(df[column]):
        return df[column]
    values = pd.to_numeric(df[column], errors="coerce").astype(float)
    bad = df[column].notna() & values.isna()
    if bad.any():
        line = bad.idxmax()
        raise AkdError(
            f"{path}: line {line} column {column!r}: {df.at[line, column]!r} is not a number; correct that cell ({fix})"
        )
    return values


def _whole(path: Path, df: pd.DataFrame, column: str) -> pd.Series:
    values = _numbers(path, df, column, f"each {column} is a whole number").astype(float)
    bad = ~values.map(lambda v: math.isfinite(v) and v == int(v))
    if bad.any():
        line = bad.idxmax()
        cell = "empty" if pd.isna(values[line]) else f"{values[line]:g}, not a whole number"
        raise AkdError(f"{path}: line {line} column {column!r} is {cell}; correct that cell or remove that row")
    return values.astype(int)


def _unique(path: Path, df: pd.DataFrame, key: list[str]) -> None:
    key = [c for c in key if c in df.columns]
    seen: dict[tuple, int] = {}
    for line, values in zip(df.index, df[key].itertuples(index=False, name=None), strict=True):
        k = tuple("" if pd.isna(v) else v for v in values)
        if k in seen:
            what = " ".join(f"{c} {v!r}" if c in TEXT_COLUMNS else f"{c} {v}" for c, v in zip(key, k, strict=True))
            raise AkdError(f"{path}: line {line} repeats {what} (lines {seen[k]} and {line}); remove one of them")
        seen[k] = line


# ---------------------------------------------------------------------------------- MLflow stores
def local_store(uri: str) -> Path | None:
    """The file or folder of a local tracking store (sqlite, file), None for a server or a database server."""
    if uri.startswith("sqlite:///"):
        name = uri.removeprefix("sqlite:///").split("?", 1)[0]
        return None if name in ("", ":memory:") else Path(name)
    if uri.startswith("file://"):
        return Path(uri.removeprefix("file://"))
    return None if "://" in uri else Path(uri)


def check_store_exists(uri: str) -> None:
    """Refuse a local store that is not there (before ``MlflowClient`` would create it)."""
    path = local_store(uri)
    if path is not None and not path.exists():
        raise AkdError(
            f"no MLflow store at {path} (tracking URI {uri!r}); give the URI of an existing store "
            "(akd bench writes sqlite:///mlflow.db in its working folder) or a server's http://HOST:PORT"
        )


def no_finished_runs(uri: str, statuses: list[str]) -> AkdError:
    """The one line for a store without a FINISHED benchmark run (``statuses``: those of its other runs)."""
    counts = Counter(statuses)
    found = (
        f"found {len(statuses)} runs, all " + "/".join(f"{s} ({n})" for s, n in sorted(counts.items()))
        if statuses
        else "it holds no benchmark runs"
    )
    return AkdError(
        f"no FINISHED benchmark runs in {uri} ({found}); run a benchmark to its end (akd bench ...) "
        "or read another store or the committed results (source results)"
    )
