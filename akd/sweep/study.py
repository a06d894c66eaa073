"""Optuna studies: storage, sampler, pruner, the shared trial budget, dead workers.

Optuna's storage is the record of what is done; MLflow holds the runs (akd.sweep.trials).

- **Storage**: ``sqlite:///optuna.db`` in the working directory by default, any Optuna RDB URL
  with ``--storage`` (``postgresql://user:pass@host/db`` for several machines). A few local
  workers can share the sqlite file (its lock timeout is raised to a minute; trials take far
  longer than its writes); for many workers or machines use PostgreSQL, as Optuna advises.
- **Budget**: ``--n-trials`` counts the study's finished (complete or pruned) and running
  trials, whichever worker ran them, so re-running a command resumes up to the count. A worker
  stops when the budget is reached and no trial is running elsewhere; a trial that starts when
  the trials numbered below it already fill the budget (two workers asking at once) is left as
  FAIL with the user attribute ``surplus`` before anything trains, so exactly ``n_trials``
  trials finish.
- **Dead workers**: every running trial records a heartbeat; one that has been silent for the
  grace period (3 heartbeats) is marked FAIL when a worker next looks (before each trial, and
  every 2 s while it waits for the last ones), its MLflow run is marked FAILED, and it
  is queued again with the same parameters (at most twice).
- **Repeatable**: the sampler's seed derives from ``--sampler-seed``, the number of trials the
  study held when the worker started, and the worker's index; one worker from scratch repeats a
  sweep exactly. Several workers interleave trials by timing, which no seed can repeat.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from akd.errors import AkdError, redact_urls
from akd.hashing import derive_seed
from akd.sweep.space import Arm, Space
from akd.validation import ensure_writable

COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
MAX_RETRY = 2
SCHEMA_ATTEMPTS = 5
MAX_FAILURES = 3  # trials failing in a row stop a worker
POLL_S = 2.0  # how often a worker whose budget is full checks on trials running elsewhere


def default_storage() -> str:
    return os.environ.get("AKD_OPTUNA_STORAGE") or f"sqlite:///{Path('optuna.db').resolve()}"


class StaleTrials:
    """Optuna's stale-trial callback: mark the dead trial's MLflow run FAILED, then queue it again."""

    def __init__(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self.retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)
        self.on_stale: Callable[[optuna.trial.FrozenTrial], None] | None = None

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if self.on_stale is not None:
            self.on_stale(trial)
        self.retry(study, trial)


def open_storage(url: str, heartbeat: int, stale: StaleTrials) -> optuna.storages.RDBStorage:
    """An RDB storage with heartbeats, or a one-line error for a URL that cannot be used."""
    scheme = url.split("://", 1)[0].split("+", 1)[0] if "://" in url else ""
    if scheme not in ("sqlite", "postgresql", "mysql"):
        raise AkdError(
            f"Optuna storage {redact_urls(url)!r} is not a database URL; use sqlite:///PATH (local) or "
            "postgresql://USER:PASSWORD@HOST:PORT/DB (several machines)"
        )
    connect: dict[str, Any] = {"timeout": 60} if scheme == "sqlite" else {"connect_timeout": 5}
    if scheme == "sqlite":
        path = url.removeprefix("sqlite:///")
        if not path or path == url:
            raise AkdError(f"Optuna storage {url!r}: name the database file, e.g. sqlite:///optuna.db")
        ensure_writable(Path(path).parent, "Optuna storage folder")
    for attempt in range(SCHEMA_ATTEMPTS):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            try:
                return optuna.storages.RDBStorage(
                    url,
                    engine_kwargs={"connect_args": connect},
                    heartbeat_interval=heartbeat,
                    grace_period=3 * heartbeat,
                    heartbeat_stale_trial_callback=stale,
                )
            except ImportError as exc:
                raise AkdError(
                    f"Optuna storage {redact_urls(url)}: the database driver is missing ({exc.name}); "
                    'install it, e.g. pip install "psycopg[binary]" for PostgreSQL'
                ) from None
            except Exception as exc:  # sqlalchemy's errors: unreachable, refused, bad credentials, bad URL
                reason = " ".join(str(getattr(exc, "orig", None) or exc).split())[:200]
                # two workers creating a fresh database's tables at once: the other one wins; use its
                if ("already exists" in reason or "duplicate key" in reason) and attempt + 1 < SCHEMA_ATTEMPTS:
                    time.sleep(1.0)
                    continue
                raise AkdError(f"Optuna storage {redact_urls(url)} cannot be used: {reason}") from None
    raise AssertionError("unreachable")


def sampler_for(space: Space, seed: int) -> optuna.samplers.BaseSampler:
    arm = space.arms[0]
    if arm.is_grid:
        return optuna.samplers.GridSampler({k: list(v) for k, v in arm.grid.items()}, seed=seed)
    if space.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(3, space.n_trials // 3)))


def pruner_for(space: Space, max_steps: int) -> optuna.pruners.BasePruner:
    """Grids are never pruned (every point is measured); ``max_steps`` spans every seed's epochs."""
    if space.is_grid or space.pruner == "none":
        return optuna.pruners.NopPruner()
    if space.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_steps, reduction_factor=3)
    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)


def open_study(
    storage: optuna.storages.BaseStorage,
    name: str,
    space: Space,
    arm: Arm,
    key: str,
    what: dict[str, Any],
    max_steps: int,
    sampler_seed: int,
    worker: int,
) -> optuna.Study:
    """Create the study, or load it and check it asks the same question (space, objective, settings)."""
    logging.getLogger("optuna").setLevel(logging.WARNING)
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize", load_if_exists=True)
    attrs = study.user_attrs
    if "akd_key" not in attrs:
        study.set_user_attr("akd_key", key)
        study.set_user_attr("akd_study", what)
    elif attrs["akd_key"] != key:
        raise AkdError(
            f"study {name!r} exists with {_difference(attrs.get('akd_study', {}), what)}; "
            "choose another --study-name, or delete the study"
        )
    seed = derive_seed(sampler_seed, len(study.trials), worker) % 2**31
    study = optuna.load_study(
        study_name=name, storage=storage, sampler=sampler_for(space, seed), pruner=pruner_for(space, max_steps)
    )
    if arm.is_grid:  # queue every point once: workers then never repeat one
        for point in arm.grid_points():
            study.enqueue_trial(point, skip_if_exists=True)
    return study


def _difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    for part in ("arm", "search", "objective", "seeds"):
        if old.get(part) != new.get(part):
            what = {"arm": "space", "search": "sampler or pruner"}.get(part, part)
            return f"a different {what} ({old.get(part)} != {new.get(part)})"
    changed = sorted(
        k
        for k in set(old.get("config", {})) | set(new.get("config", {}))
        if old.get("config", {}).get(k) != new.get("config", {}).get(k)
    )
    return f"different settings ({', '.join(changed[:3]) or 'unknown'})"


def counted(study: optuna.Study, below: int | None = None) -> int:
    """Trials that use the budget: finished (complete, pruned) or running; those numbered below ``below``."""
    trials = study.get_trials(deepcopy=False, states=COUNTED)
    return sum(1 for t in trials if below is None or t.number < below)


class Surplus(Exception):
    """A trial that started after the budget was filled: it trains nothing."""


def work(study: optuna.Study, objective: Callable, n_trials: int, heartbeat: float, log=print) -> None:
    """Run trials until ``n_trials`` are finished, waiting for those running elsewhere.

    A trial still RUNNING when the budget is otherwise full is another worker's, or a dead one's;
    the worker polls (every ``POLL_S``, or heartbeat if shorter) until it ends, or until it has
    been silent for the grace period, when it is failed and queued again, and this worker runs it.
    """
    poll, grace = min(heartbeat, POLL_S), 3 * heartbeat

    def within_budget(trial: optuna.Trial) -> float:
        if counted(study, below=trial.number) >= n_trials:
            trial.set_user_attr("surplus", True)
            study.stop()
            raise Surplus(f"trial {trial.number} is beyond the budget of {n_trials}; not run")
        return objective(trial)

    failures: list[int] = []

    def stop_at_budget(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.state == TrialState.FAIL and not trial.user_attrs.get("surplus"):
            failures.append(trial.number)
            if len(failures) >= MAX_FAILURES:  # the cause is not the sampled point: stop, do not loop
                raise AkdError(
                    f"trials {', '.join(map(str, failures))} failed one after another; the last: "
                    f"{trial.user_attrs.get('error', 'see the log above')}"
                )
        else:
            failures.clear()
        if counted(study) >= n_trials:
            study.stop()

    waited = False
    while True:
        with warnings.catch_warnings():  # a dead worker's trials: FAIL, and queued again
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        if counted(study) < n_trials:
            with one_line_trials():
                study.optimize(
                    within_budget, callbacks=[stop_at_budget], catch=(Surplus, AkdError), gc_after_trial=False
                )
            continue
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if not running:
            return
        if not waited:  # another worker's, or a dead one's: its trial is retried once it goes silent
            log(f"waiting for {len(running)} trial(s) running elsewhere (a dead worker's are retried after {grace} s)")
            waited = True
        time.sleep(poll)


class _OneLineTrials(logging.Filter):
    """Optuna's word on a failed trial in one line: no traceback for an error the suite explains
    (AkdError), and nothing for Ctrl-C, which the CLI reports itself (exit 130)."""

    def __init__(self) -> None:
        super().__init__()
        self.interrupted = False

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, KeyboardInterrupt):
            self.interrupted = True
            return False
        if isinstance(exc, AkdError):
            record.exc_info = None
        return not (self.interrupted and "failed with value None" in record.getMessage())


@contextlib.contextmanager
def one_line_trials() -> Iterator[None]:
    logger = logging.getLogger("optuna.study._optimize")
    quiet = _OneLineTrials()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)
