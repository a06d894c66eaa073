"""The analysis's outputs as an MLflow run of its own (experiment ``akd-analysis``).

Each notebook logs the tables and figures it wrote (artifacts under ``paper/`` or ``figures/``,
by the folder they were written to), with its parameters and the code version, so a figure in a
paper can be traced to the run that drew it and the data it read.
"""

from __future__ import annotations

from pathlib import Path

import torch

from akd.provenance import provenance
from akd.tracking import Tracker

EXPERIMENT = "akd-analysis"


def log_outputs(tracking_uri: str | None, notebook: str, paths: list[Path], params: dict) -> str:
    """A FINISHED run named ``notebook`` holding ``paths``; returns its id."""
    tracker = Tracker(tracking_uri, experiment=EXPERIMENT)
    tags = {"kind": "analysis", "notebook": notebook, **provenance(torch.device("cpu"))}
    run_id = tracker.start(notebook, tags, params)
    with tracker.failing(run_id):
        for path in paths:
            tracker.client.log_artifact(run_id, str(path), artifact_path=Path(path).parent.name)
    tracker.end(run_id)
    return run_id
