"""From a resolved config to the list of runs a benchmark performs, with a time estimate.

Runs (each one job): the teacher (trained once, or loaded), then per seed the shared stages
(TAKD's TA, once per seed however many methods need it) and one run per method. Every run is keyed
by the content of what determines its result, so the plan says which are already stored (and will
not run again) and which resume from a checkpoint:

- teacher and TA: their full recipe (role, architecture, epochs, seed, objective, optimiser, data;
  a TA also its teacher's key), or a user checkpoint's bytes;
- a method run: its stages (objective, architecture, epochs, the key of the model each stage learns
  from), seed, optimiser, data, the teacher outputs' dtype, and ``JOB_FORMAT``.

The code version is not in a key (the commit that ran a job is recorded beside its result): a change
that alters what a job computes must raise ``JOB_FORMAT`` (method runs) or change a recipe field.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from akd.cache import default_cache_dir
from akd.config import BenchConfig, OptimConfig
from akd.hashing import file_sha256
from akd.losses import hard_label_loss
from akd.methods import HardLabels, Stage, build_stages, check_task
from akd.optim import Recipe
from akd.runtime import Runtime
from akd.store import ModelStore, recipe_key
from akd.tasks.base import Task, teacher_task


@dataclass
class Run:
    name: str  # "teacher", "ta/seed0", "kd/seed0"
    kind: str  # "teacher", "shared" or "method"
    seed: int
    stages: list[Stage]
    method: str = ""
    key: str = ""  # store key, for teacher and shared runs
    recipe: dict = field(default_factory=dict)  # what the key hashes, saved beside the stored model
    stored: bool = False
    needs: dict[str, str] = field(default_factory=dict)  # role -> store key of a shared run it uses
    resumes: bool = False  # a checkpoint of an interrupted attempt is waiting
    seconds: float = 0.0  # estimated training time on this machine (estimate_seconds), 0 if not estimated

    @property
    def upstream(self) -> list[str]:
        """Store keys of the jobs this one learns from (its dependencies)."""
        return [k for k in (self.recipe.get("teacher"), *self.needs.values()) if k]

    @property
    def fidelity_only(self) -> bool:
        """A method job whose teacher only measures the student's fidelity, once training ends (No-KD)."""
        return (
            self.kind == "method"
            and bool(self.recipe.get("teacher"))
            and not any(st.teacher == "teacher" for st in self.stages)
        )

    @property
    def starts_after(self) -> list[str]:
        """The upstream jobs stored before this one may start: all, but a fidelity-only teacher (a
        pool trains No-KD beside the teacher; the job waits for the teacher when it needs it)."""
        return list(self.needs.values()) if self.fidelity_only else self.upstream


# Raised by a change that alters what a method run computes: finished method runs are then redone.
JOB_FORMAT = 1


def data_identity(cfg: BenchConfig, task: Task) -> dict:
    return {"config": asdict(cfg.data) | {"data_dir": None}, "fingerprint": task.fingerprint}


def _checkpoint_recipe(cfg: BenchConfig, role: str, task: Task) -> dict:
    """A user checkpoint is keyed by its bytes and the data its stored metrics were measured on."""
    path = cfg.checkpoint(role)
    return {
        "checkpoint": path,
        "sha256": file_sha256(Path(path)),
        "arch": cfg.arch(role),
        "data": data_identity(cfg, task),
    }


def _trained_recipe(cfg: BenchConfig, task: Task, stage: Stage, seed: int, **upstream: str) -> dict:
    """Everything that makes a stored model: role, architecture, stage, seed, objective, optimiser, data."""
    return {
        "role": stage.trains,
        "arch": cfg.arch(stage.trains),
        "stage": stage.name,
        "epochs": stage.epochs,
        "seed": seed,
        "objective": stage.objective.describe(),
        **upstream,
        "optim": asdict(cfg.optim_for(stage.trains)),
        "data": data_identity(cfg, task),
    }


def teacher_stage(cfg: BenchConfig) -> Stage:
    return Stage("teacher", "teacher", cfg.teacher_epochs, HardLabels())


def teacher_recipe(cfg: BenchConfig, task: Task) -> dict:
    if cfg.teacher_checkpoint:
        return _checkpoint_recipe(cfg, "teacher", task)
    own = teacher_task(cfg, task)
    if own is not task:  # the teacher's own training samples, recorded as its data
        cfg = copy.deepcopy(cfg)
        cfg.data.train_subset = cfg.teacher_train_subset
    return _trained_recipe(cfg, own, teacher_stage(cfg), cfg.teacher_seed)


def shared_recipe(cfg: BenchConfig, task: Task, stage: Stage, seed: int, teacher_key: str) -> dict:
    if cfg.checkpoint(stage.trains):
        return _checkpoint_recipe(cfg, stage.trains, task)
    return _trained_recipe(cfg, task, stage, seed, teacher=teacher_key)


def method_recipe(
    cfg: BenchConfig,
    task: Task,
    method: str,
    seed: int,
    stages: list[Stage],
    teacher_key: str | None,
    needs: dict[str, str],
) -> dict:
    """Everything a method run's result depends on (see the module's docstring). ``teacher_key``:
    the plan's teacher, which every student is measured against (fidelity), or None without one."""
    sources = {"teacher": teacher_key, **needs}
    return {
        "job": "method",
        "format": JOB_FORMAT,
        "method": method,
        "seed": seed,
        "stages": [
            {
                "name": st.name,
                "arch": cfg.arch(st.trains),
                "epochs": st.epochs,
                "init": st.init,
                "objective": st.objective.describe(),
                "learns_from": sources.get(st.teacher) if st.teacher else None,
            }
            for st in stages
        ],
        "teacher": teacher_key,  # also the reference of every student's fidelity metrics
        # fp32 teacher outputs are bit-identical cached or live; float16 ones are not
        "teacher_outputs": cfg.cache.dtype if cfg.cache.enabled and any(st.teacher for st in stages) else "float32",
        "optim": asdict(cfg.optim),
        "data": data_identity(cfg, task),
    }


def build_plan(cfg: BenchConfig, task: Task, store: ModelStore) -> list[Run]:
    for method in cfg.methods:  # a method without a form for this task's outputs: one line, nothing trained
        check_task(method, cfg, task.regression)
    recipe = teacher_recipe(cfg, task)
    teacher_key = recipe_key(recipe)
    runs: list[Run] = []
    has_teacher = any(st.teacher for m in cfg.methods for st in build_stages(m, cfg))
    if has_teacher:  # else no teacher is needed
        runs.append(
            Run(
                "teacher",
                "teacher",
                cfg.teacher_seed,
                [teacher_stage(cfg)],
                key=teacher_key,
                recipe=recipe,
                stored=bool(cfg.teacher_checkpoint) or store.has(teacher_key),
            )
        )
    for seed in cfg.seeds:
        shared_seen: set[str] = set()
        for method in cfg.methods:
            own: list[Stage] = []
            needs: dict[str, str] = {}
            for stage in build_stages(method, cfg):
                if not stage.shared:
                    own.append(stage)
                    continue
                recipe = shared_recipe(cfg, task, stage, seed, teacher_key)
                key = recipe_key(recipe)
                needs[stage.trains] = key
                if key not in shared_seen:
                    shared_seen.add(key)
                    runs.append(
                        Run(
                            f"{stage.trains}/seed{seed}",
                            "shared",
                            seed,
                            [stage],
                            key=key,
                            recipe=recipe,
                            stored=bool(cfg.checkpoint(stage.trains)) or store.has(key),
                        )
                    )
            recipe = method_recipe(cfg, task, method, seed, own, teacher_key if has_teacher else None, needs)
            key = recipe_key(recipe)
            runs.append(Run(f"{method}/seed{seed}", "method", seed, own, method, key, recipe, store.has(key), needs))
    for run in runs:
        run.resumes = not run.stored and store.checkpoint_path(run.key).exists()
    return runs


_SPEEDS: dict[tuple, tuple[float, float]] = {}
# Measured on this suite's 2-core CPU machine (akd study's cost table): what a run costs beside its
# steps and evaluations (MLflow run, parameters and store entry; a trial's Optuna bookkeeping), and
# what an epoch costs beside them (its checkpoint, its MLflow metrics, the validation bookkeeping).
RUN_OVERHEAD_S = 2.0  # the study profile: 1.8 to 2.5 s per run outside its training stages
EPOCH_OVERHEAD_S = 0.1
TEST_PASSES = 1.5  # per stage: the selected epoch was the last in 37 % and 57 % of the study's runs


def _speeds(arch: str, task: Task, batch: int, rt: Runtime, optim: OptimConfig | None = None) -> tuple[float, float]:
    """(train, inference) samples/s of ``arch`` on this machine: a few steps of its optimiser
    (``optim``: SGD by default) on the task's own training batches, and forward passes on its
    validation batches at the evaluation batch size.

    Memoised per process, so a sweep that plans many trials probes each model once.
    """
    recipe = OptimConfig(name="sgd") if optim is None else optim
    key = (arch, task.name, task.num_outputs, batch, recipe.eval_batch_size, rt, recipe.name, recipe.clip_grad_norm > 0)
    if key not in _SPEEDS:
        _SPEEDS[key] = _probe(arch, task, batch, rt, recipe)
    return _SPEEDS[key]


def _cycle(batches: Callable[[], Iterator]) -> Iterator:
    while True:
        yield from batches()


def _probe(arch: str, task: Task, batch: int, rt: Runtime, optim: OptimConfig) -> tuple[float, float]:
    """Samples/s through the same path a run takes: the task makes each batch (index gather,
    augmentation, the batch's own text length), the model steps or predicts on it. A synthetic
    batch missed the input pipeline and the length of real text (estimates were 1.4x to 2x low)."""
    model = rt.place(task.build_model(arch))
    recipe = Recipe(optim, model, 1, 8)  # the stage's optimiser (AdamW's update and clipping cost time too)
    train_batches = _cycle(lambda: task.train_batches(0, 0, batch))
    eval_batches = _cycle(lambda: task.eval_batches("val", optim.eval_batch_size))

    def train_step() -> int:
        _, x, y = next(train_batches)
        recipe.begin(0)
        with rt.autocast():
            loss = hard_label_loss(model(rt.layout(x)).float(), y)
        loss.backward()
        recipe.step()
        return len(y)

    def forward() -> int:
        x, y = next(eval_batches)
        model(rt.layout(x)).float()
        return len(y)

    model.train()  # as a run trains: dropout on (a pretrained text model loads in eval mode)
    train_step()
    train = _samples_per_second(train_step)
    model.eval()
    with torch.inference_mode(), rt.autocast():
        forward()
        infer = _samples_per_second(forward)
    return train, infer


PROBE_S = 0.25  # the least time one timing window runs
PROBE_CALLS = 5  # and the fewest steps: a text model's step takes 0.2 to 0.4 s on 2 CPU cores
PROBE_WINDOWS = 5


def _samples_per_second(step: Callable[[], int]) -> float:
    """The median rate of ``PROBE_WINDOWS`` timing windows of ``step`` (each at least ``PROBE_S`` and
    ``PROBE_CALLS`` calls). On a shared machine the rate moves by a tenth from window to window; the
    fastest window read a quiet moment that a run of minutes does not see (estimates fell 1.3x to 1.4x
    short); windows of 2 text steps moved by a third from one probe to the next."""
    rates = []
    for _ in range(PROBE_WINDOWS):
        calls, samples, t0 = 0, 0, time.perf_counter()
        while calls < PROBE_CALLS or time.perf_counter() - t0 < PROBE_S:
            samples += step()
            calls += 1
        rates.append(samples / (time.perf_counter() - t0))
    return statistics.median(rates)


def estimate_seconds(
    cfg: BenchConfig, runs: list[Run], task: Task, rt: Runtime, paid: set[tuple[str, int, int]] | None = None
) -> dict[str, float]:
    """Seconds each run will take, from short timing probes of the models it trains or runs.

    With the teacher-output cache on, a teacher epoch (role, seed, epoch) is paid for once in the
    plan: later stages that need it read it from the cache. A task without augmentation needs one
    teacher pass in all. ``paid``: the teacher epochs already paid for by other plans (a study's
    trials and protocols share one cache), updated.
    """
    batch = cfg.optim.batch_size
    n_eval, n_test = task.size("val"), task.size("test")
    n_extra = sum(task.size(s) for s in task.extra_test_splits)  # evaluated once, at the selected epoch
    paid = set() if paid is None else paid
    out = {}
    for run in runs:
        total = 0.0
        if not run.stored:
            n_train = teacher_task(cfg, task).size("train") if run.kind == "teacher" else task.size("train")
            total += RUN_OVERHEAD_S
            for st in run.stages:
                train, infer = _speeds(cfg.arch(st.trains), task, batch, rt, cfg.optim_for(st.trains))
                total += st.epochs * (n_train / train + n_eval / infer + EPOCH_OVERHEAD_S)
                # the test split at the last epoch, again at the selected one where it differs (in
                # about half the runs), the extra splits once
                total += (TEST_PASSES * n_test + n_extra) / infer
                if st.teacher:
                    teacher_infer = _speeds(cfg.arch(st.teacher), task, batch, rt, cfg.optim_for(st.teacher))[1]
                    source = run.needs.get(st.teacher) or run.recipe.get("teacher") or st.teacher  # that model
                    for epoch in range(st.epochs):
                        stream = (source, run.seed, epoch) if task.augmented else (source, 0, 0)
                        if stream not in paid:
                            total += n_train / teacher_infer
                            if cfg.cache.enabled or not task.augmented:
                                paid.add(stream)
            if run.kind == "method" and run.recipe.get("teacher"):  # its fidelity: the student's test
                if ("teacher-test", 0, 0) not in paid:  # outputs are at hand, the teacher's computed once
                    total += n_test / _speeds(cfg.teacher, task, batch, rt, cfg.optim_for("teacher"))[1]
                    paid.add(("teacher-test", 0, 0))
        out[run.name] = total
    return out


def format_plan(cfg: BenchConfig, runs: list[Run], seconds: dict[str, float], task: Task) -> str:
    sizes = " / ".join(f"{task.size(s)} {s}" for s in ("train", "val", "test"))
    lines = [
        f"Plan: benchmark {cfg.benchmark}, profile {cfg.profile}: {len(runs)} runs, seeds {cfg.seeds}; {sizes} samples",
        f"Data: {task.describe()}",
    ]
    for run in runs:
        desc = " + ".join(
            f"{st.name}:{cfg.arch(st.trains)}x{st.epochs}ep" + (f"<-{st.teacher}" if st.teacher else "")
            for st in run.stages
        )
        state = "stored, reused" if run.stored else f"~{seconds[run.name] / 60:.1f} min"
        state += ", resumes from its checkpoint" if run.resumes else ""
        lines.append(f"  {run.name:<22} {desc:<58} {state}")
    total = sum(seconds.values())
    if any(st.teacher for run in runs for st in run.stages):
        if not task.augmented:
            lines.append("Teacher outputs: one pass over the training split serves every epoch (no augmentation)")
        elif cfg.cache.enabled:
            where = Path(cfg.cache.dir or default_cache_dir())
            lines.append(f"Teacher outputs: computed once per (seed, epoch), cached in {where} ({cfg.cache.dtype})")
        else:
            lines.append("Teacher outputs: computed live on every batch (cache off)")
    lines.append(f"Estimated duration: {total / 60:.1f} min (from timing probes on this machine)")
    return "\n".join(lines)
