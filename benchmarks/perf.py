"""Performance benchmark (``nox -s perf``): where a KD epoch's time goes, and what the cache saves.

In one run, on CIFAR-100-shaped data (synthetic images in the real pickle layout), student resnet8,
batch 128, for each teacher (resnet110, resnet56):

  (a) the student's pure training step on ready tensors: the compute floor on this machine;
  (b) one KD epoch through the suite (``akd.engine.train_epoch``) with the teacher-output cache warm;
  (c) the same epoch with the teacher run live on every batch (inference mode);
  (d) the same epoch through a reference-style pipeline written below: a torchvision DataLoader
      with per-image PIL transforms, NCHW tensors, and the teacher run every batch with autograd
      recording it (so the KD loss back-propagates into the teacher, as in the released code).

Then whole-suite timings: the 4-method x 2-seed ``smoke`` benchmark and a 6-trial Annealing-KD
sweep shape (six phase-1 runs, tau_max 1..6, one seed), each with the cache on and off, with the
teacher forward passes each made. Timings are ratios inside one run; nothing here is a test.
Writes ``results/perf/summary.md`` and ``summary.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from itertools import islice
from pathlib import Path

import torch

import akd.catalog  # noqa: F401  (registers every method, model and dataset)
from akd.bench import init_model, run_benchmark, runtime_for
from akd.benchfile import load_benchmark
from akd.cache import LogitCache
from akd.config import BenchConfig, DataConfig
from akd.fixtures import write_cifar
from akd.hashing import atomic_write
from akd.losses import kd_loss
from akd.provenance import git_state, library_versions
from akd.runtime import Runtime
from akd.store import ModelStore
from akd.tasks.base import load_task
from akd.tasks.image import ImageTask
from akd.teacher import FrozenLogits, forward_totals
from akd.tracking import Tracker
from baselines.kd import HintonKD
from benchmarks.perf_glue import glue_timing
from benchmarks.perf_jobs import jobs_timing
from benchmarks.perf_methods import method_epoch, methods_report, methods_timing, pure_steps, seconds
from benchmarks.perf_report import BATCH, STUDENT, cpu_name, report
from benchmarks.perf_sweep import trials_timing

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("epoch", "methods", "smoke", "sweep", "trials", "jobs", "glue")


# ---------------------------------------------------------------- measuring
def _peak_mb(device: torch.device) -> float:
    """This process's peak memory: resident set on CPU (each measurement has its own process), or
    the CUDA caching allocator's peak."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 1e6
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3  # kB on Linux


def teacher_model(arch: str, data: ImageTask, rt: Runtime) -> torch.nn.Module:
    """A randomly initialised teacher whose BatchNorm statistics are the exact averages over a few
    batches, so its eval-mode logits have a sane scale (only its speed is measured)."""
    model = init_model(BenchConfig(teacher=arch), "teacher", 0, data, rt)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        for _, x, _ in islice(ImageTask(DataConfig(dataset="cifar100"), data.data).train_batches(0, 0, BATCH), 4):
            model(rt.layout(x))
    for m in norms:
        m.momentum = 0.1
    return model.eval()


def suite_epoch(student, source, data, cfg, rt: Runtime) -> None:
    """(b) and (c): one KD epoch of the suite's own training loop."""
    method_epoch(student, source, data, cfg, rt, HintonKD(4.0, 0.9, 0.1))


def reference_epoch(student, teacher, task: ImageTask, max_batches: int | None = None) -> None:
    """(d): the pattern of the released KD code: PIL transforms per image, DataLoader, NCHW, and
    the teacher called on every batch outside no_grad/inference mode, its output not detached."""
    from PIL import Image
    from torchvision import transforms

    data = task.data
    mean = (data.mean.flatten() / 255).tolist()
    std = (data.std.flatten() / 255).tolist()
    transform = transforms.Compose(
        [
            transforms.RandomCrop(32, padding=4),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(mean, std),
        ]
    )
    images = data.train.images.permute(0, 2, 3, 1).cpu().numpy()  # HWC, as torchvision's CIFAR holds them
    labels = data.train.labels.cpu().tolist()

    class PILDataset(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(labels)

        def __getitem__(self, i: int):
            return transform(Image.fromarray(images[i])), labels[i]

    loader = torch.utils.data.DataLoader(PILDataset(), batch_size=BATCH, shuffle=True, num_workers=0)
    opt = torch.optim.SGD(student.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    student.train()
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(True)
    for x, y in islice(loader, max_batches):
        teacher_out = teacher(x)
        loss = kd_loss(student(x), teacher_out, y, 4.0, 0.9, 0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()


def _quiet(*_: object) -> None:
    """A log that prints nothing (the whole-benchmark timings run without their chatter)."""


def _data_settings(data_dir: str, images: int) -> dict:
    return {"data_dir": data_dir, "train_subset": images, "val_subset": 128, "test_subset": 128}


def _epoch_config(data_dir: str, images: int):
    settings = {"data": _data_settings(data_dir, images), "optim": {"batch_size": BATCH, "lr": 0.01}}
    return load_benchmark("cifar100", "smoke", settings)


def measure(task: dict) -> dict:
    """One measurement ("ab", "c" or "d"), run in a fresh process so its peak memory is its own."""
    if task["threads"]:
        torch.set_num_threads(task["threads"])
    rt = Runtime(torch.device(task["device"]), channels_last=task["channels_last"], amp=task["amp"])
    cfg = _epoch_config(task["data_dir"], task["images"])
    data = load_task(cfg, rt.device)
    kind, arch = task["kind"], task["teacher"]
    layout = rt if kind != "d" else Runtime(rt.device, channels_last=False, amp=rt.amp)
    teacher = layout.place(data.build_model(arch))
    teacher.load_state_dict(torch.load(task["teacher_file"]))
    student = init_model(BenchConfig(student=STUDENT), "student", 0, data, layout)
    batches = data.train_batches(0, 0, BATCH)
    ready = [(rt.layout(x), y) for _, x, y in (batches if kind == "ab" else islice(batches, 2))]
    pure_steps(student, ready[:2])  # warm-up: first calls build kernels and allocator pools
    if kind == "ab":
        source = FrozenLogits(teacher, "teacher", arch, data, 0, BATCH, rt, LogitCache(task["cache_dir"]))
        suite_epoch(student, source, data, cfg, rt)
        pairs = []
        for _ in range(task["repeats"]):  # adjacent pairs see the same machine state
            a = seconds(rt.device, pure_steps, student, ready)
            pairs.append((a, seconds(rt.device, suite_epoch, student, source, data, cfg, rt)))
        if source.computed:
            raise RuntimeError("the cache was not warm: the teacher ran during (b)")
        times = pairs
    elif kind == "c":
        source = FrozenLogits(teacher, "teacher", arch, data, 0, BATCH, rt, None)
        x = ready[0][0]
        source.batch(torch.arange(len(x)), x)  # warm-up: one teacher forward
        times = [seconds(rt.device, suite_epoch, student, source, data, cfg, rt)]
    else:
        reference_epoch(student, teacher, data, max_batches=1)
        times = [seconds(rt.device, reference_epoch, student, teacher, data)]
    return {"times": times, "peak_mb": _peak_mb(rt.device)}


def isolated(task: dict) -> dict:
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(measure, task).result()


def epoch_table(args, workdir: Path, rt: Runtime, log) -> tuple[list[dict], dict]:
    cfg = _epoch_config(str(workdir / "data"), args.images)
    data = load_task(cfg, rt.device)
    n = data.size("train")
    base = {
        "device": str(rt.device),
        "channels_last": rt.channels_last,
        "amp": rt.amp,
        "threads": args.threads,
        "data_dir": str(workdir / "data"),
        "images": args.images,
        "repeats": args.repeats,
    }
    rows, cache_bytes = [], {}
    for arch in args.teachers:
        log(f"-- teacher {arch}, student {STUDENT}, {n} images, batch {BATCH}")
        teacher = teacher_model(arch, data, rt)
        teacher_file = workdir / f"teacher-{arch}.pt"
        torch.save(teacher.state_dict(), teacher_file)
        cache_dir = workdir / f"cache-{arch}"
        FrozenLogits(teacher, "teacher", arch, data, 0, BATCH, rt, LogitCache(cache_dir)).start_epoch(0)
        cache_bytes[arch] = next(cache_dir.glob("*/epoch-0000.npy")).stat().st_size
        task = {**base, "teacher": arch, "teacher_file": str(teacher_file), "cache_dir": str(cache_dir)}
        ab = isolated({**task, "kind": "ab"})
        a_times, b_times = [p[0] for p in ab["times"]], [p[1] for p in ab["times"]]
        a, b = statistics.median(a_times), statistics.median(b_times)
        log(f"(a) pure step      {n / a:8.0f} img/s")
        log(f"(b) cache warm     {n / b:8.0f} img/s")
        c_res = isolated({**task, "kind": "c"})
        c = c_res["times"][0]
        log(f"(c) teacher live   {n / c:8.0f} img/s")
        d_res = isolated({**task, "kind": "d"})
        d = d_res["times"][0]
        log(f"(d) reference      {n / d:8.0f} img/s")
        rows.append(
            {
                "teacher": arch,
                "images": n,
                "a_img_s": n / a,
                "b_img_s": n / b,
                "c_img_s": n / c,
                "d_img_s": n / d,
                "b_over_a": statistics.median(bt / at for at, bt in ab["times"]),
                "c_over_b": c / b,
                "d_over_b": d / b,
                "peak_mb": {"ab": ab["peak_mb"], "c": c_res["peak_mb"], "d": d_res["peak_mb"]},
                "a_runs_s": a_times,
                "b_runs_s": b_times,
            }
        )
    return rows, {"bytes_per_epoch": cache_bytes, "images": n, "classes": data.num_outputs}


# ---------------------------------------------------------------- whole-suite timings
def smoke_timing(workdir: Path, tracker: Tracker, log) -> dict:
    """The 4-method x 2-seed smoke benchmark, cache off and on, from the same stored teacher."""
    base = {"data": {"data_dir": str(workdir / "data"), "test_subset": 300}}  # the fixture's whole test set
    seed_store = workdir / "smoke-teacher"
    teacher_only = load_benchmark(
        "cifar100", "smoke", {**base, "methods": ["kd"], "seeds": [0], "cache": {"enabled": False}}
    )
    run_benchmark(teacher_only, tracker, ModelStore(seed_store), None, log=_quiet)
    for meta in seed_store.glob("*/meta.json"):  # keep the teacher only: its KD run is no part of the timing
        if json.loads(meta.read_text())["recipe"].get("job") == "method":
            shutil.rmtree(meta.parent)
    out = {}
    for mode, enabled in (("off", False), ("on", True)):
        store = workdir / f"smoke-store-{mode}"
        shutil.copytree(seed_store, store)
        cache_dir = str(workdir / f"smoke-cache-{mode}")
        cfg = load_benchmark("cifar100", "smoke", {**base, "cache": {"enabled": enabled, "dir": cache_dir}})
        t0 = time.perf_counter()
        rows = run_benchmark(cfg, tracker, ModelStore(store), None, log=_quiet)
        wall = time.perf_counter() - t0
        out[mode] = {"wall_s": wall, **forward_totals(rows)}
        log(f"smoke benchmark, cache {mode}: {wall:.1f} s, {forward_totals(rows)}")
    return out


def sweep_timing(args, workdir: Path, tracker: Tracker, rt: Runtime, log) -> dict:
    """Six Annealing-KD phase-1 runs (tau_max 1..6), one seed, teacher resnet110: cache off and on."""
    teacher_file = workdir / "teacher-resnet110.pt"
    common = {
        "teacher": "resnet110",
        "student": STUDENT,
        "methods": ["annealing"],
        "seeds": [0],
        "optim": {"batch_size": BATCH},
        "data": _data_settings(str(workdir / "data"), args.sweep_images),
    }
    probe = load_benchmark("cifar100", "smoke", common)
    torch.save(teacher_model("resnet110", load_task(probe, rt.device), rt).state_dict(), teacher_file)
    trials: dict[str, list[dict]] = {"off": [], "on": []}
    for tau in range(1, 7):
        # off and on trials alternate, so a slow spell of the machine falls on both alike
        for mode in ("off", "on"):
            over = {
                **common,
                "teacher_checkpoint": str(teacher_file),
                "annealing": {"tau_max": tau, "phase1_epochs": args.sweep_epochs, "phase2_epochs": 0},
                "cache": {"enabled": mode == "on", "dir": str(workdir / "sweep-cache")},
            }
            cfg = load_benchmark("cifar100", "smoke", over)
            store = ModelStore(workdir / f"sweep-store-{mode}")  # each mode checks the teacher file once
            if tau == 1 and mode == "off":  # plan once untimed: model-speed probes are memoised per process
                run_benchmark(cfg, None, store, None, dry_run=True, log=_quiet)
            t0 = time.perf_counter()
            rows = run_benchmark(cfg, tracker, store, None, log=_quiet)
            trials[mode].append({"tau_max": tau, "wall_s": time.perf_counter() - t0, **forward_totals(rows)})
            log(f"sweep trial tau_max={tau}, cache {mode}: {trials[mode][-1]['wall_s']:.1f} s")
    out = {}
    for mode, runs in trials.items():
        out[mode] = {"wall_s": sum(t["wall_s"] for t in runs), "trials": runs, **forward_totals(runs)}
        log(
            f"sweep shape, cache {mode}: {out[mode]['wall_s']:.1f} s, teacher epochs computed "
            f"{out[mode].get('teacher_epochs_computed', 0):.0f}"
        )
    return out


# ---------------------------------------------------------------- report
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--teachers", nargs="+", default=["resnet110", "resnet56"])
    parser.add_argument("--images", type=int, default=2560, help="images per timed epoch (default 2560)")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of the short measurements (a), (b)")
    parser.add_argument("--sweep-images", type=int, default=768, help="training images per sweep trial")
    parser.add_argument("--sweep-epochs", type=int, default=6)
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--glue-sentences", type=int, default=640, help="training sentences per timed GLUE epoch")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "results" / "perf"))
    args = parser.parse_args(argv)
    base = load_benchmark("cifar100", "smoke", {"device": args.device, "threads": args.threads})
    rt = runtime_for(base)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with tempfile.TemporaryDirectory(prefix="akd-perf-") as tmp:
        workdir = Path(tmp)
        write_cifar(workdir / "data", "cifar100", n_train=max(args.images, args.sweep_images) + 600, n_test=300)
        rows, cache_info = epoch_table(args, workdir, rt, print) if "epoch" in args.parts else ([], None)
        methods = None
        if "methods" in args.parts:
            methods = methods_timing(workdir / "data", workdir / "cache-methods", args.images, args.repeats, rt, print)
        tracker = Tracker(f"sqlite:///{workdir / 'mlflow.db'}", experiment="akd-perf")
        smoke = smoke_timing(workdir, tracker, print) if "smoke" in args.parts else None
        sweep = sweep_timing(args, workdir, tracker, rt, print) if "sweep" in args.parts else None
        trials = trials_timing(workdir, args.sweep_images, print) if "trials" in args.parts else None
        jobs = jobs_timing(workdir, print) if "jobs" in args.parts else None
    glue = glue_timing(ROOT / "data", args.glue_sentences, args.repeats, rt, print) if "glue" in args.parts else None
    meta = {
        "machine": f"{cpu_name()}, {os.cpu_count()} cores",
        "threads": torch.get_num_threads(),
        "device": str(rt.device),
        "channels_last": rt.channels_last,
        "versions": library_versions(),
        "date": started,
        **git_state(),
    }
    text = report(meta, rows, cache_info, smoke, sweep, glue, trials, jobs)
    print()
    print(text)
    if methods is not None:  # its own file: written by a partial run too
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / "methods.json", json.dumps({"meta": meta, **methods}, indent=2, default=float))
        atomic_write(out / "methods.md", methods_report(meta, methods))
        print(methods_report(meta, methods))
    if len(args.parts) < len(PARTS):
        print("A partial run (--parts): summary.md not written" + (" (methods.md is)." if methods is not None else "."))
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "meta": meta,
        "epoch": rows,
        "cache": cache_info,
        "smoke": smoke,
        "sweep": sweep,
        "trials": trials,
        "jobs": jobs,
        "glue": glue,
    }
    atomic_write(out / "summary.json", json.dumps(payload, indent=2, default=float))
    atomic_write(out / "summary.md", text)
    print(f"Written to {out / 'summary.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
