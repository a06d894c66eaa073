"""The teacher-output cache: bitwise-equal training, keys that miss on any change, atomic and
locked writes, corruption detection, eviction, fp16 error bound."""

from __future__ import annotations

import multiprocessing as mp
import time

import pytest
import torch

from akd.bench import init_model
from akd.cache import LogitCache, state_digest
from akd.config import BenchConfig, DataConfig
from akd.engine import StageJob, train_stage
from akd.methods import Stage
from akd.runtime import Runtime
from akd.tasks.image import ImageTask
from akd.teacher import FrozenLogits
from baselines.kd import HintonKD
from tests.conftest import tiny_cifar

RT = Runtime(torch.device("cpu"))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    cfg, data = tiny_cifar(tmp_path_factory.mktemp("cifar"), "cifar100", n_train=300, n_test=40, batch_size=64)
    teacher = init_model(cfg, "teacher", 5, data, RT)
    return cfg, data, teacher


@pytest.fixture
def deterministic():
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(before)


def _kd_student(cfg, data, teacher, cache, seed=0, epochs=2):
    """Train a student by KD for ``epochs``; return its weights and the source's counters."""
    stage = Stage("main", "student", epochs, HintonKD(4.0, 0.9, 0.1), teacher="teacher")
    student = init_model(cfg, "student", seed, data, RT)
    source = FrozenLogits(teacher, "teacher", cfg.teacher, data, seed, cfg.optim.batch_size, RT, cache)
    train_stage(StageJob(stage, student, source, data, cfg.optim, seed, RT))
    return {k: v.clone() for k, v in student.state_dict().items()}, source.counts()


def test_student_from_cache_is_bitwise_equal_to_live_teacher(setup, tmp_path, deterministic):
    cfg, data, teacher = setup
    cache = LogitCache(tmp_path / "cache")
    filled, fill_counts = _kd_student(cfg, data, teacher, cache)
    cached, hit_counts = _kd_student(cfg, data, teacher, cache)
    live, live_counts = _kd_student(cfg, data, teacher, None)
    n = data.size("train")  # 270: a 64-image batch tail of 14
    assert fill_counts["teacher_epochs_computed"] == 2 and fill_counts["teacher_forward_images"] == 2 * n
    assert hit_counts == {"teacher_forward_images": 0, "teacher_epochs_computed": 0, "teacher_epochs_cached": 2}
    assert live_counts["teacher_forward_images"] == 2 * n and live_counts["teacher_epochs_computed"] == 2
    for k in live:
        assert torch.equal(cached[k], live[k]), k
        assert torch.equal(filled[k], live[k]), k
    assert len(list((tmp_path / "cache").glob("*/epoch-*.npy"))) == 2  # one file per epoch


def test_float16_cache_halves_the_size_within_a_stated_bound(setup, tmp_path):
    """fp16 keeps 11 significant bits: each logit is within 2^-11 relative of the fp32 value. Two
    KD epochs on this fixture then move the student's weights by 3e-6 relative (L2 norm; bound 1e-4)."""
    cfg, data, teacher = setup
    c32, c16 = LogitCache(tmp_path / "c32"), LogitCache(tmp_path / "c16", dtype="float16")
    w32, _ = _kd_student(cfg, data, teacher, c32)
    w16, _ = _kd_student(cfg, data, teacher, c16)
    f32 = sorted((tmp_path / "c32").glob("*/epoch-0000.npy"))[0]
    f16 = sorted((tmp_path / "c16").glob("*/epoch-0000.npy"))[0]
    assert f16.stat().st_size < 0.52 * f32.stat().st_size
    import numpy as np

    a32, a16 = np.load(f32).astype(np.float64), np.load(f16).astype(np.float64)
    assert np.all(np.abs(a16 - a32) <= 2**-11 * np.abs(a32) + 2**-24)
    assert not np.array_equal(a16, a32)
    num = sum(float((w16[k].double() - w32[k].double()).norm() ** 2) for k in w32 if w32[k].is_floating_point())
    den = sum(float(w32[k].double().norm() ** 2) for k in w32 if w32[k].is_floating_point())
    assert 0 < (num / den) ** 0.5 < 1e-4


def _identity_calls(cache, cfg, task, teacher, seed=0):
    task = ImageTask(cfg.data, task.data)  # the task as cfg's data settings make it
    source = FrozenLogits(teacher, "teacher", cfg.teacher, task, seed, cfg.optim.batch_size, RT, cache)
    source.start_epoch(0)
    return source.computed


def test_changing_seed_teacher_or_augmentation_misses(setup, tmp_path):
    cfg, data, teacher = setup
    cache = LogitCache(tmp_path / "cache")
    assert _identity_calls(cache, cfg, data, teacher) == 1
    assert _identity_calls(cache, cfg, data, teacher) == 0  # the same stream hits
    assert _identity_calls(cache, cfg, data, teacher, seed=1) == 1
    other = init_model(cfg, "teacher", 6, data, RT)
    assert state_digest(other) != state_digest(teacher)
    assert _identity_calls(cache, cfg, data, other) == 1
    no_flip = BenchConfig(**{**vars(cfg), "data": DataConfig(**{**vars(cfg.data), "flip": False})})
    assert _identity_calls(cache, no_flip, data, teacher) == 1
    other_pad = BenchConfig(**{**vars(cfg), "data": DataConfig(**{**vars(cfg.data), "pad": 2})})
    assert _identity_calls(cache, other_pad, data, teacher) == 1
    assert _identity_calls(LogitCache(tmp_path / "cache", dtype="float16"), cfg, data, teacher) == 1
    assert len(list((tmp_path / "cache").glob("*/stream.json"))) == 6


def test_without_augmentation_one_teacher_pass_serves_every_epoch_and_seed(setup, tmp_path):
    cfg, task, teacher = setup
    plain = ImageTask(DataConfig(**{**vars(cfg.data), "pad": 0, "flip": False}), task.data)
    assert not plain.augmented and task.augmented
    cache = LogitCache(tmp_path / "cache")
    tables = []
    for seed, use_cache in ((0, cache), (1, cache), (0, None)):
        source = FrozenLogits(teacher, "teacher", cfg.teacher, plain, seed, 64, RT, use_cache, eval_batch_size=100)
        for epoch in range(3):
            source.start_epoch(epoch)
        idx = torch.tensor([5, 0, 269])
        tables.append(source.batch(idx, None))
        assert source.counts()["teacher_epochs_computed"] == (0 if seed == 1 else 1)  # one pass, or none
    assert len(list((tmp_path / "cache").glob("*/epoch-*.npy"))) == 1
    # live (no cache) and cached runs read bit-identical rows, and each row is its own sample's output
    assert torch.equal(tables[0], tables[1]) and torch.equal(tables[0], tables[2])
    with torch.inference_mode():
        x = next(plain.eval_batches("train", 300))[0][[5, 0, 269]]
        assert torch.allclose(tables[0], teacher(x), atol=1e-5)


def test_layout_of_weights_does_not_change_the_digest(setup):
    _, _, teacher = setup
    copy = init_model(BenchConfig(teacher="resnet8"), "teacher", 5, setup[1], Runtime(torch.device("cpu"), False))
    copy.load_state_dict(teacher.state_dict())
    assert state_digest(copy) == state_digest(teacher)


def _logits(value: float) -> torch.Tensor:
    return torch.full((4, 3), value)


def test_corrupt_or_partial_entries_are_rebuilt(tmp_path):
    cache = LogitCache(tmp_path, log=lambda *_: None)
    ident = {"k": 1}
    calls = []

    def compute():
        calls.append(1)
        return _logits(1.5)

    table, computed = cache.get(ident, 0, compute)
    assert computed and torch.equal(table, _logits(1.5))
    npy = next(tmp_path.glob("*/epoch-0000.npy"))
    raw = bytearray(npy.read_bytes())
    raw[-1] ^= 0xFF  # a flipped bit in the data
    npy.write_bytes(bytes(raw))
    table, computed = cache.get(ident, 0, compute)
    assert computed and torch.equal(table, _logits(1.5)) and len(calls) == 2
    npy.write_bytes(npy.read_bytes()[:-5])  # truncated
    assert cache.get(ident, 0, compute)[1] and len(calls) == 3
    npy.with_suffix(".json").unlink()  # the commit marker never written: a crash mid-write
    assert cache.get(ident, 0, compute)[1] and len(calls) == 4
    assert not cache.get(ident, 0, compute)[1] and len(calls) == 4


def test_a_failed_fill_leaves_nothing_behind(tmp_path):
    cache = LogitCache(tmp_path)

    def boom():
        raise RuntimeError("teacher died")

    with pytest.raises(RuntimeError):
        cache.get({"k": 1}, 0, boom)
    assert not list(tmp_path.glob("*/epoch-*.npy")) and not list(tmp_path.glob("*/.*tmp"))
    assert cache.entries() == []


def test_float16_refuses_logits_beyond_its_range(tmp_path):
    from akd.errors import AkdError

    with pytest.raises(AkdError, match="float16"):
        LogitCache(tmp_path, dtype="float16").get({"k": 1}, 0, lambda: _logits(1e6))
    assert not list(tmp_path.glob("*/epoch-*.npy")) and not list(tmp_path.glob("*/epoch-*.json"))


def test_least_recently_used_epochs_are_evicted_beyond_the_limit(tmp_path):
    one = 4 * 3 * 4 + 128  # a [4, 3] float32 .npy: data plus header
    cache = LogitCache(tmp_path, max_bytes=3 * one)
    for epoch in range(3):
        cache.get({"k": 1}, epoch, lambda: _logits(0.0))
        time.sleep(0.02)
    cache.get({"k": 1}, 0, lambda: _logits(0.0))  # epoch 0 is now the most recently used
    time.sleep(0.02)
    cache.get({"k": 1}, 3, lambda: _logits(0.0))
    assert sorted(e.epoch for e in cache.entries()) == [0, 2, 3]


def _fill_slowly(root: str, counter: str, barrier) -> None:
    def compute():
        with open(counter, "a") as f:
            f.write("x")
        time.sleep(1.0)
        return _logits(2.0)

    cache = LogitCache(root, log=lambda *_: None)
    barrier.wait(60)  # both processes ask at the same moment
    table, _ = cache.get({"k": 1}, 0, compute)
    assert torch.equal(table, _logits(2.0))


def test_two_processes_compute_an_entry_once(tmp_path):
    counter = tmp_path / "computations"
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_fill_slowly, args=(str(tmp_path / "cache"), str(counter), barrier)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert counter.read_text() == "x"


def test_cache_info_and_clear_from_the_command_line(setup, tmp_path, capsys):
    from akd.cli import main

    cfg, data, teacher = setup
    cache = LogitCache(tmp_path / "cache")
    _identity_calls(cache, cfg, data, teacher, seed=3)
    assert main(["cache", "info", "--cache-dir", str(tmp_path / "cache")]) == 0
    out = capsys.readouterr().out
    assert "1 epochs" in out and "teacher:resnet8 cifar100 seed 3 float32" in out
    assert main(["cache", "clear", "--cache-dir", str(tmp_path / "cache")]) == 0
    assert "Removed 1 cached epochs" in capsys.readouterr().out
    # only the cache's tag is left: the folder stays a cache
    assert cache.entries() == [] and [p.name for p in (tmp_path / "cache").iterdir()] == ["CACHEDIR.TAG"]


def test_clear_removes_only_what_the_cache_wrote(setup, tmp_path):
    """A user's files inside the cache folder, even inside a stream folder, survive ``clear``."""
    cfg, data, teacher = setup
    root = tmp_path / "cache"
    cache = LogitCache(root)
    _identity_calls(cache, cfg, data, teacher, seed=3)
    _identity_calls(cache, cfg, data, teacher, seed=4)
    assert (root / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")
    stream_a, stream_b = sorted(p for p in root.iterdir() if p.is_dir())
    (root / "notes.txt").write_text("mine")
    (stream_a / "analysis.ipynb").write_text("mine too")
    (stream_b / ".epoch-0009.npy.4242.tmp").write_bytes(b"left by a writer that died")  # an older akd's name
    (stream_b / ".epoch-0010.npy.0f3a9c2e11d4b7a8.json.tmp").write_bytes(b"and this one's (hashing.temp_beside)")
    assert cache.clear()[0] == 2
    assert (root / "notes.txt").read_text() == "mine" and (stream_a / "analysis.ipynb").read_text() == "mine too"
    assert [p.name for p in stream_a.iterdir()] == ["analysis.ipynb"]  # the cache's own files are gone
    assert not stream_b.exists()  # only the cache's files were in it
    assert cache.entries() == []


def test_clear_refuses_a_folder_that_is_not_a_cache(tmp_path):
    from akd.errors import AkdError

    (tmp_path / "models" / "abc").mkdir(parents=True)
    (tmp_path / "models" / "abc" / "model.pt").write_text("weights")
    with pytest.raises(AkdError, match="is not a teacher-output cache"):
        LogitCache(tmp_path).clear()
    assert (tmp_path / "models" / "abc" / "model.pt").read_text() == "weights"
    assert LogitCache(tmp_path / "absent").clear() == (0, 0)  # nothing there: nothing to refuse


def test_clear_accepts_a_cache_made_before_the_tag_and_spares_an_entry_being_computed(setup, tmp_path):
    from filelock import FileLock

    cfg, data, teacher = setup
    root = tmp_path / "cache"
    cache = LogitCache(root)
    _identity_calls(cache, cfg, data, teacher, seed=3)
    _identity_calls(cache, cfg, data, teacher, seed=4)
    (root / "CACHEDIR.TAG").unlink()  # as written by the suite before the tag existed: stream folders only
    assert cache.is_cache()
    busy = sorted(p for p in root.iterdir())[0]
    (busy / "epoch-0001.lock").touch()
    with FileLock(str(busy / "epoch-0001.lock")):  # another process is computing epoch 1 of this stream
        assert cache.clear()[0] == 2
        assert busy.is_dir() and (busy / "epoch-0001.lock").exists()  # its folder and lock are left alone
    assert cache.entries() == [] and [p.name for p in root.iterdir()] == [busy.name]


def test_a_frozen_teachers_weights_are_hashed_once(monkeypatch):
    """Every sweep trial builds a source from the same teacher: its cache key is computed once."""
    import akd.teacher as teacher_module
    from akd.teacher import freeze, frozen_digest

    hashed = []
    real = teacher_module.state_digest
    monkeypatch.setattr(teacher_module, "state_digest", lambda m: hashed.append(m) or real(m))
    model = torch.nn.Linear(3, 2)
    first, second = frozen_digest(model), frozen_digest(model)  # still trainable: hashed each time
    assert len(hashed) == 2 and first == second
    freeze(model)
    assert frozen_digest(model) == frozen_digest(model) == first and len(hashed) == 3
