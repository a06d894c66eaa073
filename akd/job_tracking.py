"""The MLflow run of one job (the teacher, a shared TA, a method x seed): opened, continued, bookkept, closed.

- :func:`open_run`: an interrupted attempt's run reopened under this invocation's parent (any
  unfinished run of the job is a dead attempt's: the caller holds the job's store lock), else a new
  one with the full config as params and ``config.json``;
- :func:`record_reuse`: a finished job's run made FINISHED if its process died just after storing it,
  and this invocation's parent given a ``trained=false`` run pointing at it;
- :func:`fetch_or_claim`: on machines that share a tracking server but not a store, another
  machine's teacher or TA fetched from the server's artifacts, or this process's claim to train it;
- :func:`finish`: the results and history logged, the run ended.

Each takes the :class:`JobContext`: what every job of one process shares (a ``JobRunner``).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from akd.config import BenchConfig
from akd.plan import Run
from akd.settings import flatten
from akd.store import ModelStore
from akd.tracking import PARENT_TAG, Tracker

CLAIM_POLL_S = 5.0  # how often a machine waiting for another's teacher looks again


class JobContext(Protocol):
    cfg: BenchConfig
    tracker: Tracker
    store: ModelStore
    parent: str | None
    base_tags: dict[str, str]
    track_reuse: bool

    @property
    def job_tags(self) -> dict[str, str]: ...

    def log(self, text: str) -> None: ...


def run_tags(run: Run) -> dict[str, str]:
    """Tags the MLflow UI groups a run by: kind, seed, and method (``teacher`` and ``ta`` for those)."""
    return {"kind": run.kind, "seed": str(run.seed), "method": run.method or run.name.split("/")[0]}


def role_of(run: Run) -> str:
    """The row name of a run in the summary: the method, or the role it trains (teacher, ta)."""
    return run.method or run.stages[0].trains


def open_run(ctx: JobContext, run: Run, tags: dict[str, str], run_id: str | None, state: dict | None) -> str:
    """The job's MLflow run: the interrupted attempt's, reopened under this parent, else a new one.

    Across machines that share only a tracking server, a RUNNING one may be alive elsewhere.
    """
    tracker = ctx.tracker
    if run_id is None:
        run_id = state.get("run_id") if state else None
        if run_id is not None and tracker.get_run(run_id) is None:  # deleted meanwhile
            run_id = None
        if run_id is None:
            dead = ("FAILED", "KILLED") if tracker.shares_models else ("RUNNING", "FAILED", "KILLED")
            found = tracker.find({"job_key": run.key}, dead)
            run_id = found[-1].info.run_id if found else None
        if run_id is not None:
            tracker.reopen(run_id)
            if ctx.parent:
                tracker.set_tag(run_id, PARENT_TAG, ctx.parent)
            ctx.log(f"{run.name}: continuing its MLflow run {run_id}")
            return run_id
    config = ctx.cfg.to_dict()
    params = flatten(config) | {"seed": run.seed}
    if run_id is None:
        tags = {**ctx.job_tags, **run_tags(run), **tags, "job_key": run.key}
        run_id = tracker.start(run.name, tags, params, parent=ctx.parent)
    else:
        tracker.log_params(run_id, params)
    tracker.log_json(run_id, config, "config.json")
    return run_id


def record_reuse(ctx: JobContext, run: Run) -> dict[str, Any]:
    """A finished job's bookkeeping (see the module docstring); returns its stored meta."""
    tracker = ctx.tracker
    meta = ctx.store.meta(run.key)
    ctx.store.checkpoint_path(run.key).unlink(missing_ok=True)  # left if it died just after storing
    source = meta.get("run_id")
    found = tracker.get_run(source) if source else None
    if found is not None and found.info.status != "FINISHED":
        tracker.log_metrics(source, meta["results"])
        tracker.end(source, True)
    if not ctx.track_reuse or (found is not None and found.data.tags.get(PARENT_TAG) == ctx.parent):
        return meta
    if tracker.find({"job_key": run.key, PARENT_TAG: ctx.parent}, ("FINISHED",)):
        return meta
    tags = {**ctx.base_tags, **run_tags(run), "job_key": run.key, "trained": "false", "role": role_of(run)}
    if run.kind != "method":
        tags["store_key"] = run.key
    run_id = tracker.start(run.name, tags | ({"reuses": source} if source else {}), {"seed": run.seed}, ctx.parent)
    tracker.log_metrics(run_id, meta["results"])
    tracker.end(run_id, True)
    ctx.log(f"{run.name}: finished before, reused ({run.key})")
    return meta


def fetch_or_claim(ctx: JobContext, run: Run) -> tuple[bool, str | None]:
    """(True, None) once another machine's published model is in the store, else (False, our run)."""
    tracker, tags = ctx.tracker, {"store_key": run.key, "trained": "true"}
    while True:
        if tracker.fetch_model(run.key, ctx.store.entry(run.key)) and ctx.store.has(run.key):
            ctx.log(f"{run.name}: fetched {run.key} from the tracking server")
            return True, None
        more = {**ctx.job_tags, **run_tags(run), "role": run.stages[0].trains, "job_key": run.key}
        run_id, won = tracker.claim(run.name, tags, more, parent=ctx.parent, statuses=("RUNNING",))
        if won:
            return False, run_id
        ctx.log(f"{run.name}: another machine is training it (MLflow run {run_id}); waiting")
        while tracker.status(run_id) == "RUNNING":
            time.sleep(CLAIM_POLL_S)


def finish(ctx: JobContext, run_id: str, run: Run, res: dict[str, float], history: list, metric: str) -> None:
    ctx.tracker.log_metrics(run_id, res)
    if history:
        ctx.tracker.log_json(run_id, history, "history.json")
    ctx.tracker.end(run_id, True)
    best, last = res[f"test_{metric}"], res[f"test_{metric}_last"]
    ctx.log(f"{run.name}: test {metric} {best:.2f} (best val epoch), {last:.2f} (last)")
