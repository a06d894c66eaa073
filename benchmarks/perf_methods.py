"""Each distillation method's epoch with cached teacher outputs, over the student's own step (``nox -s perf``).

For every method that learns from the teacher (KD, Annealing-KD's phase 1, CTKD, DKD, DIST,
MSE-logit), one epoch of the suite's loop (``akd.engine.train_epoch``, teacher outputs from a warm
cache) is timed against (a), the student's pure training step on the same ready tensors, in adjacent
pairs; the ratio is the median over the pairs. The objective is built from the method's spec with
the cifar100 smoke profile's settings, set up as the engine does (CTKD's temperature joins the
optimiser). A ratio is of times inside one run; nothing here is a test. ``--parts methods`` writes
``results/perf/methods.md`` and ``methods.json``.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from akd.bench import init_model
from akd.benchfile import load_benchmark
from akd.cache import LogitCache
from akd.config import BenchConfig
from akd.engine import train_epoch
from akd.methods import Objective, build_stages
from akd.optim import Recipe
from akd.runtime import Runtime
from akd.tasks.base import load_task
from akd.teacher import FrozenLogits
from benchmarks.perf_report import BATCH, STUDENT

METHODS = ("kd", "annealing", "ctkd", "dkd", "dist", "mse_logit")
TEACHER = "resnet56"
LIMIT = 1.15  # the bound on (method epoch) / (pure student step)


def seconds(device: torch.device, fn: Callable[..., object], *args: object) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()  # the GPU's queue drained before and after
    fn(*args)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def pure_steps(student: torch.nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    """(a): forward + backward + SGD on ready tensors, nothing else: the student's compute floor."""
    opt = torch.optim.SGD(student.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    student.train()
    for x, y in batches:
        loss = F.cross_entropy(student(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def method_epoch(student, source, task, cfg: BenchConfig, rt: Runtime, objective: Objective) -> None:  # noqa: ANN001
    """One epoch of the suite's loop with ``objective``, set up as ``akd.engine.train_stage`` does."""
    objective = copy.deepcopy(objective)
    objective.setup(task.num_outputs, rt.device)
    recipe = Recipe(cfg.optim, student, 1, task.steps_per_epoch(BATCH), objective.parameters(), objective.lr_scale)
    student.train()
    train_epoch(student, recipe, objective, source, task, 0, 0, rt)


def teacher_objective(method: str, cfg: BenchConfig) -> Objective:
    return next(st.objective for st in build_stages(method, cfg) if st.teacher == "teacher")


def methods_timing(data_dir: Path, cache_dir: Path, images: int, repeats: int, rt: Runtime, log) -> dict:  # noqa: ANN001
    data = {"data_dir": str(data_dir), "train_subset": images, "val_subset": 128, "test_subset": 128}  # as perf.py's
    settings = {"data": data, "optim": {"batch_size": BATCH, "lr": 0.01}}
    cfg = load_benchmark("cifar100", "smoke", settings)
    task = load_task(cfg, rt.device)
    torch.manual_seed(0)
    teacher = rt.place(task.build_model(TEACHER)).eval()
    FrozenLogits(teacher, "teacher", TEACHER, task, 0, BATCH, rt, LogitCache(cache_dir)).start_epoch(0)  # the fill
    source = FrozenLogits(teacher, "teacher", TEACHER, task, 0, BATCH, rt, LogitCache(cache_dir))  # reads only
    student = init_model(BenchConfig(student=STUDENT), "student", 0, task, rt)
    ready = [(rt.layout(x), y) for _, x, y in task.train_batches(0, 0, BATCH)]
    pure_steps(student, ready[:2])  # warm-up
    rows = []
    for method in METHODS:
        objective = teacher_objective(method, cfg)
        method_epoch(student, source, task, cfg, rt, objective)  # warm-up
        pairs = [
            (
                seconds(rt.device, pure_steps, student, ready),
                seconds(rt.device, method_epoch, student, source, task, cfg, rt, objective),
            )
            for _ in range(repeats)
        ]
        if source.computed:
            raise RuntimeError("the cache was not warm: the teacher ran during a timed epoch")
        ratio = statistics.median(b / a for a, b in pairs)
        rows.append({"method": method, "objective": type(objective).__name__, "ratio": ratio, "pairs_s": pairs})
        log(f"{method:<10} epoch / pure step {ratio:.3f}")
    return {"images": task.size("train"), "teacher": TEACHER, "student": STUDENT, "limit": LIMIT, "rows": rows}


def methods_report(meta: dict, timing: dict) -> str:
    lines = [
        "# Each method's KD epoch over the student's own step",
        "",
        f"{meta['machine']}, {meta['threads']} torch threads, device {meta['device']}; {meta['date']}; "
        f"code {meta.get('git_commit', '?')[:12]}. Teacher {timing['teacher']} (outputs cached), student "
        f"{timing['student']}, {timing['images']} CIFAR-100-shaped images, batch {BATCH}.",
        "",
        "| method | objective | epoch / pure step (median of adjacent pairs) | lowest, highest pair | within 1.15 |",
        "|---|---|---|---|---|",
    ]
    for r in timing["rows"]:
        ratios = [b / a for a, b in r["pairs_s"]]
        lines.append(
            f"| {r['method']} | {r['objective']} | {r['ratio']:.3f} | {min(ratios):.3f}, {max(ratios):.3f} "
            f"| {'yes' if r['ratio'] <= LIMIT else 'NO'} |"
        )
    lines += [
        "",
        "The pure step is forward, cross-entropy, backward and SGD on ready tensors; the method's epoch is the "
        "suite's loop: batches from the task, teacher outputs read from the cache, the method's loss, its "
        "parameters (CTKD's temperature) in the optimiser, the learning-rate schedule, running metrics.",
    ]
    return "\n".join(lines) + "\n"
