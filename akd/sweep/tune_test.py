"""``akd study BENCHMARK --profile P``: every method tuned at one budget, then tested on fresh seeds.

The study a reviewer asks for, declared as ``[profiles.P.study]`` of the benchmark file and run as
one resumable command:

1. **Teacher**: trained once (on its own training samples with ``teacher_train_subset``), stored.
2. **Tune**: every method of the profile is tuned by Optuna in the profile's space ``space`` (one
   arm per method, each over its own settings and learning rate, the same ``n_trials``, and a
   ``budget``: every trial's student trains exactly that many epochs), on ``tuning_seeds``, chosen
   on the validation split (``<P>/sweep-<space>/``).
3. **Test, tuned**: each method's best trial's settings on the profile's seeds, which are disjoint
   from the tuning seeds, reported on the test split (``<P>-tuned/``).
4. **Test, paper protocol**: the profile as it is (Annealing-KD with its phase budget, the baselines
   at their defaults) on the same seeds (``<P>/``).
5. ``<P>/study.md`` and ``study.json``: the tuned settings, both protocols side by side, and what
   each step cost (wall time, CPU hours, teacher passes) beside the plan's estimate.

Each step's work is content-keyed: a re-run after a kill reuses every finished trial and run and
resumes the one that was training; the steps' wall times add up across attempts
(``.akd/studies/``, kept by a clock that survives a SIGKILL to within its tick).
"""

from __future__ import annotations

import copy
import math
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from akd.bench import BenchmarkRunner, run_benchmark, runtime_for
from akd.benchfile import read_benchmark_file
from akd.config import MACHINE_SETTINGS, BenchConfig
from akd.errors import AkdError, Diverged
from akd.hashing import content_key
from akd.plan import build_plan, estimate_seconds
from akd.results import other_data_label, summarize, write_summary
from akd.settings import flatten
from akd.store import ModelStore
from akd.sweep.clock import Clock
from akd.sweep.command import arm_study_name, run_sweep, study_base_name
from akd.sweep.outputs import settings_from
from akd.sweep.space import Arm, Space, load_space, with_settings
from akd.sweep.study import default_storage
from akd.sweep.study_report import write_report
from akd.tasks.base import Task, load_task
from akd.tracking import Tracker

STEPS = ("teacher", "tuning", "tuned", "paper")


@dataclass(frozen=True)
class StudySpec:
    space: str
    tuning_seeds: tuple[int, ...]
    n_trials: int | None = None
    about: str = ""


def load_study(spec: dict[str, Any], cfg: BenchConfig) -> StudySpec:
    """``[profiles.P.study]``, checked: tuning seeds given, unique and disjoint from the test seeds."""
    profiles = spec.get("profiles", {})
    table = profiles.get(cfg.profile, {}).get("study")
    if not isinstance(table, dict):
        having = [p for p, v in profiles.items() if isinstance(v, dict) and "study" in v]
        raise AkdError(
            f"profile {cfg.profile!r} of {cfg.benchmark!r} declares no study ([profiles.{cfg.profile}.study]); "
            f"profiles with one: {', '.join(having) or 'none'}"
        )
    where = f"[profiles.{cfg.profile}.study]"
    if cfg.data.selection != "val":
        raise AkdError(
            f"{where}: a study chooses settings on the validation split; data.selection is {cfg.data.selection!r}"
        )
    if cfg.tasks:
        raise AkdError(f"{where}: a study runs one dataset; this profile runs several tasks ({', '.join(cfg.tasks)})")
    unknown = set(table) - {"space", "tuning_seeds", "n_trials", "about"}
    if unknown:
        raise AkdError(
            f"{where}: unknown field(s) {', '.join(sorted(unknown))}; known: about, n_trials, space, tuning_seeds"
        )
    seeds = table.get("tuning_seeds")
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise AkdError(f"{where}: tuning_seeds must be a non-empty list of seeds (integers >= 0)")
    if len(set(seeds)) != len(seeds):
        raise AkdError(f"{where}: tuning_seeds repeats a seed")
    shared = sorted(set(seeds) & set(cfg.seeds))
    if shared:
        raise AkdError(
            f"{where}: tuning seed(s) {', '.join(map(str, shared))} are also test seeds (the profile's seeds); "
            "settings chosen on a seed would be tested on it"
        )
    n_trials = table.get("n_trials")
    if n_trials is not None and (not isinstance(n_trials, int) or isinstance(n_trials, bool) or n_trials < 1):
        raise AkdError(f"{where}: n_trials must be a positive integer")
    if not isinstance(table.get("space"), str):
        raise AkdError(f'{where}: name the tuning space (space = "tuned", a [sweeps.NAME] with methods and a budget)')
    return StudySpec(table["space"], tuple(seeds), n_trials, str(table.get("about", "")))


def check_space(space: Space, cfg: BenchConfig) -> None:
    """Every method of the profile is tuned, none other, all at one budget."""
    arms = [arm.method for arm in space.arms]
    missing, extra = [m for m in cfg.methods if m not in arms], [m for m in arms if m not in cfg.methods]
    if missing or extra:
        which = f"lacks {', '.join(missing)}" if missing else f"tunes {', '.join(extra)}, not run by the profile"
        raise AkdError(f"study space {space.name!r} {which}: every method of the profile is tuned, none other")
    if not space.arms[0].budget:
        raise AkdError(f"study space {space.name!r} declares no budget: every method must train the same epochs")


def tuned_label(cfg: BenchConfig) -> str:
    """The label of the tuned protocol's variant: ``<variant>-tuned``."""
    return f"{cfg.label}-tuned" if cfg.label else "tuned"


def midpoint(arm: Arm) -> dict[str, Any]:
    """A typical trial of ``arm`` (each range's middle, geometric for a log range; the first choice):
    what the plan's estimate assumes every trial costs."""
    out: dict[str, Any] = {}
    for p in arm.params:
        if p.kind == "choice":
            out[p.key] = p.choices[0]
        else:
            mid = math.sqrt(p.low * p.high) if p.log else (p.low + p.high) / 2
            out[p.key] = int(round(mid)) if p.kind == "int" else mid
    return out


def estimate(cfg: BenchConfig, space: Space, study: StudySpec, task: Task, rt, store: ModelStore) -> dict[str, float]:
    """Seconds per step from scratch (the plan's timing probes; the teacher-output cache shared)."""
    paid: set[tuple[str, int, int]] = set()
    fresh = ModelStore(store.root / ".estimate-nothing-stored")  # from scratch, whatever is stored
    out = dict.fromkeys(STEPS, 0.0)
    runs = build_plan(cfg, task, fresh)
    out["teacher"] = sum(estimate_seconds(cfg, [r for r in runs if r.kind == "teacher"], task, rt, paid).values())
    n_trials = study.n_trials or space.n_trials
    trained: set[str] = set()  # a TA (at the profile's rate) serves every trial and protocol of its seed
    for step, seeds, times in (("tuning", list(study.tuning_seeds), n_trials), ("tuned", cfg.seeds, 1)):
        for arm in space.arms:
            one = with_settings(cfg, arm.method, arm.complete(cfg, midpoint(arm)))
            one.seeds = seeds
            for _ in range(times):
                runs = [r for r in build_plan(one, task, fresh) if r.kind != "teacher" and r.key not in trained]
                out[step] += sum(estimate_seconds(one, runs, task, rt, paid).values())
                trained |= {r.key for r in runs if r.kind == "shared"}
    runs = [r for r in build_plan(cfg, task, fresh) if r.kind != "teacher" and r.key not in trained]
    out["paper"] = sum(estimate_seconds(cfg, runs, task, rt, paid).values())
    return out


def run_study(args: Namespace, cfg: BenchConfig, argv: list[str], log=print) -> None:
    spec = read_benchmark_file(args.benchmark)
    study = load_study(spec, cfg)
    space = load_space(spec, cfg.profile, study.space, cfg)
    check_space(space, cfg)
    store = ModelStore(args.store_dir)
    rt = runtime_for(cfg)
    task = load_task(cfg, rt.device)
    budget = space.arms[0].budget
    n_trials = study.n_trials or space.n_trials
    estimated = estimate(cfg, space, study, task, rt, store)
    lines = [
        f"Study {cfg.benchmark} / {cfg.profile}: {len(cfg.methods)} methods, each tuned with {n_trials} trials "
        f"in space {space.name!r} ({budget} student epochs each) on tuning seeds {list(study.tuning_seeds)}, "
        f"then tested on seeds {cfg.seeds}, tuned and under the paper's protocol",
        *(f"  {step:<8} ~{estimated[step] / 60:.1f} min" for step in STEPS),
        f"Estimated duration: {sum(estimated.values()) / 60:.1f} min from scratch (from timing probes on this "
        "machine); finished trials and runs are reused",
    ]
    log("\n".join(lines))
    results_root = Path(args.results_dir)
    tuned_cfg = copy.deepcopy(cfg)
    tuned_cfg.label = tuned_label(cfg)
    for one in (cfg, tuned_cfg):  # never mixed with, nor written over, results on other data
        if other_data_label(one, task, results_root):
            raise AkdError(
                f"{one.results_folder(results_root)} holds results made from other data; move it, or run the "
                "study under another --label"
            )
    if args.dry_run:
        return
    what = {k: v for k, v in flatten(cfg.to_dict()).items() if k not in MACHINE_SETTINGS}
    key = content_key({"benchmark": cfg.benchmark, "config": what, "study": study.__dict__}, 16)
    clock = Clock(store.root.parent / "studies" / f"{cfg.benchmark}-{cfg.profile}-{key}.json")
    clock.estimate(estimated)
    tracker = Tracker(args.tracking_uri, experiment=f"akd-{cfg.benchmark}")
    command = "akd " + " ".join(argv)
    try:
        clock.start("teacher")
        runner = BenchmarkRunner(cfg, tracker, store, None, log, command)
        runner.open(rt, task)
        for run in build_plan(cfg, task, store):
            if run.kind == "teacher":  # trained once here, before any trial needs it
                runner.stored_or_train(run, None)
        clock.end()

        clock.start("tuning")
        sweep_args = Namespace(
            benchmark=args.benchmark,
            space=study.space,
            seeds=list(study.tuning_seeds),
            n_trials=n_trials,
            workers=1,
            heartbeat=args.heartbeat,
            storage=args.storage,
            study_name=None,
            sampler_seed=args.sampler_seed,
            worker_index=None,
            tracking_uri=args.tracking_uri,
            store_dir=args.store_dir,
            results_dir=args.results_dir,
        )
        run_sweep(sweep_args, cfg, argv, log)
        clock.end()

        folder = cfg.results_folder(results_root)
        best, failed = {}, {}
        for method in cfg.methods:
            try:
                best[method] = settings_from(folder / f"sweep-{space.name}", [method])
            except AkdError:
                failed[method] = "not tuned: no trial completed"
        clock.start("tuned")
        tuned_cfg, rows, tags = tuned_protocol(tuned_cfg, cfg, best, failed, tracker, store, log, command)
        table = summarize(rows, tuned_cfg, task)
        clock.tick()
        extra = {"tuned": best, "failed": failed, "study": {"space": space.name, "tuning_seeds": study.tuning_seeds}}
        write_summary(table, tuned_cfg, rows, clock.wall("tuned"), tags, results_root, task, extra=extra)
        clock.end()

        clock.start("paper")
        run_benchmark(copy.deepcopy(cfg), tracker, store, results_root, log=log, command=command)
        clock.end()
        walls = {step: clock.wall(step) for step in STEPS}
        base = study_base_name(cfg, space)
        names = [arm_study_name(base, space, arm.method) for arm in space.arms]
        passes = {
            "teacher": 0.0,
            "tuning": tuning_passes(args.storage or default_storage(), names),
            "tuned": _counted(rows),
            "paper": _counted(pd.read_csv(folder / "runs.csv").to_dict("records")),
        }
        write_report(
            folder,
            tuned_cfg.results_folder(results_root),
            cfg,
            study,
            space,
            best,
            failed,
            clock.step_estimates(estimated),
            walls,
            clock.attempts(),
            torch.get_num_threads(),
            passes,
            clock.notes(),
        )
        log(f"Study written to {folder / 'study.md'}")
    finally:
        clock.close()


def tuned_protocol(
    recorded: BenchConfig,
    cfg: BenchConfig,
    best: dict[str, dict[str, Any]],
    failed: dict[str, str],
    tracker: Tracker,
    store: ModelStore,
    log,
    command: str,
) -> tuple[BenchConfig, list[dict[str, Any]], dict[str, str]]:
    """Each method with its best settings on the test seeds; the rows of all, and ``recorded`` (the
    tuned variant's config) holding each method's own settings in its section (the per-method
    learning rates go to ``summary.json``'s ``tuned``). A method whose tuned settings diverge on a
    test seed is reported in ``failed``, not dropped silently."""
    rows: list[dict[str, Any]] = []
    tags: dict[str, str] = {}
    for method in cfg.methods:
        if method not in best:
            continue
        one = with_settings(cfg, method, best[method])
        one.label = recorded.label
        runner = BenchmarkRunner(one, tracker, store, None, log, command)
        try:
            found = runner.run()
        except Diverged as exc:
            failed[method] = f"diverged on a test seed with its tuned settings ({' '.join(str(exc).split())[:200]})"
            log(f"{method}: {failed[method]}")
            continue
        tags = runner.summary_tags
        keep = {method, "ta"} if method == "takd" else {method}
        first_teacher = not any(r["run"] == "teacher" for r in rows)  # No-KD's plan alone has none
        rows += [r for r in found if r["run"] in keep or (r["run"] == "teacher" and first_teacher)]
        own = {k: v for k, v in best[method].items() if k.startswith(f"{method}.")}
        recorded = _with_own(recorded, own)
    recorded.methods = [m for m in cfg.methods if m not in failed]
    return recorded, rows, tags


def _with_own(cfg: BenchConfig, settings: dict[str, Any]) -> BenchConfig:
    from akd.settings import apply, nest

    out = copy.deepcopy(cfg)
    apply(out, nest(settings, {}), fixed=("benchmark", "profile"))
    return out


def _counted(rows: list[dict[str, Any]]) -> float:
    """Teacher and TA epochs computed (not read from the cache) by ``rows``."""
    keys = ("teacher_epochs_computed", "ta_epochs_computed")
    return float(sum(r.get(k) or 0 for r in rows for k in keys if not _nan(r.get(k))))


def _nan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)


def tuning_passes(storage: str, names: list[str]) -> float:
    """Teacher and TA epochs the tuning's trials computed, from their per-seed records."""
    import optuna

    total = 0.0
    for name in names:
        study = optuna.load_study(study_name=name, storage=storage)
        for t in study.get_trials(deepcopy=False):
            total += _counted(list(t.user_attrs.get("per_seed", {}).values()))
    return total
