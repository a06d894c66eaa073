"""Where a plan's jobs run, behind one interface (``--executor``):

- ``inline`` (default): one after another in this process, models and data held in memory;
- ``pool`` (akd.pool): N local workers (``--workers N``: this process and N - 1 spawned ones; one
  per GPU, or CPU threads split evenly), each job started as soon as the jobs it follows are
  stored, the longest chains first;
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
import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from akd.errors import AkdError, Diverged, MachineFailure
from akd.plan import Run
from akd.validation import ensure_writable

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


def loaded(cfg: Any, plugins: tuple[str, ...], device: str | None) -> tuple[Any, Any]:
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
        first_step()
    return _WORKER["data"][1:]


def first_step() -> None:
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

    rt, task = loaded(spec.cfg, spec.plugins, device)
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
    def check(self) -> None:
        """Called first, also for a dry run: refuse (one line) an executor this machine cannot use,
        before the data are read or anything is written."""

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


def finished_here(runner: JobRunner, runs: list[Run]) -> list[Run]:
    """Jobs already stored are only bookkept (MLflow), here; returns the others."""
    for run in runs:
        if run.stored:
            runner.run_job(run)
    return [r for r in runs if not r.stored]


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

    def check(self) -> None:
        try:
            import submitit  # noqa: F401
        except ImportError:
            raise AkdError("--executor slurm needs submitit: pip install submitit") from None
        if self.cluster == "slurm":
            missing = [c for c in ("sbatch", "srun") if shutil.which(c) is None]
            if missing:
                raise AkdError(
                    f"--executor slurm: {' and '.join(missing)} not found on this machine's PATH; run on a Slurm "
                    "login node, or use --executor pool (this machine) or submitit-local (a dry run of the arrays)"
                )
        ensure_writable(self.folder, "--jobs-dir")

    def _executor(self, runner: JobRunner):
        import submitit

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
        todo = finished_here(runner, runs)
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
        except Exception as exc:  # submitit's FailedJobState carries the job's own traceback, as text
            text = " ".join(str(exc).split())
            raise remote_failure(text, f"cluster job {job.job_id} failed: {text[-400:]}") from None


def remote_failure(text: str, message: str) -> Exception:
    """The exception a cluster job's traceback (text) stands for, so it keeps its exit code: the job's
    own AkdError class (a divergence, a machine failure, a refusal), an OSError of a full disk or lost
    connection as a machine failure, anything else a bug of the job's (RuntimeError)."""
    found = re.findall(r"akd\.errors\.(Diverged|MachineFailure|AkdError): ", text)
    if found:
        return {"Diverged": Diverged, "MachineFailure": MachineFailure, "AkdError": AkdError}[found[-1]](message)
    if re.search(r"(OSError|ConnectionError|TimeoutError).*(No space left|Disk quota|Input/output|Connection)", text):
        return MachineFailure(message)
    return RuntimeError(message)
