"""MLflow tracking: one parent run per benchmark invocation, one nested run per trained model.

Local default: ``sqlite:///mlflow.db`` in the working directory with artifacts in ``mlartifacts/``
beside it (nothing needs to run). Set ``MLFLOW_TRACKING_URI`` (or ``--tracking-uri``) to use a
tracking server. Metrics are logged once per epoch in one batch call.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

PARENT_TAG = "mlflow.parentRunId"


def default_tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path('mlflow.db').resolve()}"


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i : i + size]


class Tracker:
    def __init__(self, tracking_uri: str | None = None, experiment: str = "akd") -> None:
        for noisy in ("mlflow", "alembic"):  # schema-creation chatter is not for the user
            logging.getLogger(noisy).setLevel(logging.WARNING)
        self.uri = tracking_uri or default_tracking_uri()
        self.client = MlflowClient(tracking_uri=self.uri)
        found = self.client.get_experiment_by_name(experiment)
        if found is not None:
            self.experiment_id = found.experiment_id
        else:
            location = None
            if self.uri.startswith("sqlite:///"):
                db = Path(self.uri.removeprefix("sqlite:///"))
                location = (db.parent / "mlartifacts").resolve().as_uri()
            self.experiment_id = self.client.create_experiment(experiment, artifact_location=location)

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
            items = [Param(k, str(v)[:6000]) for k, v in sorted(params.items())]
            for chunk in _chunks(items, 100):
                self.client.log_batch(run_id, params=chunk)
        return run_id

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int = 0) -> None:
        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step) for k, v in metrics.items()]
        for chunk in _chunks(items, 1000):
            self.client.log_batch(run_id, metrics=chunk)

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        self.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_json(self, run_id: str, obj: Any, name: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str))
            self.client.log_artifact(run_id, str(path))

    def log_file(self, run_id: str, path: Path) -> None:
        self.client.log_artifact(run_id, str(path))

    def end(self, run_id: str, ok: bool = True) -> None:
        self.client.set_terminated(run_id, "FINISHED" if ok else "FAILED")
