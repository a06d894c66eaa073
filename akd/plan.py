"""From a resolved config to the list of runs a benchmark performs, with a time estimate.

Runs: the teacher (trained once, or loaded), then per seed the shared stages (TAKD's TA, once per
seed however many methods need it) and one run per method. Shared models are keyed by their full
recipe, so the plan can say which are already stored and will not be trained again.
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from akd.cache import default_cache_dir
from akd.config import BenchConfig
from akd.data import SplitData
from akd.methods import CrossEntropy, Stage, build_stages
from akd.models import build_model
from akd.runtime import Runtime
from akd.store import ModelStore, file_sha256, recipe_key


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


def data_identity(cfg: BenchConfig, data: SplitData) -> dict:
    return {"config": asdict(cfg.data) | {"data_dir": None}, "fingerprint": data.fingerprint}


def user_checkpoint(cfg: BenchConfig, role: str) -> str:
    """The checkpoint the user named for ``role`` (teacher or ta), or ""."""
    return getattr(cfg, f"{role}_checkpoint", "")


def _checkpoint_recipe(cfg: BenchConfig, role: str, data: SplitData) -> dict:
    """A user checkpoint is keyed by its bytes and the data its stored accuracies were measured on."""
    path = user_checkpoint(cfg, role)
    return {
        "checkpoint": path,
        "sha256": file_sha256(Path(path)),
        "arch": getattr(cfg, role),
        "data": data_identity(cfg, data),
    }


def teacher_recipe(cfg: BenchConfig, data: SplitData) -> dict:
    if cfg.teacher_checkpoint:
        return _checkpoint_recipe(cfg, "teacher", data)
    return {
        "role": "teacher",
        "arch": cfg.teacher,
        "epochs": cfg.teacher_epochs,
        "seed": cfg.teacher_seed,
        "objective": "CrossEntropy",
        "optim": asdict(cfg.optim),
        "data": data_identity(cfg, data),
    }


def shared_recipe(cfg: BenchConfig, data: SplitData, stage: Stage, seed: int, teacher_key: str) -> dict:
    if user_checkpoint(cfg, stage.trains):
        return _checkpoint_recipe(cfg, stage.trains, data)
    return {
        "role": stage.trains,
        "arch": getattr(cfg, stage.trains),
        "stage": stage.name,
        "epochs": stage.epochs,
        "seed": seed,
        "objective": stage.objective.describe(),
        "teacher": teacher_key,
        "optim": asdict(cfg.optim),
        "data": data_identity(cfg, data),
    }


def build_plan(cfg: BenchConfig, data: SplitData, store: ModelStore) -> list[Run]:
    recipe = teacher_recipe(cfg, data)
    teacher_key = recipe_key(recipe)
    runs: list[Run] = []
    if any(st.teacher for m in cfg.methods for st in build_stages(m, cfg)):  # else no teacher is needed
        runs.append(
            Run(
                "teacher",
                "teacher",
                cfg.teacher_seed,
                [Stage("teacher", "teacher", cfg.teacher_epochs, CrossEntropy())],
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
                recipe = shared_recipe(cfg, data, stage, seed, teacher_key)
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
                            stored=bool(user_checkpoint(cfg, stage.trains)) or store.has(key),
                        )
                    )
            runs.append(Run(f"{method}/seed{seed}", "method", seed, own, method=method, needs=needs))
    return runs


@functools.cache
def _speeds(arch: str, shape: tuple[int, ...], classes: int, batch: int, rt: Runtime) -> tuple[float, float]:
    """(train, inference) images/s of ``arch`` on this machine, from a few steps on random data.

    Memoised per process, so a sweep that plans many trials probes each model once.
    """
    model = rt.place(build_model(arch, shape[0], classes))
    x = rt.layout(torch.randn((batch, *shape), device=rt.device))
    y = torch.randint(0, classes, (batch,), device=rt.device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def train_step() -> None:
        with rt.autocast():
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    train_step()
    t0 = time.perf_counter()
    for _ in range(4):
        train_step()
    train = 4 * batch / (time.perf_counter() - t0)
    model.eval()
    with torch.inference_mode(), rt.autocast():
        model(x)
        t0 = time.perf_counter()
        for _ in range(2):
            model(x)
        infer = 2 * batch / (time.perf_counter() - t0)
    return train, infer


def estimate_seconds(cfg: BenchConfig, runs: list[Run], data: SplitData, rt: Runtime) -> dict[str, float]:
    """Seconds each run will take, from short timing probes of the models it trains or runs.

    With the teacher-output cache on, a teacher epoch (role, seed, epoch) is paid for once in the
    plan: later stages that need it read it from the cache.
    """
    shape, classes, batch = tuple(data.train.images.shape[1:]), data.num_classes, cfg.optim.batch_size
    n_train, n_eval = len(data.train), len(data.val)
    paid: set[tuple[str, int, int]] = set()
    out = {}
    for run in runs:
        total = 0.0
        if not run.stored:
            for st in run.stages:
                arch = getattr(cfg, st.trains)
                train, infer = _speeds(arch, shape, classes, batch, rt)
                total += st.epochs * (n_train / train + n_eval / infer)
                if st.teacher:
                    teacher_infer = _speeds(getattr(cfg, st.teacher), shape, classes, batch, rt)[1]
                    for epoch in range(st.epochs):
                        if (st.teacher, run.seed, epoch) not in paid:
                            total += n_train / teacher_infer
                            if cfg.cache.enabled:
                                paid.add((st.teacher, run.seed, epoch))
        out[run.name] = total
    return out


def format_plan(cfg: BenchConfig, runs: list[Run], seconds: dict[str, float], data: SplitData) -> str:
    lines = [
        f"Plan: benchmark {cfg.benchmark}, profile {cfg.profile}: {len(runs)} runs, seeds {cfg.seeds}; "
        f"{len(data.train)} train / {len(data.val)} val / {len(data.test)} test images",
        f"Data: {cfg.data.dataset} read from {data.source or '?'} (fingerprint {data.fingerprint})",
    ]
    for run in runs:
        desc = " + ".join(
            f"{st.name}:{getattr(cfg, st.trains)}x{st.epochs}ep" + (f"<-{st.teacher}" if st.teacher else "")
            for st in run.stages
        )
        state = "stored, reused" if run.stored else f"~{seconds[run.name] / 60:.1f} min"
        lines.append(f"  {run.name:<22} {desc:<58} {state}")
    total = sum(seconds.values())
    if any(st.teacher for run in runs for st in run.stages):
        if cfg.cache.enabled:
            where = Path(cfg.cache.dir or default_cache_dir())
            lines.append(f"Teacher outputs: computed once per (seed, epoch), cached in {where} ({cfg.cache.dtype})")
        else:
            lines.append("Teacher outputs: computed live on every batch (cache off)")
    lines.append(f"Estimated duration: {total / 60:.1f} min (from timing probes on this machine)")
    return "\n".join(lines)
