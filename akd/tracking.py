"""MLflow tracking: one parent run per benchmark invocation, one nested run per trained model.

Local default: ``sqlite:///mlflow.db`` in the working directory with artifacts in ``mlartifacts/``
beside it (nothing needs to run). Set ``MLFLOW_TRACKING_URI`` (or ``--tracking-uri``) to use a
tracking server. Metrics are logged once per epoch in one batch call.

Fails fast and in one line: a tracking server that does not answer its health check within a few
seconds, a URI MLflow cannot use, or a local store whose folder is not writable stop the run
before anything trains (MLflow itself would retry for minutes). Several processes may open the
same fresh sqlite store and experiment at once: schema and experiment creation are serialised by a
file lock beside the database, and an experiment created by another client meanwhile is reused.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from filelock import FileLock
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from akd.errors import AkdError, MachineFailure, redact_urls, service_failure
from akd.validation import ensure_writable

PARENT_TAG = "mlflow.parentRunId"
# the experiment's kind in MLflow 3 (model training, not GenAI); MLflow 3.17's UI still opens its
# GenAI view unless the link names the workflow type (``runs_page``)
KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"
HEALTH_TIMEOUT_S = 5.0
SCHEMES = ("sqlite", "postgresql", "mysql", "mssql", "http", "https", "databricks", "databricks-uc", "uc", "file")


def default_tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path('mlflow.db').resolve()}"


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def check_server(uri: str, timeout: float = HEALTH_TIMEOUT_S) -> None:
    """An http(s) tracking server must answer ``/health`` within ``timeout`` seconds."""
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout):
            pass
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):  # behind authentication: it is there; MLflow brings the credentials
            return
        raise AkdError(f"MLflow tracking server {uri} answered /health with HTTP {exc.code}") from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AkdError(
            f"MLflow tracking server {uri} is not reachable ({reason}); start it, or unset MLFLOW_TRACKING_URI "
            "and drop --tracking-uri to use the local sqlite store"
        ) from None


def _first_line(exc: MlflowException) -> str:
    return (str(exc.message).strip().splitlines() or [type(exc).__name__])[0][:200]


def _reported(method: Callable) -> Callable:
    """An MLflow failure mid-run (after MLflow's own retries) becomes one line, not a traceback."""

    @functools.wraps(method)
    def wrapper(self: Tracker, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except MlflowException as exc:  # a store or server that failed (4), or one that refuses (2)
            failed = service_failure(exc) or getattr(exc, "error_code", "") == "TEMPORARILY_UNAVAILABLE"
            kind = MachineFailure if failed else AkdError
            raise kind(f"MLflow tracking at {redact_urls(self.uri)} failed: {_first_line(exc)[:300]}") from None

    return wrapper


def check_tracking_uri(uri: str) -> Path | None:
    """Check ``uri`` without writing anything; return the sqlite database's path for a local store.

    A known scheme; a server that answers its health check; a local store's folder writable.
    """
    scheme = uri.split("://", 1)[0].split("+", 1)[0] if "://" in uri else ""
    if scheme not in SCHEMES:
        raise AkdError(
            f"MLflow tracking URI {uri!r} has {f'unknown scheme {scheme!r}' if scheme else 'no scheme'}; "
            "use sqlite:///PATH (local), http(s)://HOST:PORT (a server) or postgresql://..."
        )
    db = Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None
    if scheme in ("http", "https"):
        check_server(uri)
    elif db is not None:
        ensure_writable(db.parent, "MLflow store folder")
        check_sqlite_store(db)
    return db


SQLITE_HEADER = b"SQLite format 3\x00"


def check_sqlite_store(db: Path) -> None:
    """Refuse, at once and without writing, a path that MLflow would fail on minutes later: a folder,
    a file that is not SQLite, or a SQLite database of something else (tables, none of them MLflow's).
    A missing or empty file is a new store."""
    import sqlite3

    if db.is_dir():
        raise AkdError(f"MLflow store {db} is a folder; name a database file (sqlite:///{db}/mlflow.db)")
    if not db.exists() or db.stat().st_size == 0:
        return
    with open(db, "rb") as f:
        if f.read(16) != SQLITE_HEADER:
            raise AkdError(f"MLflow store {db} is not a SQLite database; name another file (sqlite:///PATH)")
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise AkdError(f"MLflow store {db} cannot be read as SQLite ({exc}); name another file") from None
    if tables and not {"experiments", "runs"} <= tables:
        raise AkdError(
            f"MLflow store {db} is a SQLite database of something else (tables: {', '.join(sorted(tables)[:5])}); "
            "name another file"
        )


def mark_training_experiments(uri: str) -> dict[str, str]:
    """Tag the suite's experiments in a store (``akd*``) as model training where they lack a kind
    (stores written before the tag); returns their names -> ids."""
    client = MlflowClient(tracking_uri=uri)
    found = {}
    for exp in client.search_experiments():
        if exp.name.startswith("akd"):
            found[exp.name] = exp.experiment_id
            if KIND_TAG not in exp.tags:
                client.set_experiment_tag(exp.experiment_id, KIND_TAG, KIND)
    return found


def runs_page(base: str, experiment_id: str) -> str:
    """The runs table of an experiment in MLflow's UI, in its model-training view: MLflow 3.17 opens
    in its GenAI view (traces, sessions) unless the link names the workflow type."""
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"


class Tracker:
    def __init__(self, tracking_uri: str | None = None, experiment: str = "akd") -> None:
        for noisy in ("mlflow", "alembic"):  # schema-creation chatter is not for the user
            logging.getLogger(noisy).setLevel(logging.WARNING)
        self.uri, self.experiment = tracking_uri or default_tracking_uri(), experiment
        # teachers and TAs trained here are published to the server's artifacts, and fetched from
        # there by machines that do not share a model store (AKD_SHARE_MODELS=1: on any store)
        self.shares_models = self.uri.startswith(("http://", "https://")) or os.environ.get("AKD_SHARE_MODELS") == "1"
        db = check_tracking_uri(self.uri)
        guard = FileLock(str(db.with_name(f".{db.name}.lock"))) if db is not None else nullcontext()
        try:
            with guard:  # creating the schema and the experiment: one process at a time
                if db is not None:
                    db.parent.mkdir(parents=True, exist_ok=True)
                self.client = MlflowClient(tracking_uri=self.uri)
                self.experiment_id = self._experiment(experiment, db)
        except MlflowException as exc:
            raise AkdError(f"cannot use MLflow tracking URI {self.uri!r}: {_first_line(exc)}") from None

    def _experiment(self, name: str, db: Path | None) -> str:
        """The experiment's id, created if needed, marked as model training (see ``KIND_TAG``)."""
        found = self.client.get_experiment_by_name(name)
        if found is None:
            location = (db.parent / "mlartifacts").resolve().as_uri() if db is not None else None
            try:
                self.client.create_experiment(name, artifact_location=location, tags={KIND_TAG: KIND})
            except MlflowException:  # another client (another machine on a server) created it meanwhile
                pass
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise AkdError(f"MLflow experiment {name!r} could not be created at {self.uri}")
        if KIND_TAG not in found.tags:  # a store made before the tag (a kind the user chose stays)
            self.client.set_experiment_tag(found.experiment_id, KIND_TAG, KIND)
        return found.experiment_id

    @_reported
    def start(
        self,
        name: str,
        tags: dict[str, str],
        params: dict[str, Any] | None = None,
        parent: str | None = None,
    ) -> str:
        all_tags = {**tags, **({PARENT_TAG: parent} if parent else {})}
        run = self.client.create_run(self.experiment_id, tags=all_tags, run_name=name)
        run_id = run.info.run_id
        if params:
            self.log_params(run_id, params)
        return run_id

    @_reported
    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        items = [Param(k, str(v)[:6000]) for k, v in sorted(params.items())]
        for chunk in _chunks(items, 100):
            self.client.log_batch(run_id, params=chunk)

    @_reported
    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int = 0) -> None:
        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step) for k, v in metrics.items()]
        for chunk in _chunks(items, 1000):
            self.client.log_batch(run_id, metrics=chunk)

    @_reported
    def log_json(self, run_id: str, obj: Any, name: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str))
            self.client.log_artifact(run_id, str(path))

    @_reported
    def log_file(self, run_id: str, path: Path) -> None:
        self.client.log_artifact(run_id, str(path))

    @_reported
    def find(self, tags: dict[str, str], statuses: tuple[str, ...] = ("RUNNING", "FINISHED")) -> list:
        """Active runs of this experiment with all ``tags``, in one of ``statuses``, oldest first."""
        where = " and ".join(f"tags.{k} = '{v}'" for k, v in tags.items())
        runs = self.client.search_runs([self.experiment_id], where, max_results=1000)
        return sorted((r for r in runs if r.info.status in statuses), key=lambda r: (r.info.start_time, r.info.run_id))

    @_reported
    def claim(
        self,
        name: str,
        match: dict[str, str],
        tags: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        parent: str | None = None,
        statuses: tuple[str, ...] = ("RUNNING", "FINISHED"),
    ) -> tuple[str, bool]:
        """Start a run tagged ``match`` (and ``tags``) unless one is active; of runs started at once, the oldest wins.

        Returns (the winning run's id, whether this call started it). Works across processes and
        machines that share a tracking store: each starts its run, then all agree on the oldest and
        the others delete theirs.
        """
        found = self.find(match, statuses)
        if found:
            return found[0].info.run_id, False
        mine = self.start(name, {**(tags or {}), **match}, params, parent)
        winner = self.find(match, statuses)[0].info.run_id
        if winner != mine:
            self.client.delete_run(mine)
        return winner, winner == mine

    @_reported
    def get_run(self, run_id: str):
        """The run, or None when it does not exist (deleted, or from another store)."""
        try:
            return self.client.get_run(run_id)
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise

    @_reported
    def log_history(self, run_id: str, history: list[dict[str, float]], step0: int = 0) -> set[int]:
        """Log the per-epoch records (step ``step0 + index``) that ``run_id`` lacks; returns the steps
        it holds now (a resumed job skips them when it trains those epochs again).

        A resumed job calls it with its checkpoint's history: an epoch checkpointed by a process that
        died before logging it is logged now, and none is logged twice.
        """
        logged = {m.step for m in self.client.get_metric_history(run_id, "train_loss")}
        missing = [(step0 + i, r) for i, r in enumerate(history) if step0 + i not in logged]
        for step, record in missing:
            self.log_metrics(run_id, {k: v for k, v in record.items() if k != "epoch"}, step=step)
        return logged | {step for step, _ in missing}

    @_reported
    def reopen(self, run_id: str) -> None:
        """Mark a finished run RUNNING again (a resumed sweep continues its study's run)."""
        self.client.update_run(run_id, status="RUNNING")

    @_reported
    def set_tag(self, run_id: str, key: str, value: str) -> None:
        self.client.set_tag(run_id, key, value)

    @_reported
    def status(self, run_id: str) -> str:
        return self.client.get_run(run_id).info.status

    @_reported
    def publish_model(self, run_id: str, entry: Path) -> None:
        """Copy a model store entry into ``run_id``'s artifacts, where other machines fetch it by key."""
        self.client.log_artifacts(run_id, str(entry), artifact_path=f"store/{entry.name}")
        self.client.set_tag(run_id, "published", "true")

    @_reported
    def fetch_model(self, key: str, into: Path) -> bool:
        """Download the published store entry ``key`` into the folder ``into`` (its parent: the store)."""
        found = self.find({"store_key": key, "published": "true"}, ("FINISHED",))
        if not found:
            return False
        into.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{key}-", dir=into.parent) as tmp:
            local = self.client.download_artifacts(found[0].info.run_id, f"store/{key}", tmp)
            os.replace(local, into)
        return True

    @contextmanager
    def failing(self, run_id: str) -> Iterator[str]:
        """Marks ``run_id`` FAILED if the block raises (anything, Ctrl-C included), then re-raises."""
        try:
            yield run_id
        except BaseException:
            self.end(run_id, False)
            raise

    @_reported
    def end(self, run_id: str, ok: bool = True, status: str | None = None) -> None:
        """FINISHED or FAILED, or ``status`` (e.g. KILLED for a pruned trial)."""
        self.client.set_terminated(run_id, status or ("FINISHED" if ok else "FAILED"))
