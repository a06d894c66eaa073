"""One job of a plan (the teacher, a shared TA, a method x seed), run in whatever process holds it.

A job's result is a store entry under the job's content key (akd.plan): the trained weights and
``meta.json`` with the recipe, the results, the per-epoch history, its MLflow run and its
attempts. :meth:`JobRunner.run_job` makes sure that entry exists:

- **finished** (the entry is there): nothing trains; this invocation's parent run gets a run
  marked ``trained=false`` pointing at the one that trained it (none if it already is its child);
- **interrupted** (a checkpoint is there): training continues from it, in the job's own MLflow
  run (reopened, moved under this invocation's parent, epochs the dead process never logged
  logged now); the attempt is counted;
- **new**: trained from scratch, checkpointed as it goes (akd.checkpoint).

The job's store lock is held throughout, so two processes sharing a store never train one job
twice: the second waits, then finds the entry. With a tracking server shared by machines that do
not share a store, teachers and TAs are fetched from the server or claimed there (one trains).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from akd import faults
from akd.cache import LogitCache, default_cache_dir
from akd.checkpoint import Checkpointer, attempt_record, checkpoint_state, logged_history, set_rng_state
from akd.config import BenchConfig
from akd.engine import StageJob, StageResult, evaluate, snapshot, stage_metrics, train_stage
from akd.errors import AkdError
from akd.fidelity import student_fidelity
from akd.hashing import derive_seed
from akd.plan import Run
from akd.provenance import provenance
from akd.runtime import Runtime, setup_runtime
from akd.settings import flatten
from akd.store import ModelStore, check_fits, load_checkpoint
from akd.tasks.base import Task
from akd.teacher import FrozenLogits, freeze
from akd.tracking import PARENT_TAG, Tracker

CLAIM_POLL_S = 5.0  # how often a machine waiting for another's teacher looks again
AWAIT_S = 30.0  # how long a job waits for an upstream job that holds no lock to store its model


def runtime_for(cfg: BenchConfig) -> Runtime:
    return setup_runtime(cfg.device, cfg.threads, cfg.deterministic, cfg.channels_last, cfg.amp, cfg.compile)


def cache_for(cfg: BenchConfig, log=print) -> LogitCache | None:
    c = cfg.cache
    if not c.enabled:
        return None
    return LogitCache(c.dir or default_cache_dir(), int(c.max_gb * 1e9), c.dtype, log)


def init_model(cfg: BenchConfig, role: str, seed: int, task: Task, rt: Runtime) -> nn.Module:
    """Initial weights depend only on (seed, role): every method's student starts identical."""
    torch.manual_seed(derive_seed(seed, "init", role))
    return rt.place(task.build_model(cfg.arch(role)))


def run_tags(run: Run) -> dict[str, str]:
    """Tags the MLflow UI groups a run by: kind, seed, and method (``teacher`` and ``ta`` for those)."""
    return {"kind": run.kind, "seed": str(run.seed), "method": run.method or run.name.split("/")[0]}


def role_of(run: Run) -> str:
    """The row name of a run in the summary: the method, or the role it trains (teacher, ta)."""
    return run.method or run.stages[0].trains


class JobRunner:
    def __init__(
        self,
        cfg: BenchConfig,
        tracker: Tracker | Callable[[], Tracker] | None,
        store: ModelStore,
        log=print,
        command: str = "",
    ) -> None:
        self.cfg, self.tracker, self.store, self.log, self.command = cfg, tracker, store, log, command
        self.parent: str | None = None
        self.models: dict[str, nn.Module] = {}  # store key -> a frozen teacher or TA held in memory
        self.shared_models: dict[str, nn.Module] = {}  # store key -> what a method run's stages learn from
        # called after every epoch of every stage with (MLflow step, the epoch's record); a sweep's
        # pruner subscribes here (it may raise to stop the run)
        self.epoch_observers: list[Callable[[int, dict[str, float]], None]] = []
        self.track_reuse = True  # a stored teacher or TA loaded gets a run of its own (False: silently)
        self.logged: set[int] = set()  # MLflow steps the resumed job's run already holds

    def open(self, rt: Runtime, task: Task) -> None:
        """Open the tracker and hold what every job of this process shares: machine, data, cache, tags."""
        cfg = self.cfg
        if callable(self.tracker):
            self.tracker = self.tracker()
        self.rt, self.task, self.cache = rt, task, cache_for(cfg, self.log)
        self.reported_metric = task.report_metric
        self.base_tags = {
            "benchmark": cfg.benchmark,
            "profile": cfg.profile,
            "variant": cfg.variant,
            "command": self.command,
            "data_folder": task.source,
            "data_fingerprint": task.fingerprint,
            "metric": task.report_metric,
            "store": str(self.store.root.resolve()),
            **provenance(rt.device, cfg.deterministic),
        }

    @property
    def job_tags(self) -> dict[str, str]:
        """The tags of a job trained now: this process's, with the threads it trains with now (a
        pool's driver trains with the workers' count)."""
        return {**self.base_tags, "host.cpu_threads": str(torch.get_num_threads())}

    # ------------------------------------------------------------------ any job
    def run_job(self, run: Run) -> None:
        """Reuse, resume or train ``run`` in this process; afterwards its result is in the store."""
        if run.kind == "method":
            self._method(run)
        else:
            teacher = None
            if run.recipe.get("teacher"):  # a TA trained from the teacher (not a user's checkpoint)
                teacher = self.upstream(run.recipe["teacher"], "teacher")
            self.models[run.key] = self._stored_or_train(run, teacher)
        faults.point(f"{run.name} done")

    def upstream(self, key: str, role: str) -> nn.Module:
        """The frozen model stored under ``key`` (a finished teacher or TA job), loaded once."""
        if key not in self.models:
            model = self.task.build_model(self.cfg.arch(role))
            state, _ = self.store.load(key)
            model.load_state_dict(check_fits(state, model, str(self.store.entry(key))))
            self.models[key] = freeze(self.rt.place(model))
        return self.models[key]

    def awaited(self, key: str, role: str) -> nn.Module:
        """``upstream(key)`` once it is stored: in a pool, the job that trains it may still be
        running (its store lock is held); one that has ended without storing it is an error."""
        free_since = time.monotonic()
        while True:
            with self.store.locked(key, self.log) as stored:  # waits while that job holds the lock
                if stored:
                    return self.upstream(key, role)
            if time.monotonic() - free_since > AWAIT_S:
                raise AkdError(f"the {role} job ended without storing {self.store.entry(key)}; see its error")
            time.sleep(0.2)

    def _job_run(self, run: Run, tags: dict[str, str], run_id: str | None, state: dict | None) -> str:
        """The job's MLflow run: the interrupted attempt's, reopened under this parent, else a new one.

        Any unfinished run of the job is a dead attempt's: this process holds the job's lock.
        Across machines that share only a tracking server, a RUNNING one may be alive elsewhere.
        """
        if run_id is None:
            run_id = state.get("run_id") if state else None
            if run_id is not None and self.tracker.get_run(run_id) is None:  # deleted meanwhile
                run_id = None
            if run_id is None:
                dead = ("FAILED", "KILLED") if self.tracker.shares_models else ("RUNNING", "FAILED", "KILLED")
                found = self.tracker.find({"job_key": run.key}, dead)
                run_id = found[-1].info.run_id if found else None
            if run_id is not None:
                self.tracker.reopen(run_id)
                if self.parent:
                    self.tracker.set_tag(run_id, PARENT_TAG, self.parent)
                self.log(f"{run.name}: continuing its MLflow run {run_id}")
                return run_id
        params = flatten(self.cfg.to_dict()) | {"seed": run.seed}
        if run_id is None:
            tags = {**self.job_tags, **run_tags(run), **tags, "job_key": run.key}
            run_id = self.tracker.start(run.name, tags, params, parent=self.parent)
        else:
            self.tracker.log_params(run_id, params)
        self.tracker.log_json(run_id, self.cfg.to_dict(), "config.json")
        return run_id

    def _reused(self, run: Run) -> dict[str, Any]:
        """A finished job: its MLflow run is made FINISHED if its process died just after storing it,
        and this invocation's parent gets a ``trained=false`` run pointing at it. Returns its meta."""
        meta = self.store.meta(run.key)
        self.store.checkpoint_path(run.key).unlink(missing_ok=True)  # left if it died just after storing
        source = meta.get("run_id")
        found = self.tracker.get_run(source) if source else None
        if found is not None and found.info.status != "FINISHED":
            self.tracker.log_metrics(source, meta["results"])
            self.tracker.end(source, True)
        if not self.track_reuse or (found is not None and found.data.tags.get(PARENT_TAG) == self.parent):
            return meta
        if self.tracker.find({"job_key": run.key, PARENT_TAG: self.parent}, ("FINISHED",)):
            return meta
        tags = {**self.base_tags, **run_tags(run), "job_key": run.key, "trained": "false", "role": role_of(run)}
        if run.kind != "method":
            tags["store_key"] = run.key
        run_id = self.tracker.start(
            run.name, tags | ({"reuses": source} if source else {}), {"seed": run.seed}, self.parent
        )
        self.tracker.log_metrics(run_id, meta["results"])
        self.tracker.end(run_id, True)
        self.log(f"{run.name}: finished before, reused ({run.key})")
        return meta

    # ------------------------------------------------------------------ teacher and TA
    def _stored_or_train(self, run: Run, teacher: nn.Module | None) -> nn.Module:
        """Load ``run`` (a user checkpoint or the store), or train and store it.

        Holds the entry's store lock throughout, so a second process needing the same model waits
        and then loads it instead of training it again. With a tracking server shared by machines
        that do not share a store, the model is fetched from the server's artifacts, or this
        process claims its training there while the others wait for it.
        """
        with self.store.locked(run.key, self.log) as stored:
            run_id = None
            if not stored and self.tracker.shares_models and not self.cfg.checkpoint(run.stages[0].trains):
                stored, run_id = self._fetch_or_claim(run)
            return freeze(self._load_or_train(run, teacher, stored, run_id))

    def _fetch_or_claim(self, run: Run) -> tuple[bool, str | None]:
        """(True, None) once another machine's published model is in the store, else (False, our run)."""
        tags = {"store_key": run.key, "trained": "true"}
        while True:
            if self.tracker.fetch_model(run.key, self.store.entry(run.key)) and self.store.has(run.key):
                self.log(f"{run.name}: fetched {run.key} from the tracking server")
                return True, None
            more = {**self.job_tags, **run_tags(run), "role": run.stages[0].trains, "job_key": run.key}
            run_id, won = self.tracker.claim(run.name, tags, more, parent=self.parent, statuses=("RUNNING",))
            if won:
                return False, run_id
            self.log(f"{run.name}: another machine is training it (MLflow run {run_id}); waiting")
            while self.tracker.status(run_id) == "RUNNING":
                time.sleep(CLAIM_POLL_S)

    def _load_or_train(self, run: Run, teacher: nn.Module | None, stored: bool, run_id: str | None) -> nn.Module:
        cfg, role = self.cfg, run.stages[0].trains
        checkpoint = cfg.checkpoint(role)
        if stored:
            if self.track_reuse:
                self._reused(run)
            self.log(f"{run.name}: reusing stored {role} {run.key}")
            self.models.pop(run.key, None)
            return self.upstream(run.key, role)
        if checkpoint:  # first use: check and evaluate it, and keep it with its accuracies in the store
            run_id = self._job_run(run, {"role": role, "store_key": run.key, "trained": "false"}, run_id, None)
            with self.tracker.failing(run_id):
                model = self.task.build_model(cfg.arch(role))
                state = check_fits(load_checkpoint(Path(checkpoint)), model, checkpoint)
                model.load_state_dict(state)
                self.rt.place(model)
                test, val = (evaluate(model, self.task, s, cfg.optim.eval_batch_size, self.rt) for s in ("test", "val"))
                res = stage_metrics(test=test, test_last=test, val_best=val, val_last=val)
                meta = {"recipe": run.recipe, "results": res, "history": [], "tags": self.job_tags}
                self.store.save(run.key, state, meta | {"run_id": run_id, "parent": self.parent})
            self._finish(run_id, run, res, [])
            return model
        return self._train_and_store(run, teacher, {"role": role, "store_key": run.key, "trained": "true"}, run_id)

    # ------------------------------------------------------------------ method x seed
    def _method(self, run: Run) -> None:
        with self.store.locked(run.key, self.log) as stored:
            if stored:
                self._reused(run)
                return
            key = run.recipe.get("teacher")
            teacher = self.upstream(key, "teacher") if key and not run.fidelity_only else None
            reference = (lambda: self.awaited(key, "teacher")) if run.fidelity_only else None
            for role, k in run.needs.items():
                self.shared_models[k] = self.upstream(k, role)
            self._train_and_store(run, teacher, {}, None, reference)

    def checkpointer(self, run: Run) -> Checkpointer:
        """Where ``run`` checkpoints as it trains, as often as ``jobs`` in the config says."""
        j = self.cfg.jobs
        return Checkpointer(self.store.checkpoint_path(run.key), j.checkpoint_epochs, j.checkpoint_minutes)

    def _train_and_store(
        self, run: Run, teacher: nn.Module | None, tags: dict, run_id: str | None, reference=None
    ) -> nn.Module:
        """Train (or resume) ``run`` with checkpoints, store its result, finish its MLflow run."""
        ckpt = self.checkpointer(run)
        state = ckpt.load()
        run_id = self._job_run(run, tags, run_id, state)
        with self.tracker.failing(run_id):
            record, history, model, attempts = self.train_method(
                run, teacher, run_id, ckpt=ckpt, state=state, reference=reference
            )
            meta = {"recipe": run.recipe, "results": record, "history": history, "tags": self.job_tags}
            meta |= {"run_id": run_id, "parent": self.parent, "attempts": attempts}
            entry = self.store.save(run.key, snapshot(model), meta)
            if self.tracker.shares_models and run.kind != "method":
                self.tracker.publish_model(run_id, entry)
        self._finish(run_id, run, record, history)
        ckpt.clear()
        return model

    def _finish(self, run_id: str, run: Run, res: dict[str, float], history: list) -> None:
        self.tracker.log_metrics(run_id, res)
        if history:
            self.tracker.log_json(run_id, history, "history.json")
        self.tracker.end(run_id, True)
        m = self.task.selection_metric
        self.log(f"{run.name}: test {m} {res[f'test_{m}']:.2f} (best val epoch), {res[f'test_{m}_last']:.2f} (last)")

    def _train_tracked(self, run_id, stage_index, stage, model, teacher, seed, step0, desc, resume=None, on_state=None):
        """Train one stage; returns its result and the teacher-forward counts of its source."""

        def on_epoch(record: dict[str, float]) -> None:
            metrics = {k: v for k, v in record.items() if k != "epoch"} | {"phase": stage_index + 1}
            step = step0 + int(record["epoch"])
            if step not in self.logged:  # an epoch redone after its last checkpoint: logged by the dead attempt
                self.tracker.log_metrics(run_id, metrics, step=step)
            for observe in self.epoch_observers:
                observe(step, metrics)

        cfg, o = self.cfg, self.cfg.optim
        source = None
        if teacher is not None:
            role = stage.teacher
            source = FrozenLogits(
                teacher, role, cfg.arch(role), self.task, seed, o.batch_size, self.rt, self.cache, o.eval_batch_size
            )
        result = train_stage(
            StageJob(stage, model, source, self.task, o, seed, self.rt, on_epoch, desc, resume, on_state)
        )
        return result, source.counts() if source is not None else {}

    def train_method(
        self,
        run: Run,
        teacher: nn.Module | None,
        run_id: str,
        step0: int = 0,
        ckpt: Checkpointer | None = None,
        state: dict[str, Any] | None = None,
        reference: Callable[[], nn.Module] | None = None,
    ) -> tuple[dict[str, float], list[dict[str, float]], nn.Module, list[dict[str, Any]]]:
        """Train every stage of a run; returns its flat record, history, model and attempts.

        Per-epoch metrics go to MLflow run ``run_id`` at steps ``step0 + epoch`` (epochs counted over
        all stages). The record is the last stage's (each stage's own under ``<stage>.`` when there
        are several), its selected epoch counted over all stages, its time over all stages; a
        method run's adds its fidelity to the teacher. With ``ckpt`` the state is checkpointed as it
        goes; ``state`` (a checkpoint) resumes an interrupted attempt inside any stage. ``reference``
        loads the teacher the fidelity is measured against when no stage learns from it (No-KD):
        called once training ends, it may wait for the teacher's job.
        """
        models: dict[str, nn.Module] = {"teacher": teacher} if teacher is not None else {}
        for role, key in run.needs.items():
            models[role] = self.shared_models[key]
        done: list[dict[str, Any]] = state["done"] if state else []
        attempts = (state["attempts"] if state else []) + [attempt_record(state)]
        self.logged = set()
        if state:  # epochs the dead attempt checkpointed but may not have logged
            self.logged = self.tracker.log_history(run_id, logged_history(state), step0)  # and past it
        if ckpt is not None:  # every attempt is on record, even one that dies before its first epoch
            ckpt.save((state or checkpoint_state(0, [], {}, None, run_id, [])) | {"attempts": attempts})
        history: list[dict[str, float]] = []
        extra: dict[str, float] = {}
        result: StageResult | None = None
        seconds, offset = 0.0, 0  # over all stages; epochs before the last stage
        for i, stage in enumerate(run.stages):
            here = state is not None and state["stage"] == i  # the stage the dead attempt stopped in
            resume = state["current"] if here else None
            if i < len(done):  # finished by an earlier attempt
                result, counts = done[i]["result"], done[i]["counts"]
            else:
                if stage.init == "previous" and stage.trains in models:
                    model = models[stage.trains]
                else:
                    model = init_model(self.cfg, stage.trains, run.seed, self.task, self.rt)
                    if here and resume is None and stage.init == "previous":  # the previous stage's end
                        model.load_state_dict(state["models"][stage.trains])
                        set_rng_state(state["rng"])  # as the uninterrupted run left it between stages

                def on_state(epochs: int, build, i=i, stage=stage, done=done) -> None:
                    faults.point(f"{run.name} {stage.name} epoch {epochs - 1}")
                    if ckpt is not None and ckpt.due():
                        ckpt.save(checkpoint_state(i, done, {}, build(), run_id, attempts))
                        faults.point(f"{run.name} {stage.name} checkpointed epoch {epochs - 1}")

                source = models.get(stage.teacher) if stage.teacher else None
                desc = f"{run.name} {stage.name}" if run.kind == "method" else run.name
                result, counts = self._train_tracked(
                    run_id, i, stage, model, source, run.seed, step0 + len(history), desc, resume, on_state
                )
                models[stage.trains] = model
                done = done + [{"result": dataclasses.replace(result, best_state={}), "counts": counts}]
                if ckpt is not None:
                    ckpt.save(checkpoint_state(i + 1, done, {stage.trains: snapshot(model)}, None, run_id, attempts))
            for k, v in counts.items():
                extra[k] = extra.get(k, 0.0) + v
            seconds, offset = seconds + result.seconds, len(history)
            history += [r | {"phase": i + 1} for r in result.history]
            if len(run.stages) > 1:
                extra |= {f"{stage.name}.{k}": v for k, v in result.metrics().items()}
        last = run.stages[-1].trains
        if last not in models:  # every stage finished before this attempt: the checkpoint holds the model
            models[last] = init_model(self.cfg, last, run.seed, self.task, self.rt)
            models[last].load_state_dict(state["models"][last])
        assert result is not None
        model = models[last]
        if teacher is None and reference is not None:
            teacher = reference()
        if teacher is not None and run.kind == "method":  # how closely the selected student matches the teacher
            o = self.cfg.optim
            extra |= student_fidelity(
                model, teacher, self.cfg.teacher, self.task, self.rt, self.cache, o.eval_batch_size
            )
        whole = {"best_epoch": float(offset + result.best_epoch), "train_seconds": seconds}
        return result.metrics() | extra | whole, history, model, attempts
