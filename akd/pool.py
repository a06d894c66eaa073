"""The local pool (``--executor pool``): this process and ``workers - 1`` spawned ones on one machine.

The spawned workers start (imports, data, a first optimiser step) while this process reads the
data and plans; each job then goes to the next free worker as soon as the jobs it must follow are
stored (:attr:`akd.plan.Run.starts_after`: No-KD trains beside the teacher it only measures
fidelity against), the longest chain of jobs first. On GPUs one worker per device; on a CPU the
cores are split evenly, and this process plans with a worker's threads so no core is oversubscribed.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from akd.errors import AkdError, MachineFailure, raise_terminated
from akd.executors import PLUGINS, Executor, JobSpec, finished_here, loaded, run_in_worker, spec_of, worker_runner
from akd.plan import Run
from akd.runtime import check_workers

if TYPE_CHECKING:
    from akd.jobs import JobRunner


_SLOT: dict[str, Any] = {}
WORKER_DEATHS = 3  # a job whose worker dies this often stops the benchmark (it kills what runs it)


def _init_pool_worker(counter: Any, devices: tuple[str, ...]) -> None:
    os.environ["AKD_POOL_WORKER"] = "1"  # for akd.faults' pool-worker: points
    # tqdm's default lock is a multiprocessing semaphore: a worker killed holding one leaves the resource
    # tracker to warn at exit, a line after akd's own. A spawned worker's lock guards only itself anyway.
    tqdm.set_lock(threading.RLock())
    # SIGTERM to the process group (a scheduler's time limit): the job stops as an interrupt, its MLflow
    # run marked FAILED and its checkpoint kept, and the parent reports 143 rather than a dead worker
    signal.signal(signal.SIGTERM, raise_terminated)
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    _SLOT["device"] = devices[index % len(devices)] if devices else None


def _pool_job(spec: JobSpec, run: Run) -> None:
    run_in_worker(spec, run, _SLOT.get("device"))


def _pool_warm(cfg: Any, plugins: tuple[str, ...]) -> None:
    loaded(cfg, plugins, _SLOT.get("device"))


def _pool_open(spec: JobSpec) -> None:
    worker_runner(spec, _SLOT.get("device"))


class LocalPool(Executor):
    """``workers`` at once on this machine: this process and ``workers - 1`` spawned ones, each job
    started as soon as the jobs it learns from are stored, the longest chains of jobs first. On
    GPUs one worker per device in ``devices`` (default: every visible GPU, this process on its own);
    on a CPU the cores are split evenly (``threads`` each, default cores // workers)."""

    def __init__(self, workers: int, devices: tuple[str, ...] = (), threads: int = 0, plugins=PLUGINS) -> None:
        self.workers, self.devices, self.threads, self.plugins = workers, tuple(devices), threads, tuple(plugins)
        self._pool: ProcessPoolExecutor | None = None
        self._threads_before = 0  # this process's torch threads before start (0: unchanged)
        self._layout_now: tuple[tuple[str, ...], int] | None = None  # set by start: (devices, threads)
        self._renewing, self._generation = threading.Lock(), 0  # a broken pool replaced once, by one job

    def check(self) -> None:
        check_workers(self.workers)  # cores and memory, before a process starts

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
        devices, threads = self._layout_now = self._layout(cfg)
        if not devices:  # this process plans, probes and trains with a worker's threads: no core oversubscribed
            import torch

            self._threads_before = torch.get_num_threads()
            torch.set_num_threads(threads)
        if self.workers < 2:
            return
        self._pool = self._new_pool(devices)
        for _ in range(self.workers - 1):  # imports and data while this process reads and plans
            self._pool.submit(_pool_warm, replace(cfg, threads=threads), self.plugins)

    def _new_pool(self, devices: tuple[str, ...]) -> ProcessPoolExecutor:
        ctx = multiprocessing.get_context("spawn")  # no fork of a process holding torch threads and locks
        counter = ctx.Value("i", 1)  # worker 0 is this process
        return ProcessPoolExecutor(self.workers - 1, ctx, _init_pool_worker, (counter, devices))

    def _remote(self, spec: JobSpec, run: Run, log) -> None:  # noqa: ANN001
        """``run`` on a spawned worker. A worker that dies (SIGKILL, the OOM killer) breaks the whole
        pool: a fresh one is started (once, by whichever job saw it first) and the job runs again
        there, resuming from its checkpoint, as the same command run again would."""
        for attempt in range(1, WORKER_DEATHS + 1):
            pool, generation = self._pool, self._generation
            try:
                pool.submit(_pool_job, spec, run).result()
                return
            except BrokenProcessPool:
                if attempt == WORKER_DEATHS:
                    raise MachineFailure(
                        f"{run.name}: its worker process died {attempt} times (killed, or out of memory); "
                        "finished jobs are stored: run the same command again, or with fewer --workers"
                    ) from None
                with self._renewing:
                    if self._layout_now is None:  # closed: the command is stopping, no pool to renew
                        raise MachineFailure(
                            f"{run.name}: its worker process died while the pool was closing"
                        ) from None
                    if self._generation == generation:  # the first to see it: a fresh pool for everyone
                        pool.shutdown(wait=False, cancel_futures=True)
                        self._pool, self._generation = self._new_pool(self._layout_now[0]), generation + 1
                log(f"{run.name}: its worker process died; running it again on a fresh worker (resumes)")

    def run(self, runner: JobRunner, runs: list[Run]) -> None:
        todo = finished_here(runner, runs)
        if not todo:
            return
        if self._layout_now is None:
            self.start(runner.cfg)
        threads = self._layout_now[1]
        spec = spec_of(runner, self.plugins, threads)
        for _ in range(self.workers - 1):  # trackers opened while this process trains the first job
            self._pool.submit(_pool_open, spec)
        queue = JobQueue(todo, {r.key for r in runs if r.stored}, critical_path(runs))
        run = queue.take(raising=True)  # the first (the teacher) here: its data and tracker are ready
        feeders = [threading.Thread(target=self._feed, args=(queue, spec, runner.log)) for _ in range(self.workers - 1)]
        for feeder in feeders:
            feeder.start()
        try:
            while run is not None:  # with a worker's threads (set by start): the same numbers
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

    def _feed(self, queue: JobQueue, spec: JobSpec, log) -> None:
        """One spawned worker's share: take the next ready job, run it there, and again."""
        try:
            while (run := queue.take()) is not None:
                self._remote(spec, run, log)
                queue.done(run)
                log(f"{run.name}: done (worker process)")
        except BaseException as exc:  # a job's error ends the benchmark (finished jobs stay stored)
            queue.stop(exc)

    def close(self, wait: bool = False) -> None:
        self._layout_now = None
        if self._threads_before:
            import torch

            torch.set_num_threads(self._threads_before)
            self._threads_before = 0
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)  # idle workers exit; the summary need not wait
            self._pool = None


def critical_path(runs: list[Run]) -> dict[str, float]:
    """Per job, the estimated seconds from its start to the end of the longest chain of jobs that
    wait on it (epochs where nothing was estimated): a TA goes before a student of equal length."""
    after: dict[str, list[Run]] = {}
    for run in runs:
        for key in run.starts_after:
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


class JobQueue:
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
                ready = [r for r in self.waiting if all(k in self.stored for k in r.starts_after)]
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
