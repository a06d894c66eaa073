"""Bad input: one line on stderr, a non-zero exit, nothing half-written."""

import subprocess
import sys

import pytest
import torch

from akd.cli import main
from tests.conftest import SMOKE_SIZES, write_cifar


@pytest.mark.parametrize(
    "argv,fragment",
    [
        (["bench", "cifar10", "--methods", "kd", "distill"], "unknown method distill"),
        (["bench", "cifar10", "--set", "annealing.tau_max=0"], "tau_max must be >= 1"),
        (
            ["bench", "cifar10", "--set", "annealing.phase1_epochs=1", "--set", "annealing.tau_max=3"],
            "must be >= tau_max",
        ),
        (["bench", "cifar10", "--set", "teacher=resnet7"], "unknown teacher model"),
        (["bench", "mnist"], "unknown benchmark"),
        (["train", "cifar10", "--method", "nope"], "unknown method nope"),
    ],
)
def test_bad_input_one_line_nonzero(argv, fragment, capsys, in_tmp):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("akd: error: ") and fragment in err and err.count("\n") == 1
    assert not (in_tmp / "results").exists() and not (in_tmp / "mlflow.db").exists()


def _bench_with_teacher_file(tmp, content: bytes | None = None, state: dict | None = None) -> int:
    write_cifar(tmp / "data", "cifar10", **SMOKE_SIZES)
    if state is not None:
        torch.save(state, tmp / "teacher.pt")
    else:
        (tmp / "teacher.pt").write_bytes(content)
    argv = "bench cifar10 --profile smoke --data-dir data --set teacher_checkpoint=teacher.pt --methods kd"
    return main(argv.split())


def test_corrupt_teacher_checkpoint(capsys, in_tmp):
    code = _bench_with_teacher_file(in_tmp, content=b"\x00garbage")
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "teacher.pt is corrupt" in err
    assert not (in_tmp / "results").exists()


def test_teacher_checkpoint_of_wrong_architecture(capsys, in_tmp):
    assert _bench_with_teacher_file(in_tmp, state={"fc.weight": torch.zeros(3, 3)}) == 2
    assert "does not fit" in capsys.readouterr().err


def test_console_entry_offline_cifar100(in_tmp):
    """The real downloader, offline: a one-line hint and exit code 2 (as `nox -s bench_cifar100`)."""
    proc = subprocess.run(
        [sys.executable, "-m", "akd.cli", "bench", "cifar100", "--data-dir", str(in_tmp / "cifar")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=in_tmp,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--data-dir" in lines[0] and "cifar100" in lines[0]
    assert not (in_tmp / "cifar").exists()


def test_help_explains(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0 and "--select-on" in out and "MLFLOW_TRACKING_URI" in out


def test_changed_settings_make_a_labelled_variant():
    from akd.cli import _config, build_parser

    def cfg(*argv):
        return _config(build_parser().parse_args(["bench", "cifar10", *argv]))

    assert cfg("--data-dir", "elsewhere", "--threads", "1").variant == "smoke"
    a, b = cfg("--set", "annealing.tau_max=1"), cfg("--set", "annealing.tau_max=1")
    assert a.variant.startswith("smoke-custom-") and a.variant == b.variant
    assert cfg("--set", "annealing.tau_max=2").variant != a.variant
    assert cfg("--seeds", "5", "--label", "one-seed").variant == "smoke-one-seed"


def test_dry_run_writes_nothing(in_tmp, capsys):
    write_cifar(in_tmp / "data", "cifar10", **SMOKE_SIZES)
    before = sorted(p.relative_to(in_tmp) for p in in_tmp.rglob("*"))
    assert main(["bench", "cifar10", "--data-dir", "data", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Data: cifar10 read from" in out and "Estimated duration" in out
    assert sorted(p.relative_to(in_tmp) for p in in_tmp.rglob("*")) == before  # no store, cache, results or MLflow


def test_dry_run_checks_the_tracking_server_too(in_tmp, capsys):
    write_cifar(in_tmp / "data", "cifar10", **SMOKE_SIZES)
    argv = ["bench", "cifar10", "--data-dir", "data", "--dry-run", "--tracking-uri", "http://127.0.0.1:9"]
    assert main(argv) == 2
    assert "is not reachable" in capsys.readouterr().err
