"""Executors (``nox -s perf``, part ``jobs``): the fashion_mnist smoke benchmark (teacher, TAs, four
methods x two seeds) run whole, from an empty store, in this process against a local pool.

- in-process with the default threads (what ``nox -s bench_*`` does on this machine);
- in-process with 1 thread (the pool workers' setting: the same numbers bit for bit);
- ``--executor pool --workers 2``, one thread each.

Then in-process against the pool again with 4x the training images (2,048), where training
outweighs each process's start-up and each job's fixed costs (MLflow, store). Each runs as its own
``akd bench`` process on a Fashion-MNIST fixture (gzipped IDX), so start-up (imports, data) counts
as a user pays it. Goal: the pool at least 1.2x faster than in-process on 2 cores.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from akd.fixtures import write_fashion_mnist

ROOT = Path(__file__).resolve().parent.parent
MODES = {
    "inline": [],
    "inline-1thread": ["--threads", "1"],
    "pool-2x1": ["--executor", "pool", "--workers", "2"],
}
VOLATILE = ("seconds", "_forward_images", "_epochs_computed", "_epochs_cached")


LARGER = ["--set", "data.train_subset=2048"]


def _bench(workdir: Path, mode: str, data: Path, extra: list[str]) -> float:
    cwd = workdir / f"jobs-{mode}"
    cwd.mkdir()
    args = [sys.executable, "-m", "akd.cli", "bench", "fashion_mnist", "--profile", "smoke", "--data-dir", str(data),
            "--store-dir", "store", "--results-dir", "results", "--cache-dir", "cache",
            "--tracking-uri", f"sqlite:///{cwd / 'mlflow.db'}", *extra]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"akd bench ({mode}) failed: {done.stderr[-500:]}")
    return wall


def _rows(workdir: Path, mode: str) -> pd.DataFrame:
    (path,) = (workdir / f"jobs-{mode}" / "results" / "fashion_mnist").glob("*/runs.csv")
    table = pd.read_csv(path)
    return table[[c for c in table.columns if not c.endswith(VOLATILE)]]


CEILING_STEPS = 150  # per one-thread process; the two-thread process takes twice as many


def train_steps(threads: int, steps: int) -> float:
    """Seconds for ``steps`` SGD steps of resnet8 on a batch of 64 Fashion-MNIST-sized images."""
    import torch

    from akd.models import build_model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_model("resnet8", 1, 10).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = torch.randn(64, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (64,))

    def step() -> None:
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return time.perf_counter() - start


def _steps_process(threads: int, steps: int) -> subprocess.Popen:
    code = f"from benchmarks.perf_jobs import train_steps; print(train_steps({threads}, {steps}))"
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)


def pool_ceiling() -> dict:
    """What two one-thread processes can do against one two-thread process on this machine, on
    training alone (no start-up, no serial teacher): the most a 2-worker pool could gain."""
    one = float(_steps_process(2, 2 * CEILING_STEPS).communicate()[0])
    pair = [_steps_process(1, CEILING_STEPS) for _ in range(2)]
    two = max(float(p.communicate()[0]) for p in pair)
    alone = float(_steps_process(1, CEILING_STEPS).communicate()[0])
    return {"two_threads_s": one, "two_processes_s": two, "one_thread_alone_s": alone, "ceiling": one / two}


def jobs_timing(workdir: Path, log) -> dict:
    ceiling = pool_ceiling()
    log(f"pool ceiling (training only): {ceiling['ceiling']:.2f}x")
    data = workdir / "fashion"
    write_fashion_mnist(data, n_train=2850, n_test=512)
    walls = {mode: _bench(workdir, mode, data, extra) for mode, extra in MODES.items()}
    for mode in ("inline", "pool-2x1"):
        walls[f"{mode}-2048"] = _bench(workdir, f"{mode}-2048", data, MODES[mode] + LARGER)
    for mode, wall in walls.items():
        log(f"fashion_mnist smoke, {mode}: {wall:.1f} s")
    same = _rows(workdir, "pool-2x1").equals(_rows(workdir, "inline-1thread"))
    return {
        "wall_s": walls,
        "pool_speedup": walls["inline"] / walls["pool-2x1"],
        "pool_speedup_vs_1thread": walls["inline-1thread"] / walls["pool-2x1"],
        "pool_speedup_2048": walls["inline-2048"] / walls["pool-2x1-2048"],
        "pool_equals_inline_1thread": same,
        "ceiling": ceiling,
    }


def jobs_lines(j: dict) -> list[str]:
    w, c = j["wall_s"], j["ceiling"]
    return [
        "",
        "Executors: the fashion_mnist smoke benchmark (teacher, 2 TAs, 4 methods x 2 seeds: 11 jobs) from an "
        "empty store, each an `akd bench` process (start-up included):",
        "",
        "| executor | seconds | in-process / this |",
        "|---|---:|---:|",
        f"| in-process, default threads | {w['inline']:.1f} | 1.00 |",
        f"| in-process, 1 thread | {w['inline-1thread']:.1f} | {w['inline'] / w['inline-1thread']:.2f} |",
        f"| pool, 2 workers x 1 thread | {w['pool-2x1']:.1f} | **{j['pool_speedup']:.2f}** |",
        f"| 2,048 training images: in-process, default threads | {w['inline-2048']:.1f} | 1.00 |",
        f"| 2,048 training images: pool, 2 workers x 1 thread | {w['pool-2x1-2048']:.1f} | "
        f"**{j['pool_speedup_2048']:.2f}** |",
        "",
        "The pool's runs.csv equals the 1-thread in-process run's (every metric but times and counters): "
        f"{'yes' if j['pool_equals_inline_1thread'] else 'NO'}. The goal is a pool at least 1.2x faster "
        "than in-process on 2 cores.",
        "",
        f"The ceiling on this machine, training alone ({2 * CEILING_STEPS} SGD steps of resnet8, batch 64): one "
        f"process with 2 threads {c['two_threads_s']:.2f} s; two 1-thread processes at once, {CEILING_STEPS} steps "
        f"each, {c['two_processes_s']:.2f} s (one alone: {c['one_thread_alone_s']:.2f} s). torch's two threads "
        f"already run {2 * c['one_thread_alone_s'] / c['two_threads_s']:.2f}x faster than one, so a pool of 2 "
        f"one-thread workers can be at most **{c['ceiling']:.2f}x** faster than in-process here, before start-up, "
        "the teacher (only No-KD trains beside it) and the summary.",
    ]
