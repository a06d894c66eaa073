"""Executes a plan: every job (teacher, shared TAs, method x seed) through an executor, then the
summary table from the jobs' stored results.

Flow: config -> data -> plan (akd.plan) -> jobs (akd.jobs, run by akd.executors) -> tracking
(akd.tracking) -> summary (akd.results). One MLflow parent run per distinct command (its jobs),
continued by a re-run; runs left RUNNING by a process that died are marked KILLED first.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from akd.cache import default_cache_dir
from akd.config import BenchConfig
from akd.engine import predict
from akd.errors import AkdError
from akd.executors import Executor, InProcess
from akd.hashing import atomic_write, content_key
from akd.job_tracking import role_of, run_tags
from akd.jobs import JobRunner, cache_for, init_model, runtime_for
from akd.plan import Run, build_plan, estimate_seconds, format_plan
from akd.results import other_data_label, summarize, to_markdown, write_summary
from akd.settings import flatten
from akd.store import ModelStore, check_fits, load_checkpoint
from akd.task_table import tasks_markdown, write_tasks_summary
from akd.tasks.base import Task, load_task
from akd.teacher import forward_totals
from akd.tracking import Tracker
from akd.validation import ensure_writable

__all__ = ["BenchmarkRunner", "cache_for", "init_model", "run_benchmark", "run_tags", "runtime_for"]


class BenchmarkRunner(JobRunner):
    """Runs a whole plan: every job through an executor (akd.executors), then the summary from the
    jobs' stored results, so a re-run, an added seed or a resumed invocation gives the same files."""

    def __init__(
        self,
        cfg: BenchConfig,
        tracker: Tracker | Callable[[], Tracker] | None,
        store: ModelStore,
        results_dir: Path | None,
        log=print,
        command: str = "",
        executor: Executor | None = None,
    ) -> None:
        super().__init__(cfg, tracker, store, log, command)
        self.results_dir, self.executor = results_dir, executor or InProcess()
        self.rows: list[dict[str, Any]] = []
        self.curves: list[dict[str, Any]] = []  # one row per run x epoch (step counted over all stages)

    # ------------------------------------------------------------------ entry point
    def run(self, dry_run: bool = False) -> list[dict[str, Any]]:
        """Check everything that can be checked, print the plan, then (unless ``dry_run``) run it.

        Settings were validated when the config was loaded; here the data are read and sized, the
        results folder is chosen (a folder made from other data is never overwritten) and every
        output folder is probed for writing, all before the tracker opens a run or a model trains.
        """
        self.executor.check()  # Slurm's commands, the pool's size: before the data are read
        if dry_run:
            return self._run(dry_run)
        self.executor.start(self.cfg)
        try:
            return self._run(dry_run)
        finally:
            self.executor.close()

    def _run(self, dry_run: bool) -> list[dict[str, Any]]:
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
        seconds = estimate_seconds(cfg, runs, task, rt)
        for run in runs:
            run.seconds = seconds[run.name]  # executors start the longest chains of jobs first
        self.log(format_plan(cfg, runs, seconds, task))
        self._preflight(runs, task)
        if dry_run:
            return []
        jobs = [r.key for r in runs]
        invocation = content_key({"benchmark": cfg.benchmark, "variant": cfg.variant, "jobs": jobs}, 20)
        with self.store.locked(f"invocation-{invocation}", self.log):  # the same command twice: one runs
            self.open(rt, task)
            self._reap()
            self.parent = self._parent(invocation)
            started = time.perf_counter()
            ok = False
            try:
                self.executor.run(self, runs)
                self._collect(runs)
                wall = time.perf_counter() - started
                table = summarize(self.rows, cfg, task)
                # on screen even if the disk is full
                planned = sum(seconds.values())  # the runs this invocation trains, as the plan printed
                self.log(to_markdown(table, self.rows, cfg, wall, self.summary_tags, task, estimated_seconds=planned))
                if self.results_dir is not None:
                    tags, where = self.summary_tags, self.results_dir
                    paths = write_summary(
                        table, cfg, self.rows, wall, tags, where, task, self.curves, estimated_seconds=planned
                    )
                    for path in paths:
                        self.tracker.log_file(self.parent, path)
                    self.log(f"Summary written to {paths[1]}")
                if cfg.submission:
                    for run in runs:
                        if run.kind == "method":
                            self._write_submission(run)
                times = {"wall_seconds": wall, "estimated_seconds": planned}
                self.tracker.log_metrics(self.parent, times | forward_totals(self.trained_here))
                ok = True
            finally:
                self.tracker.end(self.parent, ok)
        return self.rows

    def _parent(self, invocation: str) -> str:
        """The invocation's MLflow parent run: one per distinct command (its jobs), continued by a
        re-run whether the earlier attempt finished, failed or was killed."""
        any_state = ("RUNNING", "FINISHED", "FAILED", "KILLED")
        found = self.tracker.find({"invocation": invocation, "kind": "benchmark"}, any_state)
        if found:
            parent = found[-1].info.run_id
            self.tracker.reopen(parent)
            self.log(f"continuing this command's MLflow run {parent}")
            return parent
        tags = {**self.base_tags, "kind": "benchmark", "invocation": invocation}
        parent = self.tracker.start(f"{self.cfg.benchmark}/{self.cfg.variant}", tags, flatten(self.cfg.to_dict()))
        self.tracker.log_json(parent, self.cfg.to_dict(), "config.json")
        return parent

    def _reap(self) -> None:
        """Mark KILLED the RUNNING runs of this store whose process died (their lock is free): a
        SIGKILL, a lost node or a power cut leaves no chance to mark them then."""
        for run in self.tracker.find({"store": self.base_tags["store"]}, ("RUNNING",)):
            tags = run.data.tags
            if self.tracker.shares_models and tags.get("host") != self.base_tags["host"]:
                continue  # on a machine that may not share this store's locks
            lock = tags.get("job_key") or (f"invocation-{tags['invocation']}" if "invocation" in tags else None)
            if lock and not self.store.busy(lock):
                self.tracker.set_tag(run.info.run_id, "died", "true")
                self.tracker.end(run.info.run_id, status="KILLED")
                self.log(f"{run.info.run_name}: MLflow run {run.info.run_id} was left by a dead process; marked KILLED")

    def _collect(self, runs: list[Run]) -> None:
        """Rows and curves from the stored results of every job, in plan order."""
        self.rows, self.curves, self.trained_here = [], [], []
        threads: set[str] = set()
        for run in runs:
            meta = self.store.meta(run.key)
            threads.add(meta.get("tags", {}).get("host.cpu_threads", self.base_tags["host.cpu_threads"]))
            row = {"run": role_of(run), "seed": run.seed, **meta["results"]}
            self.rows.append(row)
            if meta.get("parent") == self.parent:
                self.trained_here.append(row)
            history = meta.get("history", [])
            self.curves += [{"run": row["run"], "seed": run.seed, "step": i, **r} for i, r in enumerate(history)]
        # the summary's hardware line: the threads the jobs trained with (a pool's workers: fewer)
        self.summary_tags = {**self.base_tags, "host.cpu_threads": " and ".join(sorted(threads, key=int))}

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
        ensure_writable(self.store.root, "model store")
        if cfg.cache.enabled and any(st.teacher for run in runs for st in run.stages):
            ensure_writable(cfg.cache.dir or default_cache_dir(), "teacher-output cache")

    def _write_submission(self, run: Run) -> None:
        """The GLUE server's prediction files of this method and seed's student, beside the summary."""
        model = self.task.build_model(self.cfg.arch(run.stages[-1].trains))
        model.load_state_dict(self.store.load(run.key)[0])
        self.rt.place(model)
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
    executor: Executor | None = None,
) -> list[dict[str, Any]]:
    """Run (or with ``dry_run`` only plan) a benchmark; ``tracker`` may be None for a dry run.

    A benchmark with ``tasks`` runs each task in turn (its own teacher, plan, MLflow parent run and
    summary in ``<variant>/<task>/``), then writes the table across tasks in ``<variant>/``.
    """
    if not cfg.tasks:
        return BenchmarkRunner(cfg, tracker, store, results_dir, log, command, executor).run(dry_run)
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    for task in cfg.tasks:
        one = copy.deepcopy(cfg)
        one.data.dataset = task
        runner = BenchmarkRunner(one, tracker, store, results_dir, log, command, executor)
        rows += [r | {"task": task, "metric": runner.reported_metric} for r in runner.run(dry_run)]
        tracker = runner.tracker  # opened once, shared by the tasks
    if rows:
        text = tasks_markdown(rows, cfg, time.perf_counter() - started, command)
        log(text)
        if results_dir is not None:
            log(f"Summary across tasks written to {write_tasks_summary(rows, cfg, text, results_dir)}")
    return rows
