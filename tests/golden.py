"""Numbers recorded from a benchmark run, to prove a refactor changes no result.

``smoke_numbers`` reads every child run of an invocation's MLflow store: its final metrics and the
per-epoch training loss and validation accuracy, at full float precision. The recorded file names
the machine that made it (CPU model, torch version): float order differs across CPU models, so the
comparison is exact only on the same kind of machine, and skipped elsewhere.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import torch
from mlflow.tracking import MlflowClient

from akd.provenance import cpu_model

GOLDEN = Path(__file__).parent / "golden"
# Wall times and counters of teacher passes describe the machine and the cache, not the result.
VOLATILE = ("seconds", "_forward_images", "_epochs_computed", "_epochs_cached")


def machine() -> dict[str, str]:
    return {"cpu": cpu_model(), "torch": torch.__version__.split("+")[0], "machine": platform.machine()}


def smoke_numbers(tracking_uri: str, experiment: str) -> dict[str, dict]:
    """run name -> {metric: value, "history": {key: [per-epoch values]}} of the first invocation."""
    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parent = min((r for r in runs if r.data.tags.get("kind") == "benchmark"), key=lambda r: r.info.start_time)
    out: dict[str, dict] = {}
    for run in runs:
        if run.data.tags.get("mlflow.parentRunId") != parent.info.run_id:
            continue
        metrics = {k: v for k, v in run.data.metrics.items() if not k.endswith(VOLATILE)}
        for key in ("train_loss", "val_acc"):
            history = sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)
            metrics[f"history.{key}"] = [m.value for m in history]
        out[run.info.run_name] = dict(sorted(metrics.items()))
    return dict(sorted(out.items()))


def record(name: str, numbers: dict) -> None:
    (GOLDEN / f"{name}.json").write_text(json.dumps({"machine": machine(), "runs": numbers}, indent=1) + "\n")


def recorded(name: str) -> dict:
    return json.loads((GOLDEN / f"{name}.json").read_text())
