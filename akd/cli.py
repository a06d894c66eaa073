"""``akd``: the command line. Thin: parse, build a config, hand it to the library."""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import threading
from pathlib import Path

from akd.errors import AkdError, raise_terminated
from akd.exits import report

EPILOG = """examples:
  akd bench fashion_mnist --profile cpu          the real-data CPU comparison (~30 min on 2 cores)
  akd bench cifar100 --profile paper --seeds 20  the official settings (GPU)
  akd bench cifar10 --profile smoke --dry-run    print the plan and the time estimate only
  akd train cifar100 --method annealing --seed 1 --set annealing.tau_max=5
  akd sweep fashion_mnist --profile cpu --space annealing --n-trials 12   tune Annealing-KD with Optuna
  akd sweep fashion_mnist --profile cpu --space tau_max --seeds 0 1 2     an ablation grid, every seed
  akd bench fashion_mnist --profile cpu --from-sweep results/fashion_mnist/cpu/sweep-annealing
  akd study fashion_mnist --profile study        tune every method at one budget, test on 10 fresh seeds
  akd list                                       benchmarks, profiles, methods, models and sweep spaces
  akd cache info                                 what the teacher-output cache holds

Settings: every default lives in akd/config.py; a benchmark file (benchmarks/NAME.toml) overrides
them per profile; --set KEY=VALUE overrides either (e.g. --set kd.temperature=2 --set seeds=1,2,3).
Tracking: MLflow, by default sqlite:///mlflow.db in the working directory (no server needed);
set MLFLOW_TRACKING_URI or --tracking-uri for a server. Open it with `akd ui` (or `nox -s ui`).
Teacher outputs: computed once per (teacher, data, augmentation, seed, epoch) into .akd/cache
(or $AKD_CACHE, --cache-dir) and reused by every method and trial; --no-cache runs them live."""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("benchmark", help="benchmark name (see `akd list`)")
    p.add_argument("--profile", default=None, help="profile in the benchmark file (default: smoke)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any setting, e.g. annealing.tau_max=5 (repeatable)",
    )
    g = p.add_argument_group("data")
    g.add_argument("--data-dir", help="folder holding (or receiving) the dataset (default: ./data)")
    g.add_argument(
        "--select-on",
        choices=["val", "test"],
        help="choose checkpoints on the held-out validation split (default) or, like the "
        "official code, on the test set",
    )
    g.add_argument(
        "--official-cifar10-stats",
        action="store_true",
        help="normalise CIFAR-10 with the official code's (CIFAR-100) statistics",
    )
    g = p.add_argument_group("machine")
    g.add_argument("--device", help="auto (default), cpu, cuda, cuda:N")
    g.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    g = p.add_argument_group("outputs")
    g.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db)")
    g.add_argument(
        "--store-dir",
        default=os.environ.get("AKD_STORE", ".akd/models"),
        help="where trained teachers and TAs are kept (default: .akd/models or $AKD_STORE)",
    )
    g.add_argument("--results-dir", default="results", help="root of the summary tables (default: results)")
    g.add_argument("--cache-dir", help="teacher-output cache (default: $AKD_CACHE or .akd/cache)")
    g.add_argument("--no-cache", action="store_true", help="run the teacher live on every batch; cache nothing")
    g.add_argument(
        "--label",
        help="name this variant: results go to results/BENCH/PROFILE-LABEL (default when "
        "settings differ from the profile: custom-<hash of the changes>)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the plan and time estimate, train nothing")


def _jobs(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("where jobs run (each resumable; a re-run runs only what is missing)")
    g.add_argument(
        "--executor",
        choices=("inline", "pool", "slurm", "submitit-local", "submitit-debug"),
        default="inline",
        help="inline: this process (default); pool: --workers local processes; slurm: job arrays via submitit",
    )
    g.add_argument("--workers", type=int, default=2, help="pool: worker processes (default: 2)")
    g.add_argument("--jobs-dir", default=".akd/jobs", help="submitit: logs and job files (default: .akd/jobs)")
    g.add_argument("--slurm-partition", default="", help="slurm: partition")
    g.add_argument("--slurm-gpus", type=int, default=0, help="slurm: GPUs per job")
    g.add_argument("--slurm-cpus", type=int, default=0, help="slurm: CPUs per job")
    g.add_argument("--slurm-time", type=int, default=24 * 60, help="slurm: minutes per job (longer: requeued, resumed)")
    g.add_argument("--slurm-mem-gb", type=float, default=0, help="slurm: memory per job")
    g.add_argument("--slurm-account", default="", help="slurm: account")
    g.add_argument("--slurm-qos", default="", help="slurm: quality of service")


def _executor(args: argparse.Namespace):
    from akd.executors import InProcess, SlurmOptions, Submitit
    from akd.pool import LocalPool

    if args.executor == "pool":
        return LocalPool(args.workers)
    if args.executor == "inline":
        return InProcess()
    options = SlurmOptions(
        args.slurm_partition,
        args.slurm_gpus,
        args.slurm_cpus,
        args.slurm_time,
        args.slurm_mem_gb,
        args.slurm_account,
        args.slurm_qos,
    )
    cluster = {"slurm": "slurm", "submitit-local": "local", "submitit-debug": "debug"}[args.executor]
    return Submitit(cluster, Path(args.jobs_dir), options)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="akd",
        description="Benchmark Annealing-KD against KD, TAKD and no-KD under shared seeds, tracked in MLflow.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser(
        "bench",
        help="run every method x seed of a benchmark profile and write its summary",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    _common(bench)
    bench.add_argument("--seeds", type=int, nargs="+", help="seeds (default: the profile's)")
    bench.add_argument("--methods", nargs="+", help="subset of methods (default: the profile's)")
    bench.add_argument("--tasks", nargs="+", help="datasets to run one after another, e.g. glue-rte glue-mrpc")
    bench.add_argument(
        "--glue-submission", action="store_true", help="also write the GLUE server's test-set prediction files"
    )
    bench.add_argument(
        "--from-sweep", metavar="PATH", help="use the best settings of a sweep (its folder or best.json)"
    )
    _jobs(bench)
    sweep = sub.add_parser(
        "sweep",
        help="tune a method's settings with Optuna, or run an ablation grid (spaces: [sweeps.*] of the benchmark file)",
    )
    _common(sweep)
    sweep.add_argument("--space", required=True, help="the search space or grid, e.g. annealing, tau_max, fair")
    sweep.add_argument(
        "--n-trials", type=int, help="trials in the study, finished ones included (default: the space's)"
    )
    sweep.add_argument(
        "--seeds", type=int, nargs="+", help="seeds every trial trains and averages (default: the first)"
    )
    sweep.add_argument("--storage", help="Optuna storage URL (default: sqlite:///optuna.db here; postgresql://...)")
    sweep.add_argument("--study-name", help="default: BENCHMARK-VARIANT-SPACE")
    sweep.add_argument("--workers", type=int, default=1, help="worker processes on this machine (default: 1)")
    sweep.add_argument("--heartbeat", type=int, default=60, help="seconds between a trial's heartbeats (default: 60)")
    sweep.add_argument("--sampler-seed", type=int, default=0, help="seeds the sampler (default: 0)")
    sweep.add_argument("--worker-index", type=int, help=argparse.SUPPRESS)
    study = sub.add_parser(
        "study",
        help="tune every method at one budget, then test the best settings on fresh seeds ([profiles.P.study])",
    )
    _common(study)
    study.add_argument("--storage", help="Optuna storage URL (default: sqlite:///optuna.db here; postgresql://...)")
    study.add_argument("--heartbeat", type=int, default=10, help="seconds between a trial's heartbeats (default: 10)")
    study.add_argument("--sampler-seed", type=int, default=0, help="seeds the sampler (default: 0)")
    train = sub.add_parser("train", help="one method, one seed (teacher trained or reused as needed)")
    _common(train)
    train.add_argument("--method", required=True, help="nokd, kd, takd or annealing")
    train.add_argument("--seed", type=int, default=0)
    _jobs(train)
    sub.add_parser("list", help="list benchmarks, profiles, methods and models")
    cache = sub.add_parser("cache", help="show or clear the teacher-output cache")
    cache.add_argument("action", choices=["info", "clear"])
    cache.add_argument("--cache-dir", help="the cache's folder (default: $AKD_CACHE or .akd/cache)")
    ui = sub.add_parser("ui", help="open MLflow's UI over the tracking store runs are logged to")
    ui.add_argument("--tracking-uri", help="default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here")
    ui.add_argument("--port", type=int, default=5000)
    return parser


def _ui(args: argparse.Namespace) -> None:
    """Replace this process with ``mlflow ui`` on 127.0.0.1, over the same store ``akd bench`` uses."""
    from akd.tracking import check_tracking_uri, default_tracking_uri, mark_training_experiments, runs_page

    os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")  # 2 processes instead of 10
    store = args.tracking_uri or default_tracking_uri()
    db = check_tracking_uri(store)
    experiments = mark_training_experiments(store) if db is None or db.exists() else {}
    print(f"MLflow UI at http://127.0.0.1:{args.port}; each benchmark's runs (model-training view, group by 'method'):")
    for name, exp_id in sorted(experiments.items()):
        print(f"  {name}: {runs_page(f'http://127.0.0.1:{args.port}', exp_id)}", flush=True)
    mlflow = str(Path(sys.executable).with_name("mlflow"))
    os.execv(
        mlflow,
        [mlflow, "ui", "--backend-store-uri", store, "--host", "127.0.0.1", "--port", str(args.port), "--workers", "1"],
    )


def _config(args: argparse.Namespace):
    from akd.benchfile import load_benchmark
    from akd.config import MACHINE_SETTINGS
    from akd.settings import flatten, nest, parse_overrides
    from akd.store import recipe_key

    overrides = parse_overrides(args.overrides)
    data = overrides.setdefault("data", {})
    if args.data_dir:
        data["data_dir"] = args.data_dir
    if args.select_on:
        data["selection"] = args.select_on
    if args.official_cifar10_stats:
        data["official_cifar10_stats"] = True
    for name in ("device", "threads"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    if args.cache_dir:
        overrides.setdefault("cache", {})["dir"] = args.cache_dir
    if args.no_cache:
        overrides.setdefault("cache", {})["enabled"] = False
    if args.command == "bench" and args.from_sweep:
        from akd.sweep.outputs import settings_from

        methods = args.methods or load_benchmark(args.benchmark, args.profile or "smoke").methods
        nest(settings_from(Path(args.from_sweep), methods), overrides, replace=False)  # an explicit --set wins
        if not args.label:
            source = Path(args.from_sweep).resolve()
            args.label = source.parent.name if source.is_file() else source.name
    # a sweep's --seeds are its study's (every trial trains them), never a setting of the variant
    if args.command == "bench":
        if args.seeds:
            overrides["seeds"] = args.seeds
        if args.methods:
            overrides["methods"] = args.methods
        if args.tasks:
            overrides["tasks"] = args.tasks
        if args.glue_submission:
            overrides["submission"] = True
    elif args.command == "train":
        overrides["seeds"], overrides["methods"] = [args.seed], [args.method]
    # Anything that changes results makes a variant, so a profile's own summary is never overwritten.
    changes = {k: v for k, v in flatten(overrides).items() if k not in MACHINE_SETTINGS}
    if args.label:
        overrides["label"] = args.label
    elif changes:
        overrides["label"] = "custom-" + recipe_key(changes)[:6]
    return load_benchmark(args.benchmark, args.profile or "smoke", overrides)


def _list() -> None:
    from akd.benchfile import list_benchmarks, read_benchmark_file
    from akd.catalog import IMAGE_MODELS, METHODS, TASKS, TEXT_MODELS

    for name in list_benchmarks():
        try:
            spec = read_benchmark_file(name)
        except AkdError as exc:  # one broken file does not hide the others
            print(f"{name}: unusable: {exc}")
            continue
        print(f"{name}: {spec.get('description', '')}")
        for profile, values in spec.get("profiles", {}).items():
            about = values.get("about", "") if isinstance(values, dict) else ""
            print(f"  --profile {profile:<8} {about}")
        spaces = dict(spec.get("sweeps", {}))
        for profile, values in spec.get("profiles", {}).items():  # spaces only some profiles declare
            for space, table in (values.get("sweeps", {}) if isinstance(values, dict) else {}).items():
                if space not in spec.get("sweeps", {}) and isinstance(table, dict):
                    spaces[space] = {"about": f"{table.get('about', '')} (profile {profile})"}
        for space, table in spaces.items():
            about = table.get("about", "") if isinstance(table, dict) else ""
            print(f"  --space {space:<10} {about}")
    print("methods:", ", ".join(METHODS.names()))
    print("datasets:", ", ".join(TASKS.names()))
    print("image models:", ", ".join(IMAGE_MODELS.names()))
    print("text model presets:", ", ".join(TEXT_MODELS.names()), "(or any HuggingFace hub id or folder; NAME#layers=N)")


def _cache(args: argparse.Namespace) -> None:
    from akd.cache import LogitCache, default_cache_dir, format_bytes
    from akd.config import CacheConfig

    cache = LogitCache(args.cache_dir or default_cache_dir(), int(CacheConfig().max_gb * 1e9))
    if args.action == "info":
        print(cache.info())
    else:
        entries, nbytes = cache.clear()
        print(f"Removed {entries} cached epochs ({format_bytes(nbytes)}) from {cache.root}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, raise_terminated)  # runs in flight are marked FAILED on the way out
    try:
        if args.command == "list":
            _list()
            return 0
        if args.command == "cache":
            _cache(args)
            return 0
        if args.command == "ui":
            _ui(args)  # replaces this process
            return 0
        import akd.catalog  # noqa: F401  (registers every method, model and dataset)

        cfg = _config(args)
        from akd.bench import run_benchmark
        from akd.store import ModelStore
        from akd.tracking import Tracker, check_tracking_uri, default_tracking_uri

        check_tracking_uri(args.tracking_uri or default_tracking_uri())  # a dry run checks it too

        if args.command == "sweep":
            from akd.sweep.command import run_sweep

            run_sweep(args, cfg, list(argv if argv is not None else sys.argv[1:]))
            return 0
        if args.command == "study":
            from akd.sweep.tune_test import run_study

            run_study(args, cfg, list(argv if argv is not None else sys.argv[1:]))
            return 0
        # Opened (and the store created) only once the data and every output folder have been checked.
        tracker = lambda: Tracker(args.tracking_uri, experiment=f"akd-{cfg.benchmark}")  # noqa: E731
        results = Path(args.results_dir) if args.command == "bench" else None
        command = "akd " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
        store = ModelStore(args.store_dir)
        run_benchmark(cfg, tracker, store, results, args.dry_run, command=command, executor=_executor(args))
        return 0
    except BaseException as exc:  # the one boundary: a documented exit code, a traceback only for a bug
        if isinstance(exc, SystemExit):
            raise
        return report(exc, list(argv if argv is not None else sys.argv[1:]))


if __name__ == "__main__":
    sys.exit(main())
