"""Bad input and faults, as a new user meets them: each stops with exit code 2 and one line on stderr
that names the problem, and leaves nothing written: no results, no MLflow store (so no run left
RUNNING), no stored model, no cache entry, and the user's own files untouched.

Each case is (id, command-line arguments, expected fragment of the message, optional set-up). The
arguments are appended to a smoke benchmark of a CIFAR-10 fixture whose every output lives in the
test's own folder; a set-up may write files and return extra arguments or a replacement command.
"""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from akd.cli import main
from akd.models import build_model
from tests.conftest import SMOKE_SIZES, write_cifar


@pytest.fixture(scope="module")
def cifar(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cifar")
    write_cifar(root, "cifar10", **SMOKE_SIZES)
    return root


def _copy_cifar(src: Path, dst: Path) -> Path:
    (dst / "cifar-10-batches-py").mkdir(parents=True)
    for f in (src / "cifar-10-batches-py").iterdir():
        (dst / "cifar-10-batches-py" / f.name).write_bytes(f.read_bytes())
    return dst


# ---------------------------------------------------------------- set-ups of the fault cases
def truncated_pickle(tmp: Path, cifar: Path) -> list[str]:
    data = _copy_cifar(cifar, tmp / "data")
    batch = data / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:5000])
    return ["--data-dir", str(data)]


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {Path.cwd() / 'PWNED'}",))


def crafted_pickle(tmp: Path, cifar: Path) -> list[str]:
    data = _copy_cifar(cifar, tmp / "data")
    (data / "cifar-10-batches-py" / "data_batch_1").write_bytes(pickle.dumps({"data": _Exploit(), "labels": [1]}))
    return ["--data-dir", str(data), "--dry-run"]


def object_array_pickle(tmp: Path, cifar: Path) -> list[str]:
    data = _copy_cifar(cifar, tmp / "data")
    bad = {"data": np.array([object()], dtype=object), "labels": [1]}
    (data / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(bad))
    return ["--data-dir", str(data)]


def wrong_shape_pickle(tmp: Path, cifar: Path) -> list[str]:
    data = _copy_cifar(cifar, tmp / "data")
    bad = {"data": np.zeros((4, 100), np.uint8), "labels": [0, 1, 2, 3]}
    (data / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(bad))
    return ["--data-dir", str(data)]


def data_dir_is_a_file(tmp: Path, cifar: Path) -> list[str]:
    (tmp / "data.txt").write_text("not a folder")
    return ["--data-dir", str(tmp / "data.txt")]


def _idx(tmp: Path, magic: int = 2051, cut: int = 0) -> Path:
    folder = tmp / "fm"
    folder.mkdir()
    for prefix, n in (("train", 60), ("t10k", 20)):
        images = (magic).to_bytes(4, "big") + b"".join(v.to_bytes(4, "big") for v in (n, 28, 28)) + bytes(n * 784)
        labels = (2049).to_bytes(4, "big") + n.to_bytes(4, "big") + bytes(n)
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(images[: len(images) - cut]))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels))
    return folder


def idx_wrong_magic(tmp: Path, cifar: Path) -> list[str]:
    return ["bench", "fashion_mnist", "--data-dir", str(_idx(tmp, magic=1234))]


def idx_truncated(tmp: Path, cifar: Path) -> list[str]:
    return ["bench", "fashion_mnist", "--data-dir", str(_idx(tmp, cut=500))]


def fashion_named_folder_is_empty(tmp: Path, cifar: Path) -> list[str]:
    # a folder the user names is never silently replaced by the Debian copy
    return ["bench", "fashion_mnist", "--data-dir", str(tmp / "empty")]


def _teacher_file(tmp: Path, state: dict | bytes) -> list[str]:
    path = tmp / "teacher.pt"
    path.write_bytes(state) if isinstance(state, bytes) else torch.save(state, path)
    return ["--set", f"teacher_checkpoint={path}", "--methods", "kd"]


def nan_teacher(tmp: Path, cifar: Path) -> list[str]:
    state = build_model("resnet14", 3, 10).state_dict()
    state["fc.weight"][0, 0] = float("nan")
    return _teacher_file(tmp, state)


def integer_teacher(tmp: Path, cifar: Path) -> list[str]:
    state = {k: v.long() for k, v in build_model("resnet14", 3, 10).state_dict().items()}
    return _teacher_file(tmp, state)


def garbage_teacher(tmp: Path, cifar: Path) -> list[str]:
    return _teacher_file(tmp, b"\x00garbage")


def wrong_arch_teacher(tmp: Path, cifar: Path) -> list[str]:
    return _teacher_file(tmp, build_model("resnet8", 3, 10).state_dict())


def _a_file(tmp: Path) -> Path:
    (tmp / "afile").write_text("x")
    return tmp / "afile"


def results_under_a_file(tmp: Path, cifar: Path) -> list[str]:
    return ["--results-dir", str(_a_file(tmp) / "results")]


def store_under_a_file(tmp: Path, cifar: Path) -> list[str]:
    return ["--store-dir", str(_a_file(tmp) / "store")]


def cache_under_a_file(tmp: Path, cifar: Path) -> list[str]:
    return ["--cache-dir", str(_a_file(tmp) / "cache")]


def broken_toml(tmp: Path, cifar: Path, monkeypatch) -> list[str]:
    folder = tmp / "benchmarks"
    folder.mkdir()
    (folder / "mine.toml").write_text('description = "x"\n[profiles.smoke\nteacher = 1\n')
    monkeypatch.setattr("akd.benchfile.BENCHMARK_DIR", folder)
    return ["bench", "mine"]


def clear_a_repo(tmp: Path, cifar: Path) -> list[str]:
    for name in (".git/HEAD", "akd/core.py", "notes.txt"):
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_text("precious")
    return ["cache", "clear", "--cache-dir", str(tmp)]


def clear_the_store_root(tmp: Path, cifar: Path) -> list[str]:
    (tmp / ".akd" / "models" / "0123abcd").mkdir(parents=True)
    (tmp / ".akd" / "models" / "0123abcd" / "model.pt").write_text("a trained teacher")
    return ["cache", "clear", "--cache-dir", str(tmp / ".akd")]


def clear_a_file(tmp: Path, cifar: Path) -> list[str]:
    return ["cache", "clear", "--cache-dir", str(_a_file(tmp))]


S = "--set"
CASES = [
    # settings: type, finiteness, range
    ("lr-nan", [S, "optim.lr=nan"], "optim.lr='nan' must be a finite number", None),
    ("lr-inf", [S, "optim.lr=inf"], "optim.lr='inf' must be a finite number", None),
    ("lr-zero", [S, "optim.lr=0"], "optim.lr must be > 0", None),
    ("gamma-nan", [S, "optim.gamma=nan"], "optim.gamma='nan' must be a finite number", None),
    ("gamma-zero", [S, "optim.gamma=0"], "optim.gamma (the learning-rate decay factor) must be in (0, 1]", None),
    ("kd-temperature-nan", [S, "kd.temperature=nan"], "kd.temperature='nan' must be a finite", None),
    ("kd-temperature-inf", [S, "kd.temperature=inf"], "kd.temperature='inf' must be a finite", None),
    ("kd-weights-zero", [S, "kd.w_kd=0", S, "kd.w_ce=0"], "kd.w_kd and kd.w_ce are both 0", None),
    ("takd-temperature-negative", [S, "takd.ta.temperature=-1"], "takd.ta.temperature must be > 0", None),
    ("batch-size-1", [S, "optim.batch_size=1"], "optim.batch_size must be >= 2", None),
    ("eval-batch-0", [S, "optim.eval_batch_size=0"], "optim.eval_batch_size must be >= 1", None),
    ("momentum-negative", [S, "optim.momentum=-0.9"], "optim.momentum must be in [0, 1)", None),
    ("weight-decay-negative", [S, "optim.weight_decay=-1e-4"], "optim.weight_decay must be >= 0", None),
    ("milestones-unsorted", [S, "optim.milestones=0.75,0.5"], "optim.milestones must be increasing", None),
    ("pad-negative", [S, "data.pad=-1"], "data.pad must be in 0..16", None),
    ("subset-negative", [S, "data.train_subset=-5"], "data.train_subset (0 = all) must be >= 0", None),
    ("val-fraction-nan", [S, "data.val_fraction=nan"], "data.val_fraction='nan' must be a finite", None),
    ("selection-unknown", [S, "data.selection=train"], "data.selection must be 'val' or 'test'", None),
    ("dataset-unknown", [S, "data.dataset=imagenet"], "unknown dataset 'imagenet'", None),
    ("flip-not-bool", [S, "data.flip=maybe"], "data.flip='maybe' is not a valid bool", None),
    ("epochs-fractional", [S, "teacher_epochs=2.5"], "teacher_epochs='2.5' is not a valid int", None),
    ("epochs-zero", [S, "student_epochs=0"], "student_epochs must be >= 1", None),
    ("phase2-negative", [S, "annealing.phase2_epochs=-1"], "annealing.phase2_epochs must be >= 0", None),
    ("mse-reduction", [S, "annealing.mse_reduction=median"], "mse_reduction must be 'mean' or 'sum'", None),
    ("cache-max-gb-nan", [S, "cache.max_gb=nan"], "cache.max_gb='nan' must be a finite", None),
    ("cache-dtype", [S, "cache.dtype=int8"], "cache.dtype must be 'float32' or 'float16'", None),
    ("unknown-setting", [S, "optim.lrr=0.1"], "unknown setting 'optim.lrr'; known: name, lr, momentum", None),
    ("threads-negative", ["--threads", "-1"], "threads must be >= 0", None),
    ("device-unknown", ["--device", "tpu"], "unknown device 'tpu'", None),
    ("seeds-repeated", ["--seeds", "0", "0"], "seeds repeats 0", None),
    ("seed-negative", ["--seeds", "-1"], "every seed must be >= 0", None),
    ("methods-repeated", ["--methods", "kd", "kd"], "methods repeats kd", None),
    # where results go
    ("label-climbs-to-profile", ["--label", "/../smoke"], "label '/../smoke' is not a safe name", None),
    ("label-escapes", ["--label", "/../../../../x"], "is not a safe name", None),
    ("benchmark-set", [S, "benchmark=cifar100"], "setting benchmark cannot be changed", None),
    ("paper-table-of-other-data", [S, "paper_table=cifar100"], "'cifar100' has no numbers for 'cifar10'", None),
    ("benchmark-path", ["<replace>", "bench", "../cifar10"], "benchmark '../cifar10' is not a safe name", None),
    ("profile-unknown", ["--profile", "../x"], "has no profile '../x'", None),
    ("benchmark-toml-broken", [], "is not valid TOML", broken_toml),
    # data
    ("train-subset-1", [S, "data.train_subset=1"], "a training step needs at least 2", None),
    ("subset-too-large", [S, "data.train_subset=100000"], "data.train_subset=100000 exceeds the", None),
    ("data-truncated", [], "data_batch_3 is corrupt or not a CIFAR file", truncated_pickle),
    ("data-crafted-pickle", [], "which a CIFAR file never holds", crafted_pickle),
    ("data-object-array", [], "object array, which a CIFAR file never holds", object_array_pickle),
    ("data-wrong-shape", [], "has no uint8 'data' array of shape [N, 3072]", wrong_shape_pickle),
    ("data-dir-is-a-file", [], "data.txt is a file, not a folder", data_dir_is_a_file),
    ("idx-wrong-magic", [], "is not an IDX file of the expected kind", idx_wrong_magic),
    ("idx-truncated", [], "are truncated or do not match", idx_truncated),
    ("fashion-named-folder-missing", [], "fashion_mnist is not in", fashion_named_folder_is_empty),
    # checkpoints
    ("teacher-nan", [], "fc.weight holds NaN or infinite values", nan_teacher),
    ("teacher-integer", [], "holds torch.int64 values where torch.float32 belong", integer_teacher),
    ("teacher-garbage", [], "teacher.pt is corrupt or not a torch file", garbage_teacher),
    ("teacher-wrong-architecture", [], "does not fit the configured architecture", wrong_arch_teacher),
    ("teacher-missing", [S, "teacher_checkpoint=/no/such.pt"], "teacher_checkpoint /no/such.pt does not exist", None),
    # outputs and services
    ("results-under-a-file", [], "afile is not a folder", results_under_a_file),
    (
        "results-read-only-fs",
        ["--results-dir", "/proc/akd"],
        "results folder /proc/akd/cifar10/smoke is not writable",
        None,
    ),
    ("store-under-a-file", [], "model store", store_under_a_file),
    ("cache-under-a-file", [], "teacher-output cache", cache_under_a_file),
    ("tracking-unknown-scheme", ["--tracking-uri", "foo://bar"], "has unknown scheme 'foo'", None),
    ("tracking-no-scheme", ["--tracking-uri", "mlruns"], "has no scheme", None),
    ("tracking-unreachable", ["--tracking-uri", "http://127.0.0.1:9"], "is not reachable", None),
    ("tracking-read-only", ["--tracking-uri", "sqlite:////proc/akd/mlflow.db"], "MLflow store folder", None),
    ("cache-clear-a-repo", [], "is not a teacher-output cache", clear_a_repo),
    ("cache-clear-store-root", [], "is not a teacher-output cache", clear_the_store_root),
    ("cache-clear-a-file", [], "afile is a file, not a teacher-output cache", clear_a_file),
]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("argv,fragment,setup", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_stops_in_one_line_and_writes_nothing(argv, fragment, setup, cifar, in_tmp, capsys, monkeypatch):
    if setup is broken_toml:
        extra = setup(in_tmp, cifar, monkeypatch)
    else:
        extra = setup(in_tmp, cifar) if setup else []
    outputs = [
        *("--store-dir", str(in_tmp / "store"), "--results-dir", str(in_tmp / "results")),
        *("--cache-dir", str(in_tmp / "cache"), "--tracking-uri", f"sqlite:///{in_tmp / 'mlflow.db'}"),
    ]
    if argv[:1] == ["<replace>"]:
        command = argv[1:]
    elif extra[:1] in (["bench"], ["cache"]):
        command = extra + ([] if extra[0] == "cache" else outputs)
    else:
        command = ["bench", "cifar10", "--profile", "smoke", "--data-dir", str(cifar), *outputs, *argv, *extra]
    before = _snapshot(in_tmp)

    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.startswith("akd: error: ") and err.count("\n") == 1, err
    assert fragment in err, err
    assert _snapshot(in_tmp) == before  # nothing written, nothing removed
    assert not (in_tmp / "PWNED").exists()


def test_the_table_is_large_enough():
    assert len(CASES) >= 40 and len({c[0] for c in CASES}) == len(CASES)


def test_a_nan_learning_rate_is_refused_before_anything_runs(in_tmp, capsys):
    """Refused while the settings are read: no data loaded, no model built, no store or MLflow file."""
    assert main(["bench", "fashion_mnist", "--set", "optim.lr=nan"]) == 2
    assert "optim.lr='nan' must be a finite number" in capsys.readouterr().err
    assert list(in_tmp.iterdir()) == []


def test_crafted_pickle_executes_nothing(tmp_path):
    from akd.errors import AkdError
    from akd.readers import read_cifar

    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    for name in ("train", "test"):
        (folder / name).write_bytes(pickle.dumps({"data": Payload(), "fine_labels": [0]}))
    with pytest.raises(AkdError, match="names posix.system"):
        read_cifar(tmp_path, "cifar100")
    assert not marker.exists()


def test_akd_list_survives_a_broken_benchmark_file(tmp_path, monkeypatch, capsys):
    (tmp_path / "a.toml").write_text('description = "fine"\n[profiles.p]\nabout = "ok"\n')
    (tmp_path / "b.toml").write_text("[[[")
    monkeypatch.setattr("akd.benchfile.BENCHMARK_DIR", tmp_path)
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "a: fine" in out and "--profile p" in out and "b: unusable:" in out and "not valid TOML" in out
