"""``akd sweep BENCHMARK --profile P --space NAME``: check everything, run the workers, write the outputs.

Order: settings and the space (every corner validated), the tracking URI (akd.cli), the Optuna
storage (reachable), every output folder (writable); only then is anything created. ``--workers N``
starts N worker processes of this same command on one study (each with its share of the CPU
threads, or one GPU each) and writes the outputs when they are done; a worker on another machine
runs the same command with the same ``--storage`` and ``--tracking-uri``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from akd.bench import cache_for
from akd.benchfile import read_benchmark_file
from akd.config import BenchConfig
from akd.errors import AkdError, Exited, Terminated, redact_urls
from akd.hashing import content_key
from akd.provenance import provenance
from akd.runtime import check_workers
from akd.store import ModelStore
from akd.sweep.figures import grid_figure, study_figures
from akd.sweep.outputs import best_record, grid_frame, write_outputs
from akd.sweep.space import Space, fingerprint, load_space
from akd.sweep.study import StaleTrials, default_storage, open_storage, open_study, work
from akd.sweep.trials import TrialRunner
from akd.tracking import Tracker, default_tracking_uri
from akd.validation import ensure_writable


def _worker_argv(argv: list[str], index: int, n: int, cfg: BenchConfig, storage: str, tracking: str) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in ("--workers", "--storage", "--tracking-uri"):
            skip = True
            continue
        if a.startswith(("--workers=", "--storage=", "--tracking-uri=")):
            continue
        out.append(a)
    out += ["--storage", storage, "--tracking-uri", tracking, "--worker-index", str(index)]
    if cfg.threads == 0:  # each worker its share of the cores
        out += ["--threads", str(max(1, (os.cpu_count() or 1) // n))]
    if cfg.device == "auto" and torch.cuda.is_available() and torch.cuda.device_count() > 1:
        out += ["--device", f"cuda:{index % torch.cuda.device_count()}"]
    return out


def study_base_name(cfg: BenchConfig, space: Space) -> str:
    return f"{cfg.benchmark}-{cfg.variant}-{space.name}"


def arm_study_name(name: str, space: Space, method: str) -> str:
    """The Optuna study of one arm: the space's own name, with the method's where it has several."""
    return name if len(space.arms) == 1 else f"{name}-{method}"


def _spawn(argv: list[str], n: int, cfg: BenchConfig, storage: str, tracking: str, log) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-m", "akd.cli", *_worker_argv(argv, i, n, cfg, storage, tracking)])
        for i in range(n)
    ]
    log(f"started {n} workers (pids {', '.join(str(p.pid) for p in procs)})")
    try:
        codes = [p.wait() for p in procs]
    except KeyboardInterrupt as exc:  # Ctrl-C reached every worker; a SIGTERM only this process: pass it on
        for p in procs:
            if p.poll() is None and isinstance(exc, Terminated):
                p.terminate()
        for p in procs:
            p.wait()
        raise
    if any(codes):
        raise Exited(
            f"sweep workers exited with codes {codes} (each said why above); finished trials are kept in the study",
            most_severe(codes),
        )


def most_severe(codes: list[int]) -> int:
    """One code for several workers': a bug (1) before a failed machine (4, or killed by a signal), a
    divergence (3), a termination (143), an interrupt (130), a refusal (2)."""
    rank = [1, 4, 3, 143, 130, 2]
    known = [4 if c < 0 else c for c in codes if c]
    return min(known, key=lambda c: rank.index(c) if c in rank else 0)


def run_sweep(args, cfg: BenchConfig, argv: list[str], log=print) -> None:
    spec = read_benchmark_file(args.benchmark)
    space = load_space(spec, cfg.profile, args.space, cfg)
    seeds = list(args.seeds or cfg.seeds[:1])
    if len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise AkdError(f"--seeds {seeds}: each seed once, none negative")
    n_trials = args.n_trials if args.n_trials is not None else space.n_trials
    if n_trials < 1 or args.workers < 1 or args.heartbeat < 1:
        raise AkdError("--n-trials, --workers and --heartbeat must be at least 1")
    if args.worker_index is None:
        check_workers(args.workers)  # cores and memory, before a worker starts
    storage_url = args.storage or default_storage()
    stale = StaleTrials()
    storage = open_storage(storage_url, args.heartbeat, stale)
    tracking = args.tracking_uri or default_tracking_uri()  # checked by akd.cli before the storage is opened
    store = ModelStore(args.store_dir)
    folder = cfg.results_folder(Path(args.results_dir)) / f"sweep-{space.name}"
    worker = args.worker_index is not None
    if not worker:
        ensure_writable(folder, "sweep results folder")
    ensure_writable(store.root, "model store")
    if cfg.cache.enabled:
        cache_for(cfg, log=lambda _: None)  # its folder is checked as the benchmark checks it
    name = args.study_name or study_base_name(cfg, space)
    study_tags = {"study": name, "space": space.name, "storage_id": content_key(redact_urls(storage_url), 12)}
    if args.workers > 1 and not worker:
        _spawn(argv, args.workers, cfg, storage_url, tracking, log)
    tracker = Tracker(tracking, experiment=f"akd-{cfg.benchmark}")
    stale.on_stale = _marker(tracker)
    studies, runners, loaded = {}, {}, {}
    for arm in space.arms:
        study_name = arm_study_name(name, space, arm.method)
        key, what = fingerprint(cfg, space, arm, seeds)
        steps = len(seeds) * arm.max_epochs
        tags = {**study_tags, "study": study_name, "method": arm.method}
        study = open_study(storage, study_name, space, arm, key, what, steps, args.sampler_seed, args.worker_index or 0)
        command = " ".join(["akd", *argv])
        runner = TrialRunner(cfg, tracker, store, space, arm, seeds, tags, log, command, loaded)
        if args.workers == 1 or worker:
            log(f"study {study_name} ({redact_urls(storage_url)}): {n_trials} trials of {arm.method}, seeds {seeds}")
            work(study, runner, n_trials, args.heartbeat, log)
        studies[arm.method], runners[arm.method] = study, runner
    if not worker:
        _outputs(folder, space, studies, runners, cfg, seeds, n_trials, storage_url, log)


def _marker(tracker: Tracker):
    def mark(trial) -> None:  # noqa: ANN001
        run_id = trial.user_attrs.get("mlflow_run_id")
        if run_id is None:
            found = tracker.find({"trial_id": str(trial._trial_id)}, ("RUNNING",))
            run_id = found[0].info.run_id if found else None
        if run_id is not None:
            tracker.set_tag(run_id, "trial_state", "FAIL (worker stopped sending heartbeats; retried)")
            tracker.end(run_id, False)

    return mark


def _outputs(folder: Path, space: Space, studies, runners, cfg: BenchConfig, seeds, n_trials, storage_url, log) -> None:
    first = next(iter(runners.values()))
    first.setup()  # data and the study's MLflow run (reused when the trials ran elsewhere)
    metric = first.metric
    about = {
        "benchmark": cfg.benchmark,
        "variant": cfg.variant,
        "storage": redact_urls(storage_url),
        "n_trials": n_trials,
        "seeds": seeds,
        "space_declared": {arm.method: arm.describe() for arm in space.arms},
        "pruner": "none" if space.is_grid else space.pruner,
        "sampler": "grid" if space.is_grid else space.sampler,
        "command": first.jobs.command,
        "provenance": provenance(first.jobs.rt.device),  # of the machine writing the outputs (each trial's: MLflow)
    }
    paths = write_outputs(folder, space, studies, metric, seeds, about)
    for method, study in studies.items():
        sub = folder if len(studies) == 1 else folder / method
        sub.mkdir(parents=True, exist_ok=True)
        paths += study_figures(study, sub, metric, seeds)
    if space.is_grid:
        study = next(iter(studies.values()))
        title = f"{cfg.benchmark} {cfg.variant}: {space.name}, seeds {seeds}"
        paths += grid_figure(grid_frame(study, metric, seeds), sorted(space.arms[0].grid), metric, folder, title)
    for runner in runners.values():
        runner.setup()
        for path in paths:
            runner.tracker.log_file(runner.parent, path)
        top = best_record(studies[runner.arm.method], metric).get("best")
        if top is not None:
            runner.tracker.log_metrics(runner.parent, {"best_objective": top["objective"], "best_trial": top["trial"]})
            for k, v in top["params"].items():  # tags, not params: a resumed sweep may find a better trial
                runner.tracker.set_tag(runner.parent, f"best.{k}", str(v))
        runner.tracker.end(runner.parent, True)
    log(f"Sweep outputs written to {folder}")
