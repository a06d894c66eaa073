"""Where a plan's jobs run, behind one interface (``--executor``):

- ``inline`` (default): one after another in this process, models and data held in memory;
- ``pool``: N local worker processes (``--workers N``; one per GPU, or CPU threads split evenly),
  each job started as soon as the jobs it learns from are stored; while the workers start, this
  process trains the first job (the teacher) with the workers' thread count;
- ``slurm``: job arrays through submitit, one array per stage (teachers, TAs, students), each
  array waiting on the one before (``afterok``); a preempted or timed-out job is requeued and
  resumes from its checkpoint. ``submitit-local`` and ``submitit-debug`` run the same arrays as
  local processes or in this process (tests, and trying a setup before a cluster).

Every executor only makes jobs happen: a job's result is its store entry (akd.jobs), so the summary,
MLflow runs and files are the same whichever executor ran them. A worker process opens the data
once and runs many jobs; plug-ins are imported there by module name (``plugins``).
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from akd.errors import AkdError
from akd.plan import Run

if TYPE_CHECKING:
    from akd.jobs import JobRunner

EXECUTORS = ("inline", "pool", "slurm", "submitit-local", "submitit-debug")
PLUGINS = ("akd.catalog",)  # what a worker imports to know every method, model and dataset


@dataclass(frozen=True)
class JobSpec:
    """Everything a worker process needs to run jobs of one invocation."""

    cfg: Any  # BenchConfig
    store: str
    tracking_uri: str
    experiment: str
    parent: str | None
    command: str
    plugins: tuple[str, ...] = PLUGINS


def spec_of(runner: JobRunner, plugins: tuple[str, ...], threads: int | None = None) -> JobSpec:
    cfg = runner.cfg if threads is None else replace(runner.cfg, threads=threads)
    t = runner.tracker
    return JobSpec(cfg, str(runner.store.root.resolve()), t.uri, t.experiment, runner.parent, runner.command, plugins)


_WORKER: dict[str, Any] = {}  # per worker process: the runner of the spec it serves (data loaded once)


def worker_runner(spec: JobSpec, device: str | None = None) -> JobRunner:
    """This process's runner for ``spec``: plug-ins imported, tracker opened, data loaded, once."""
    from akd.jobs import JobRunner, runtime_for
    from akd.store import ModelStore
    from akd.tasks.base import load_task
    from akd.tracking import Tracker

    token = f"{spec.store}:{spec.parent}:{device}"
    if token not in _WORKER:
        for module in spec.plugins:
            importlib.import_module(module)
        cfg = spec.cfg if device is None else replace(spec.cfg, device=device)
        tracker = Tracker(spec.tracking_uri, spec.experiment)
        runner = JobRunner(cfg, tracker, ModelStore(spec.store), print, spec.command)
        rt = runtime_for(cfg)
        runner.open(rt, load_task(cfg, rt.device))
        runner.parent = spec.parent
        _WORKER.clear()
        _WORKER[token] = runner
    return _WORKER[token]


def run_in_worker(spec: JobSpec, name: str, device: str | None = None) -> None:
    """Run job ``name`` of ``spec``'s plan in this process (a pool worker or a cluster job)."""
    from akd.plan import build_plan

    runner = worker_runner(spec, device)
    plan = {r.name: r for r in build_plan(runner.cfg, runner.task, runner.store)}
    runner.run_job(plan[name])


class Executor:
    def run(self, runner: JobRunner, runs: list[Run]) -> None:
        raise NotImplementedError


class InProcess(Executor):
    """Every job in this process, in plan order (the teacher, then per seed its TA and methods)."""

    def run(self, runner: JobRunner, runs: list[Run]) -> None:
        for run in runs:
            runner.run_job(run)


def _finished_here(runner: JobRunner, runs: list[Run]) -> list[Run]:
    """Jobs already stored are only bookkept (MLflow), here; returns the others."""
    for run in runs:
        if run.stored:
            runner.run_job(run)
    return [r for r in runs if not r.stored]


_SLOT: dict[str, Any] = {}


def _init_pool_worker(counter: Any, devices: tuple[str, ...]) -> None:
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    _SLOT["device"] = devices[index % len(devices)] if devices else None


def _pool_job(spec: JobSpec, name: str) -> None:
    run_in_worker(spec, name, _SLOT.get("device"))


def _pool_warm(spec: JobSpec) -> None:
    worker_runner(spec, _SLOT.get("device"))


class LocalPool(Executor):
    """``workers`` processes on this machine. On GPUs one per device in ``devices`` (default: every
    visible GPU); on a CPU the cores are split evenly (``threads`` each, default cores // workers)."""

    def __init__(self, workers: int, devices: tuple[str, ...] = (), threads: int = 0, plugins=PLUGINS) -> None:
        if workers < 1:
            raise AkdError(f"--workers must be >= 1, got {workers}")
        self.workers, self.devices, self.threads, self.plugins = workers, tuple(devices), threads, tuple(plugins)

    def run(self, runner: JobRunner, runs: list[Run]) -> None:
        todo = _finished_here(runner, runs)
        if not todo:
            return
        devices = self.devices
        if not devices and runner.rt.device.type == "cuda":
            import torch

            devices = tuple(f"cuda:{i}" for i in range(torch.cuda.device_count()))
        threads = self.threads or (runner.cfg.threads if devices else max(1, (os.cpu_count() or 1) // self.workers))
        spec = spec_of(runner, self.plugins, threads)
        ctx = multiprocessing.get_context("spawn")  # no fork of a process holding torch threads and locks
        stored = {r.key for r in runs if r.stored}
        waiting = list(todo)
        counter = ctx.Value("i", 0)
        pool = ProcessPoolExecutor(self.workers, ctx, _init_pool_worker, (counter, devices))
        try:
            # every worker starts now (imports, data) while the first job (the teacher) runs here
            warming = [pool.submit(_pool_warm, spec) for _ in range(min(self.workers, len(todo)))]
            ready = [r for r in waiting if all(k in stored for k in r.upstream)]
            if ready and len(ready) < len(waiting):
                waiting.remove(ready[0])
                with _threads(threads if not devices else 0):  # as a worker would: the same numbers
                    runner.run_job(ready[0])
                stored.add(ready[0].key)
            running: dict = {}
            while waiting or running:
                for run in [r for r in waiting if all(k in stored for k in r.upstream)]:
                    waiting.remove(run)
                    running[pool.submit(_pool_job, spec, run.name)] = run
                if not running:
                    raise AkdError(f"jobs {[r.name for r in waiting]} wait on jobs that are not in the plan")
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    run = running.pop(future)
                    future.result()  # a job's error ends the benchmark (finished jobs stay stored)
                    stored.add(run.key)
                    runner.log(f"{run.name}: done (worker process)")
            for future in warming:
                future.result()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # running jobs end (or are killed with us)
            raise
        pool.shutdown(wait=False)  # idle workers exit on their own; the summary need not wait


@contextmanager
def _threads(n: int):
    """torch's CPU threads set to ``n`` for the block (0: left as they are)."""
    import torch

    if n <= 0:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class JobCall:
    """What a cluster job runs: one job of the plan; requeued after preemption or time-out, it
    resumes from the job's checkpoint (submitit calls ``checkpoint`` before requeueing)."""

    def __call__(self, spec: JobSpec, name: str) -> str:
        run_in_worker(spec, name)
        return name

    def checkpoint(self, spec: JobSpec, name: str):
        import submitit

        return submitit.helpers.DelayedSubmission(JobCall(), spec, name)


@dataclass
class SlurmOptions:
    partition: str = ""
    gpus: int = 0  # per job
    cpus: int = 0  # per job (0: Slurm's default)
    time_min: int = 24 * 60  # per job; a longer job is requeued and resumes from its checkpoint
    mem_gb: float = 0
    account: str = ""
    qos: str = ""
    max_parallel: int = 0  # array tasks running at once (0: no limit)


class Submitit(Executor):
    """Job arrays through submitit, one per stage of the plan. On Slurm each array depends on the one
    before (``afterok``) and everything is submitted at once; the local and debug clusters have no
    scheduler, so this process waits for an array before submitting the next."""

    def __init__(self, cluster: str, folder: Path, options: SlurmOptions | None = None, plugins=PLUGINS) -> None:
        self.cluster, self.folder, self.plugins = cluster, Path(folder), plugins
        self.options = options or SlurmOptions()
        self.job_ids: list[list[str]] = []  # per submitted array, its jobs' ids

    def _executor(self, runner: JobRunner):
        try:
            import submitit
        except ImportError:
            raise AkdError("--executor slurm needs submitit: pip install submitit") from None
        o = self.options
        ex = submitit.AutoExecutor(folder=str(self.folder), cluster=self.cluster)
        params: dict[str, Any] = {"timeout_min": o.time_min, "name": f"akd-{runner.cfg.benchmark}"}
        params |= {k: v for k, v in (("gpus_per_node", o.gpus), ("cpus_per_task", o.cpus), ("mem_gb", o.mem_gb)) if v}
        if self.cluster == "slurm":
            params |= {
                k: v
                for k, v in (
                    ("slurm_partition", o.partition),
                    ("slurm_account", o.account),
                    ("slurm_qos", o.qos),
                    ("slurm_array_parallelism", o.max_parallel),
                )
                if v
            }
            params["slurm_signal_delay_s"] = 120  # time to write a checkpoint before a time-out
        ex.update_parameters(**params)
        return ex

    def run(self, runner: JobRunner, runs: list[Run]) -> None:
        todo = _finished_here(runner, runs)
        stages = [[r for r in todo if r.kind == kind] for kind in ("teacher", "shared", "method")]
        ex = self._executor(runner)
        spec = spec_of(runner, self.plugins)
        before: list = []
        submitted: list = []
        for stage in (s for s in stages if s):
            if before and self.cluster == "slurm":
                ids = sorted({job.job_id.split("_")[0] for job in before})
                ex.update_parameters(slurm_additional_parameters={"dependency": "afterok:" + ":".join(ids)})
            else:
                _results(before)  # no scheduler: the next array starts when this one is done
            jobs = ex.map_array(JobCall(), [spec] * len(stage), [r.name for r in stage])
            self.job_ids.append([job.job_id for job in jobs])
            runner.log(f"submitted {len(jobs)} jobs ({', '.join(r.name for r in stage)}) as array {jobs[0].job_id}")
            before, submitted = jobs, submitted + jobs
        _results(submitted)


def _results(jobs: list) -> None:
    for job in jobs:
        try:
            job.result()
        except Exception as exc:  # submitit's FailedJobState carries the job's own error
            raise AkdError(f"cluster job {job.job_id} failed: {' '.join(str(exc).split())[-400:]}") from None
