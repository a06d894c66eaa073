"""Executes a plan: trains or loads the teacher and shared models, runs every method x seed,
tracks everything in MLflow, and writes the summary table.

Flow: config -> data -> plan (akd.plan) -> runs (akd.engine) -> tracking (akd.tracking)
-> summary (akd.results).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from akd.cache import LogitCache, default_cache_dir
from akd.config import BenchConfig, flatten
from akd.engine import StageResult, evaluate, predict, stage_metrics, train_stage
from akd.errors import AkdError
from akd.fidelity import student_fidelity
from akd.hashing import atomic_write, derive_seed
from akd.plan import Run, build_plan, estimate_seconds, format_plan
from akd.provenance import provenance
from akd.results import other_data_label, summarize, to_markdown, write_summary
from akd.runtime import Runtime, setup_runtime
from akd.store import ModelStore, check_fits, load_checkpoint
from akd.task_table import tasks_markdown, write_tasks_summary
from akd.tasks.base import Task, load_task
from akd.teacher import COUNTER_SUFFIXES, FrozenLogits, forward_totals, freeze
from akd.tracking import Tracker
from akd.validation import ensure_writable

CLAIM_POLL_S = 5.0  # how often a machine waiting for another's teacher looks again


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


class BenchmarkRunner:
    def __init__(
        self,
        cfg: BenchConfig,
        tracker: Tracker | Callable[[], Tracker] | None,
        store: ModelStore,
        results_dir: Path | None,
        log=print,
        command: str = "",
    ) -> None:
        self.cfg, self.tracker, self.store, self.results_dir, self.log = cfg, tracker, store, results_dir, log
        self.command = command
        self.rows: list[dict[str, Any]] = []
        self.curves: list[dict[str, Any]] = []  # one row per run x epoch (step counted over all stages)
        self.shared_models: dict[str, nn.Module] = {}
        # called after every epoch of every stage with (MLflow step, the epoch's record); a sweep's
        # pruner subscribes here (it may raise to stop the run)
        self.epoch_observers: list[Callable[[int, dict[str, float]], None]] = []
        self.track_reuse = True  # a stored teacher or TA loaded gets a run of its own (False: silently)

    # ------------------------------------------------------------------ entry point
    def run(self, dry_run: bool = False) -> list[dict[str, Any]]:
        """Check everything that can be checked, print the plan, then (unless ``dry_run``) run it.

        Settings were validated when the config was loaded; here the data are read and sized, the
        results folder is chosen (a folder made from other data is never overwritten) and every
        output folder is probed for writing, all before the tracker opens a run or a model trains.
        """
        cfg = self.cfg
        rt = runtime_for(cfg)
        task = load_task(cfg, rt.device)
        if self.results_dir is not None:
            label = other_data_label(cfg, task, self.results_dir)
            if label:
                taken = cfg.results_folder(self.results_dir)
                cfg.label = label
                self.log(f"{taken} holds results on other data; writing to {cfg.results_folder(self.results_dir)}")
        runs = build_plan(cfg, task, self.store)
        self.log(format_plan(cfg, runs, estimate_seconds(cfg, runs, task, rt), task))
        self._preflight(runs, task)
        if dry_run:
            return []
        self.open(rt, task)
        started = time.perf_counter()
        self.parent = self.tracker.start(
            f"{cfg.benchmark}/{cfg.variant}", {**self.base_tags, "kind": "benchmark"}, flatten(cfg.to_dict())
        )
        self.tracker.log_json(self.parent, cfg.to_dict(), "config.json")
        ok = False
        try:
            teacher: nn.Module | None = None
            for run in runs:  # the plan puts the teacher first and each shared run before its users
                if run.kind == "teacher":
                    teacher = self._stored_or_train(run, None)
                elif run.kind == "shared":
                    source = teacher if run.stages[0].teacher == "teacher" else None
                    self.shared_models[run.key] = self._stored_or_train(run, source)
                else:
                    self._method(run, teacher)
            wall = time.perf_counter() - started
            table = summarize(self.rows, cfg, task)
            # on screen even if the disk is full
            self.log(to_markdown(table, self.rows, cfg, wall, self.base_tags, task))
            if self.results_dir is not None:
                paths = write_summary(table, cfg, self.rows, wall, self.base_tags, self.results_dir, task, self.curves)
                for path in paths:
                    self.tracker.log_file(self.parent, path)
                self.log(f"Summary written to {paths[1]}")
            self.tracker.log_metrics(self.parent, {"wall_seconds": wall, **forward_totals(self.rows)})
            ok = True
        finally:
            self.tracker.end(self.parent, ok)
        return self.rows

    def open(self, rt: Runtime, task: Task) -> None:
        """Open the tracker and hold what every run of this process shares: machine, data, cache, tags."""
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
            **provenance(rt.device),
        }

    def _preflight(self, runs: list[Run], task: Task) -> None:
        """User checkpoints must load and fit; every output folder must be writable."""
        cfg = self.cfg
        for role in ("teacher", "ta"):
            path = cfg.checkpoint(role)
            first_use = [r for r in runs if r.kind != "method" and r.stages[0].trains == role]
            if path and any(not self.store.has(r.key) for r in first_use):  # later: the checked copy is stored
                check_fits(load_checkpoint(Path(path)), task.build_model(cfg.arch(role)), path)
        if cfg.submission and not task.submission_files:
            raise AkdError(f"--glue-submission: {task.name} has no unlabelled test split to predict (GLUE tasks do)")
        if self.results_dir is not None:
            ensure_writable(cfg.results_folder(self.results_dir), "results folder")
        if any(run.kind != "method" for run in runs):
            ensure_writable(self.store.root, "model store")
        if cfg.cache.enabled and any(st.teacher for run in runs for st in run.stages):
            ensure_writable(cfg.cache.dir or default_cache_dir(), "teacher-output cache")

    # ------------------------------------------------------------------ runs
    def _child(self, run: Run, extra_tags: dict[str, str], run_id: str | None = None) -> str:
        """Start ``run``'s nested MLflow run (or fill in ``run_id``, one claimed already) with its config."""
        params = flatten(self.cfg.to_dict()) | {"seed": run.seed}
        if run_id is None:
            tags = {**self.base_tags, **run_tags(run), **extra_tags}
            run_id = self.tracker.start(run.name, tags, params, parent=self.parent)
        else:
            self.tracker.log_params(run_id, params)
        self.tracker.log_json(run_id, self.cfg.to_dict(), "config.json")
        return run_id

    def _load_stored(self, run: Run) -> tuple[nn.Module, dict[str, Any]]:
        """The model stored under ``run.key``, checked and placed, and its stored metadata."""
        model = self.task.build_model(self.cfg.arch(run.stages[0].trains))
        state, meta = self.store.load(run.key)
        model.load_state_dict(check_fits(state, model, str(self.store.entry(run.key))))
        return self.rt.place(model), meta

    def _train_tracked(
        self, run_id: str, stage_index: int, stage, model, teacher, seed: int, step0: int, desc: str
    ) -> tuple[StageResult, dict[str, float]]:
        """Train one stage; returns its result and the teacher-forward counts of its source."""

        def on_epoch(record: dict[str, float]) -> None:
            metrics = {k: v for k, v in record.items() if k != "epoch"} | {"phase": stage_index + 1}
            step = step0 + int(record["epoch"])
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
        result = train_stage(stage, model, source, self.task, o, seed, self.rt, on_epoch, desc)
        return result, source.counts() if source is not None else {}

    def _finish(self, run_id: str, run: Run, res: dict[str, float], history: list, role: str) -> None:
        self.tracker.log_metrics(run_id, res)
        if history:
            self.tracker.log_json(run_id, history, "history.json")
        self.tracker.end(run_id, True)
        self.rows.append({"run": role, "seed": run.seed, **res})
        self.curves += [{"run": role, "seed": run.seed, "step": i, **r} for i, r in enumerate(history)]
        m = self.task.selection_metric
        self.log(f"{run.name}: test {m} {res[f'test_{m}']:.2f} (best val epoch), {res[f'test_{m}_last']:.2f} (last)")

    def _stored_or_train(self, run: Run, teacher: nn.Module | None) -> nn.Module:
        """Load ``run`` (a user checkpoint or the store), or train and store it; one tracked child run.

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
            more = {**self.base_tags, **run_tags(run), "role": run.stages[0].trains}
            run_id, won = self.tracker.claim(run.name, tags, more, parent=self.parent, statuses=("RUNNING",))
            if won:
                return False, run_id
            self.log(f"{run.name}: another machine is training it (MLflow run {run_id}); waiting")
            while self.tracker.status(run_id) == "RUNNING":
                time.sleep(CLAIM_POLL_S)

    def _load_or_train(self, run: Run, teacher: nn.Module | None, stored: bool, run_id: str | None = None) -> nn.Module:
        cfg, stage = self.cfg, run.stages[0]
        role = stage.trains
        checkpoint = cfg.checkpoint(role)
        if stored and not self.track_reuse:  # a sweep's trials reuse it silently
            return self._load_stored(run)[0]
        trained = str(not (stored or checkpoint)).lower()
        run_id = self._child(run, {"role": role, "store_key": run.key, "trained": trained}, run_id)
        with self.tracker.failing(run_id):
            if stored:  # trained before, or a user checkpoint already checked and evaluated
                model, meta = self._load_stored(run)
                # its teacher-forward counters belong to the invocation that trained it
                res = {k: v for k, v in meta["results"].items() if not k.endswith(COUNTER_SUFFIXES)}
                history = []
                self.log(f"{run.name}: reusing stored {role} {run.key}")
            elif checkpoint:  # first use: check and evaluate it, and keep it with its accuracies in the store
                model = self.task.build_model(cfg.arch(role))
                state = check_fits(load_checkpoint(Path(checkpoint)), model, checkpoint)
                model.load_state_dict(state)
                self.rt.place(model)
                test, val = (evaluate(model, self.task, s, cfg.optim.eval_batch_size, self.rt) for s in ("test", "val"))
                res = stage_metrics(test=test, test_last=test, val_best=val, val_last=val)
                history = []
                self.store.save(run.key, state, {"recipe": run.recipe, "results": res, "tags": self.base_tags})
            else:
                model = init_model(cfg, role, run.seed, self.task, self.rt)
                result, counts = self._train_tracked(run_id, 0, stage, model, teacher, run.seed, 0, run.name)
                res, history = result.metrics() | counts, result.history
                meta = {"recipe": run.recipe, "results": res, "tags": self.base_tags}
                entry = self.store.save(run.key, result.best_state, meta)
                if self.tracker.shares_models:
                    self.tracker.publish_model(run_id, entry)
        self._finish(run_id, run, res, history, role)
        return model

    def _method(self, run: Run, teacher: nn.Module | None) -> None:
        run_id = self._child(run, {})
        with self.tracker.failing(run_id):
            record, history, model = self.train_method(run, teacher, run_id)
        self._finish(run_id, run, record, history, run.method)
        if self.cfg.submission:
            self._write_submission(run, model)

    def train_method(
        self, run: Run, teacher: nn.Module | None, run_id: str, step0: int = 0
    ) -> tuple[dict[str, float], list[dict[str, float]], nn.Module]:
        """Train every stage of a method run; returns its flat record, its history and the student.

        Per-epoch metrics go to MLflow run ``run_id`` at steps ``step0 + epoch`` (epochs counted over
        all stages). The record is the last stage's (each stage's own under ``<stage>.`` when there
        are several), its selected epoch counted over all stages, its time over all stages.
        """
        models: dict[str, nn.Module] = {"teacher": teacher} if teacher is not None else {}
        for role, key in run.needs.items():
            models[role] = self.shared_models[key]
        history: list[dict[str, float]] = []
        extra: dict[str, float] = {}
        result: StageResult | None = None
        seconds, offset = 0.0, 0  # over all stages; epochs before the last stage
        for i, stage in enumerate(run.stages):
            if stage.init == "previous":
                model = models[stage.trains]
            else:
                model = init_model(self.cfg, stage.trains, run.seed, self.task, self.rt)
            source = models.get(stage.teacher) if stage.teacher else None
            result, counts = self._train_tracked(
                run_id, i, stage, model, source, run.seed, step0 + len(history), f"{run.name} {stage.name}"
            )
            for k, v in counts.items():
                extra[k] = extra.get(k, 0.0) + v
            seconds, offset = seconds + result.seconds, len(history)
            history += [r | {"phase": i + 1} for r in result.history]
            models[stage.trains] = model
            if len(run.stages) > 1:
                extra |= {f"{stage.name}.{k}": v for k, v in result.metrics().items()}
        assert result is not None
        if teacher is not None:  # how closely the student (its selected checkpoint) matches the teacher
            o = self.cfg.optim
            extra |= student_fidelity(
                model, teacher, self.cfg.teacher, self.task, self.rt, self.cache, o.eval_batch_size
            )
        whole = {"best_epoch": float(offset + result.best_epoch), "train_seconds": seconds}
        return result.metrics() | extra | whole, history, model

    def _write_submission(self, run: Run, model: nn.Module) -> None:
        """The GLUE server's prediction files of this method and seed's student, beside the summary."""
        root = self.results_dir if self.results_dir is not None else Path("results")
        folder = self.cfg.results_folder(root) / "submission" / f"{run.method}-seed{run.seed}"
        for split, file in self.task.submission_files.items():
            outputs, _ = predict(model, self.task, split, self.cfg.optim.eval_batch_size, self.rt)
            atomic_write(folder / file, self.task.submission_text(split, outputs))
        self.log(f"{run.name}: GLUE server files written to {folder}")


def run_benchmark(
    cfg: BenchConfig,
    tracker: Tracker | None,
    store: ModelStore,
    results_dir: Path | None,
    dry_run: bool = False,
    log=print,
    command: str = "",
) -> list[dict[str, Any]]:
    """Run (or with ``dry_run`` only plan) a benchmark; ``tracker`` may be None for a dry run.

    A benchmark with ``tasks`` runs each task in turn (its own teacher, plan, MLflow parent run and
    summary in ``<variant>/<task>/``), then writes the table across tasks in ``<variant>/``.
    """
    if not cfg.tasks:
        return BenchmarkRunner(cfg, tracker, store, results_dir, log, command).run(dry_run)
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    for task in cfg.tasks:
        one = copy.deepcopy(cfg)
        one.data.dataset = task
        runner = BenchmarkRunner(one, tracker, store, results_dir, log, command)
        rows += [r | {"task": task, "metric": runner.reported_metric} for r in runner.run(dry_run)]
        tracker = runner.tracker  # opened once, shared by the tasks
    if rows:
        text = tasks_markdown(rows, cfg, time.perf_counter() - started, command)
        log(text)
        if results_dir is not None:
            log(f"Summary across tasks written to {write_tasks_summary(rows, cfg, text, results_dir)}")
    return rows
