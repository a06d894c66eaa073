"""Where a plan's jobs run, behind one interface (``--executor``):

- ``inline`` (default): one after another in this process, models and data held in memory;
- ``pool``: N local workers (``--workers N``: this process and N - 1 spawned ones; one per GPU, or
  CPU threads split evenly), each job started as soon as the jobs it learns from are stored, the
  longest chains first; the spawned workers start (imports, data) while this process plans;
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
import threading
from concurrent.futures import ProcessPoolExecutor
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


_WORKER: dict[str, Any] = {}  # per worker process: its data ("data") and its runner ("runner"), made once


def _loaded(cfg: Any, plugins: tuple[str, ...], device: str | None) -> tuple[Any, Any]:
    """This process's runtime and data for ``cfg`` on ``device``: plug-ins imported, data read, once."""
    from akd.hashing import content_key
    from akd.jobs import runtime_for
    from akd.tasks.base import load_task

    cfg = cfg if device is None else replace(cfg, device=device)
    token = content_key({**cfg.to_dict(), "label": ""}, 20)  # the results folder's name is not the data's
    if _WORKER.get("data", (None,))[0] != token:
        for module in plugins:
            importlib.import_module(module)
        _WORKER.clear()
        rt = runtime_for(cfg)
        _WORKER["data"] = (token, rt, load_task(cfg, rt.device))
        _first_step()
    return _WORKER["data"][1:]


def _first_step() -> None:
    """One optimiser step on a tensor of zeros: what a process pays once, on its first step, is paid
    here, before its first job (torch's optimisers import torch._dynamo, about 2 s on a slow CPU).
    It draws no random numbers."""
    import torch

    weight = torch.zeros(2, requires_grad=True)
    opt = torch.optim.SGD([weight], lr=0.1, momentum=0.9)
    (weight * torch.ones(2)).sum().backward()
    opt.step()


def worker_runner(spec: JobSpec, device: str | None = None) -> JobRunner:
    """This process's runner for ``spec``: plug-ins imported, data loaded, tracker opened, once."""
    from akd.jobs import JobRunner
    from akd.store import ModelStore
    from akd.tracking import Tracker

    rt, task = _loaded(spec.cfg, spec.plugins, device)
    token = f"{spec.store}:{spec.parent}:{device}"
    if _WORKER.get("runner", (None,))[0] != token:
        cfg = spec.cfg if device is None else replace(spec.cfg, device=device)
        tracker = Tracker(spec.tracking_uri, spec.experiment)
        runner = JobRunner(cfg, tracker, ModelStore(spec.store), print, spec.command)
        runner.open(rt, task)
        runner.parent = spec.parent
        _WORKER["runner"] = (token, runner)
    return _WORKER["runner"][1]


def run_in_worker(spec: JobSpec, job: Run | str, device: str | None = None) -> None:
    """Run ``job`` (a job of ``spec``'s plan, or its name) in this process (a pool worker or a
    cluster job). A name is looked up in the plan, built here."""
    from akd.plan import build_plan

    runner = worker_runner(spec, device)
    if isinstance(job, str):
        job = {r.name: r for r in build_plan(runner.cfg, runner.task, runner.store)}[job]
    runner.run_job(job)


class Executor:
    def start(self, cfg: Any) -> None:
        """Called before the data are read and the plan made (not for a dry run): a pool starts
        its workers here, so their start-up overlaps this process's."""

    def run(self, runner: JobRunner, runs: list[Run]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Called once the benchmark has ended, or failed, after ``start``."""


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


def _pool_job(spec: JobSpec, run: Run) -> None:
    run_in_worker(spec, run, _SLOT.get("device"))


def _pool_warm(cfg: Any, plugins: tuple[str, ...]) -> None:
    _loaded(cfg, plugins, _SLOT.get("device"))


def _pool_open(spec: JobSpec) -> None:
    worker_runner(spec, _SLOT.get("device"))


class LocalPool(Executor):
    """``workers`` at once on this machine: this process and ``workers - 1`` spawned ones, each job
    started as soon as the jobs it learns from are stored, the longest chains of jobs first. On
    GPUs one worker per device in ``devices`` (default: every visible GPU, this process on its own);
    on a CPU the cores are split evenly (``threads`` each, default cores // workers)."""

    def __init__(self, workers: int, devices: tuple[str, ...] = (), threads: int = 0, plugins=PLUGINS) -> None:
        if workers < 1:
            raise AkdError(f"--workers must be >= 1, got {workers}")
        self.workers, self.devices, self.threads, self.plugins = workers, tuple(devices), threads, tuple(plugins)
        self._pool: ProcessPoolExecutor | None = None
        self._threads_before = 0  # this process's torch threads before start (0: unchanged)

    def _layout(self, cfg: Any) -> tuple[tuple[str, ...], int]:
        """(the devices, this process's first, or () on a CPU; torch threads per worker)."""
        import torch

        from akd.runtime import resolve_device

        own, devices = resolve_device(cfg.device), self.devices
        if not devices and own.type == "cuda":
            devices = tuple(f"cuda:{i}" for i in range(torch.cuda.device_count()))
        if devices:
            own_name = str(own if own.index is not None else torch.device("cuda", torch.cuda.current_device()))
            devices = (own_name, *[d for d in devices if d != own_name])
        threads = self.threads or (cfg.threads if devices else max(1, (os.cpu_count() or 1) // self.workers))
        return devices, threads

    def start(self, cfg: Any) -> None:
        if self.workers < 2:
            return
        devices, threads = self._layout(cfg)
        if not devices:  # this process plans and probes with a worker's threads: no core oversubscribed
            import torch

            self._threads_before = torch.get_num_threads()
            torch.set_num_threads(threads)
        ctx = multiprocessing.get_context("spawn")  # no fork of a process holding torch threads and locks
        counter = ctx.Value("i", 1)  # worker 0 is this process
        self._pool = ProcessPoolExecutor(self.workers - 1, ctx, _init_pool_worker, (counter, devices))
        for _ in range(self.workers - 1):  # imports and data while this process reads and plans
            self._pool.submit(_pool_warm, replace(cfg, threads=threads), self.plugins)

    def run(self, runner: JobRunner, runs: list[Run]) -> None:
        todo = _finished_here(runner, runs)
        if not todo:
            return
        devices, threads = self._layout(runner.cfg)
        if self.workers > 1 and self._pool is None:
            self.start(runner.cfg)
        spec = spec_of(runner, self.plugins, threads)
        for _ in range(self.workers - 1):  # trackers opened while this process trains the first job
            self._pool.submit(_pool_open, spec)
        queue = _Queue(todo, {r.key for r in runs if r.stored}, _critical_path(runs))
        run = queue.take(raising=True)  # the first (the teacher) here: its data and tracker are ready
        feeders = [threading.Thread(target=self._feed, args=(queue, spec, runner.log)) for _ in range(self.workers - 1)]
        for feeder in feeders:
            feeder.start()
        try:
            with _threads(0 if devices else threads):  # as a worker would: the same numbers
                while run is not None:
                    runner.run_job(run)
                    queue.done(run)
                    run = queue.take(raising=True)
        except BaseException:
            queue.stop()
            self.close(wait=True)  # running jobs end (or are killed with us)
            raise
        finally:
            for feeder in feeders:
                feeder.join()
        self.close()  # the idle workers exit, and this process gets its threads back, for the summary

    def _feed(self, queue: _Queue, spec: JobSpec, log) -> None:
        """One spawned worker's share: take the next ready job, run it there, and again."""
        try:
            while (run := queue.take()) is not None:
                self._pool.submit(_pool_job, spec, run).result()
                queue.done(run)
                log(f"{run.name}: done (worker process)")
        except BaseException as exc:  # a job's error ends the benchmark (finished jobs stay stored)
            queue.stop(exc)

    def close(self, wait: bool = False) -> None:
        if self._threads_before:
            import torch

            torch.set_num_threads(self._threads_before)
            self._threads_before = 0
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)  # idle workers exit; the summary need not wait
            self._pool = None


def _critical_path(runs: list[Run]) -> dict[str, float]:
    """Per job, the estimated seconds from its start to the end of the longest chain of jobs that
    wait on it (epochs where nothing was estimated): a TA goes before a student of equal length."""
    after: dict[str, list[Run]] = {}
    for run in runs:
        for key in run.upstream:
            after.setdefault(key, []).append(run)
    out: dict[str, float] = {}

    def length(run: Run) -> float:
        if run.key not in out:
            own = run.seconds or sum(st.epochs for st in run.stages)
            out[run.key] = own + max((length(r) for r in after.get(run.key, [])), default=0.0)
        return out[run.key]

    for run in runs:
        length(run)
    return out


class _Queue:
    """The jobs still to run, shared by the threads that run or hand out jobs."""

    def __init__(self, todo: list[Run], stored: set[str], priority: dict[str, float]) -> None:
        self.waiting = sorted(todo, key=lambda r: -priority[r.key])  # stable: plan order among equals
        self.stored, self.running = set(stored), 0
        self.error: BaseException | None = None
        self.stopped = False
        self.cv = threading.Condition()

    def take(self, raising: bool = False) -> Run | None:
        """The next job whose upstream jobs are stored (waits for one); None once none is left."""
        with self.cv:
            while True:
                if self.stopped:
                    if raising and self.error is not None:
                        raise self.error
                    return None
                ready = [r for r in self.waiting if all(k in self.stored for k in r.upstream)]
                if ready:
                    self.waiting.remove(ready[0])
                    self.running += 1
                    return ready[0]
                if not self.running:
                    if self.waiting:
                        names = [r.name for r in self.waiting]
                        self.stop(AkdError(f"jobs {names} wait on jobs that are not in the plan"))
                        continue
                    return None
                self.cv.wait()

    def done(self, run: Run) -> None:
        with self.cv:
            self.stored.add(run.key)
            self.running -= 1
            self.cv.notify_all()

    def stop(self, error: BaseException | None = None) -> None:
        with self.cv:
            self.stopped = True
            self.error = self.error or error
            self.cv.notify_all()


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
