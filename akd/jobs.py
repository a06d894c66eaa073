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

import copy
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from akd import faults
from akd.cache import LogitCache, default_cache_dir
from akd.checkpoint import Checkpointer, attempt_record, checkpoint_state, logged_history, set_rng_state
from akd.config import BenchConfig
from akd.engine import StageJob, StageResult, evaluate, snapshot, stage_metrics, train_stage
from akd.errors import AkdError, redact_urls
from akd.fidelity import student_fidelity
from akd.hashing import derive_seed
from akd.job_tracking import fetch_or_claim, finish, open_run, record_reuse
from akd.plan import Run
from akd.provenance import provenance
from akd.runtime import Runtime, setup_runtime
from akd.store import ModelStore, check_fits, load_checkpoint
from akd.tasks.base import Task, teacher_task
from akd.teacher import FrozenLogits, freeze
from akd.tracking import Tracker

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


@dataclass
class Job:
    """One job being trained in this process: what it is and the state of this attempt.

    ``observers`` are called after every epoch of every stage with (MLflow step, the epoch's
    record); a sweep's pruner subscribes here (it may raise to stop the job). ``logged``: the MLflow
    steps the job's run already holds from a dead attempt (epochs redone are not logged twice).
    """

    run: Run
    run_id: str
    step0: int = 0  # the MLflow step of the job's first epoch (a trial's later seeds start after the earlier)
    ckpt: Checkpointer | None = None
    state: dict[str, Any] | None = None  # the checkpoint this attempt resumes from
    observers: list[Callable[[int, dict[str, float]], None]] = field(default_factory=list)
    logged: set[int] = field(default_factory=set)


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
        self.track_reuse = True  # a stored teacher or TA loaded gets a run of its own (False: silently)

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
            "command": redact_urls(self.command),  # a storage or tracking URL's password not in a tag
            "data_folder": task.source,
            "data_fingerprint": task.fingerprint,
            "metric": task.report_metric,
            "store": str(self.store.root.resolve()),
            **provenance(rt.device, cfg.deterministic),
        }

    def for_config(self, cfg: BenchConfig) -> JobRunner:
        """A runner for jobs of another config (a sweep trial's settings) sharing this one's process state:
        tracker, store, data, cache, tags and parent run; its own frozen-model tables."""
        other = copy.copy(self)
        other.cfg, other.models, other.shared_models = cfg, {}, {}
        return other

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
            self.models[run.key] = self.stored_or_train(run, teacher)
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

    # ------------------------------------------------------------------ teacher and TA
    def stored_or_train(self, run: Run, teacher: nn.Module | None) -> nn.Module:
        """Load ``run`` (a user checkpoint or the store), or train and store it.

        Holds the entry's store lock throughout, so a second process needing the same model waits
        and then loads it instead of training it again. With a tracking server shared by machines
        that do not share a store, the model is fetched from the server's artifacts, or this
        process claims its training there while the others wait for it.
        """
        with self.store.locked(run.key, self.log) as stored:
            run_id = None
            if not stored and self.tracker.shares_models and not self.cfg.checkpoint(run.stages[0].trains):
                stored, run_id = fetch_or_claim(self, run)
            return freeze(self._load_or_train(run, teacher, stored, run_id))

    def _load_or_train(self, run: Run, teacher: nn.Module | None, stored: bool, run_id: str | None) -> nn.Module:
        cfg, role = self.cfg, run.stages[0].trains
        checkpoint = cfg.checkpoint(role)
        if stored:
            if self.track_reuse:
                record_reuse(self, run)
            self.log(f"{run.name}: reusing stored {role} {run.key}")
            self.models.pop(run.key, None)
            return self.upstream(run.key, role)
        if checkpoint:  # first use: check and evaluate it, and keep it with its accuracies in the store
            run_id = open_run(self, run, {"role": role, "store_key": run.key, "trained": "false"}, run_id, None)
            with self.tracker.failing(run_id):
                model = self.task.build_model(cfg.arch(role))
                state = check_fits(load_checkpoint(Path(checkpoint)), model, checkpoint)
                model.load_state_dict(state)
                self.rt.place(model)
                test, val = (evaluate(model, self.task, s, cfg.optim.eval_batch_size, self.rt) for s in ("test", "val"))
                res = stage_metrics(test=test, test_last=test, val_best=val, val_last=val)
                meta = {"recipe": run.recipe, "results": res, "history": [], "tags": self.job_tags}
                self.store.save(run.key, state, meta | {"run_id": run_id, "parent": self.parent})
            finish(self, run_id, run, res, [], self.task.selection_metric)
            return model
        return self._train_and_store(run, teacher, {"role": role, "store_key": run.key, "trained": "true"}, run_id)

    # ------------------------------------------------------------------ method x seed
    def _method(self, run: Run) -> None:
        with self.store.locked(run.key, self.log) as stored:
            if stored:
                record_reuse(self, run)
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
        job = Job(run, open_run(self, run, tags, run_id, state), ckpt=ckpt, state=state)
        with self.tracker.failing(job.run_id):
            record, history, model, attempts = self.train_method(job, teacher, reference)
            meta = {"recipe": run.recipe, "results": record, "history": history, "tags": self.job_tags}
            meta |= {"run_id": job.run_id, "parent": self.parent, "attempts": attempts}
            entry = self.store.save(run.key, snapshot(model), meta)
            if self.tracker.shares_models and run.kind != "method":
                self.tracker.publish_model(job.run_id, entry)
        finish(self, job.run_id, run, record, history, self.task.selection_metric)
        ckpt.clear()
        return model

    def _train_tracked(self, job: Job, index: int, stage, model, teacher, step0: int, resume=None, on_state=None):  # noqa: ANN001
        """Train stage ``index`` of ``job``, its epochs logged from MLflow step ``step0``; returns its
        result and the teacher-forward counts of its source."""

        def on_epoch(record: dict[str, float]) -> None:
            metrics = {k: v for k, v in record.items() if k != "epoch"} | {"phase": index + 1}
            step = step0 + int(record["epoch"])
            if step not in job.logged:  # an epoch redone after its last checkpoint: logged by the dead attempt
                self.tracker.log_metrics(job.run_id, metrics, step=step)
            for observe in job.observers:
                observe(step, metrics)

        cfg, o = self.cfg, self.cfg.optim_for(stage.trains)
        source = None
        if teacher is not None:
            role = stage.teacher
            source = FrozenLogits(
                teacher,
                role,
                cfg.arch(role),
                self.task,
                job.run.seed,
                o.batch_size,
                self.rt,
                self.cache,
                o.eval_batch_size,
            )
        desc = f"{job.run.name} {stage.name}" if job.run.kind == "method" else job.run.name
        data = teacher_task(cfg, self.task) if job.run.kind == "teacher" else self.task  # its own samples
        work = StageJob(stage, model, source, data, o, job.run.seed, self.rt, on_epoch, desc, resume, on_state)
        result = train_stage(work)
        return result, source.counts() if source is not None else {}

    def train_method(
        self, job: Job, teacher: nn.Module | None, reference: Callable[[], nn.Module] | None = None
    ) -> tuple[dict[str, float], list[dict[str, float]], nn.Module, list[dict[str, Any]]]:
        """Train every stage of a job; returns its flat record, history, model and attempts.

        Per-epoch metrics go to the job's MLflow run at steps ``job.step0 + epoch`` (epochs counted
        over all stages). The record is the last stage's (each stage's own under ``<stage>.`` when
        there are several), its selected epoch counted over all stages, its time over all stages; a
        method run's adds its fidelity to the teacher. With ``job.ckpt`` the state is checkpointed
        as it goes; ``job.state`` (a checkpoint) resumes an interrupted attempt inside any stage.
        ``reference`` loads the teacher the fidelity is measured against when no stage learns from
        it (No-KD): called once training ends, it may wait for the teacher's job.
        """
        run, run_id, step0, ckpt, state = job.run, job.run_id, job.step0, job.ckpt, job.state
        models: dict[str, nn.Module] = {"teacher": teacher} if teacher is not None else {}
        for role, key in run.needs.items():
            models[role] = self.shared_models[key]
        done: list[dict[str, Any]] = state["done"] if state else []
        attempts = (state["attempts"] if state else []) + [attempt_record(state)]
        if state:  # epochs the dead attempt checkpointed but may not have logged
            job.logged = self.tracker.log_history(run_id, logged_history(state), step0)  # and past it
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
                result, counts = self._train_tracked(
                    job, i, stage, model, source, step0 + len(history), resume, on_state
                )
                models[stage.trains] = model
                kept = dataclasses.replace(result, best_state={}, test_outputs=None)  # checkpointed: no tensors
                done = done + [{"result": kept, "counts": counts}]
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
                model, teacher, self.cfg.teacher, self.task, self.rt, self.cache, o.eval_batch_size, result.test_outputs
            )
        whole = {"best_epoch": float(offset + result.best_epoch), "train_seconds": seconds}
        return result.metrics() | extra | whole, history, model, attempts
