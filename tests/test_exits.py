"""The CLI's one error boundary: each way akd stops has its exit code and one line; a bug alone shows a
traceback, then a line saying it is a bug and where its report was saved."""

from __future__ import annotations

import errno
import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from akd import exits
from akd.cli import main
from akd.errors import AkdError, Diverged, Exited, MachineFailure, Terminated


def _operational() -> Exception:
    """What MLflow raises when its sqlite file is locked or full: its own exception, caused by SQLAlchemy's."""
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import OperationalError

    cause = OperationalError("INSERT INTO metrics", {}, sqlite3.OperationalError("database or disk is full"))
    try:
        raise MlflowException("(sqlite3.OperationalError) database or disk is full") from cause
    except MlflowException as exc:
        return exc


def _http(status: int) -> Exception:
    import requests

    response = requests.Response()
    response.status_code, response.reason, response.url = status, "Server Error" if status >= 500 else "Forbidden", "u"
    try:
        response.raise_for_status()
    except requests.HTTPError as exc:
        return exc


def _sqlite(message: str, code: int) -> Exception:
    from sqlalchemy.exc import OperationalError

    orig = sqlite3.OperationalError(message)
    orig.sqlite_errorcode = code
    return OperationalError("SELECT", {}, orig)


@pytest.mark.parametrize(
    "exc,code,words",
    [
        (AkdError("data.lr must be > 0"), 2, "akd: error: data.lr must be > 0"),
        (Diverged("nokd/seed0: training diverged"), 3, "akd: error: nokd/seed0: training diverged"),
        (MachineFailure("kd/seed1: its worker process died 3 times"), 4, "died 3 times"),
        (OSError(errno.ENOSPC, "No space left on device", "/x/model.pt"), 4, "No space left on device: /x/model.pt"),
        (ConnectionResetError(104, "Connection reset by peer"), 4, "Connection reset by peer"),
        (_operational(), 4, "a database or server failed ((sqlite3.OperationalError) database or disk is full)"),
        (FileNotFoundError(2, "No such file or directory", "best.json"), 2, "No such file or directory: best.json"),
        (PermissionError(13, "Permission denied", "/data/cache"), 2, "Permission denied: /data/cache"),
        (_http(403), 2, "the server refused (HTTP 403)"),
        (_http(503), 4, "a database or server failed (503 Server Error"),
        (Exited("sweep workers exited with codes [0, 3]", 3), 3, "codes [0, 3]"),
        (KeyboardInterrupt(), 130, "akd: interrupted; finished runs are in MLflow and the model store"),
        (Terminated(), 143, "akd: terminated;"),
    ],
    ids=[
        *("refused", "diverged", "worker deaths", "disk full", "connection", "database", "no such file"),
        *("permission", "http 403", "http 503", "workers", "ctrl-c", "sigterm"),
    ],
)
def test_each_expected_failure_is_one_line_and_its_code(exc, code, words, capsys):
    assert exits.report(exc, ["bench", "x"]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and "Traceback" not in err, err


def test_an_error_of_a_library_that_is_not_a_service_failure_is_a_bug():
    import io

    from sqlalchemy.exc import IntegrityError

    assert exits.classify(IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed"))) is None
    assert exits.classify(ValueError("could not convert string to float")) is None
    assert exits.classify(io.UnsupportedOperation("not writable")) is None  # an OSError, and a bug
    assert exits.classify(_sqlite("no such table: runs", 1)) is None  # a schema or SQL error: a bug
    assert exits.classify(_sqlite("database is locked", 5))[0] == 4  # SQLITE_BUSY: the machine's
    assert exits.classify(_sqlite("disk I/O error", 10 | 3 << 8))[0] == 4  # an extended IOERR code


def test_several_workers_codes_become_the_most_severe():
    from akd.sweep.command import most_severe

    assert most_severe([0, 2, 130]) == 130 and most_severe([2, 3, 0]) == 3 and most_severe([3, -9]) == 4
    assert most_severe([4, 1, 2]) == 1 and most_severe([143, 130]) == 143


def test_a_cluster_jobs_traceback_keeps_its_exit_code():
    from akd.errors import MachineFailure
    from akd.executors import remote_failure

    tb = "Traceback (most recent call last): File x, line 1 akd.errors.Diverged: kd/seed0: training diverged"
    assert type(remote_failure(tb, "m")) is Diverged
    assert type(remote_failure("raise OSError: [Errno 28] No space left on device", "m")) is MachineFailure
    assert type(remote_failure("akd.errors.AkdError: cannot read x", "m")) is AkdError
    assert type(remote_failure("KeyError: 'teacher'", "m")) is RuntimeError  # the job's bug: exit 1


def test_a_bug_shows_its_traceback_says_so_and_saves_a_report(tmp_path, capsys, monkeypatch):
    import akd.bench

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AKD_LOG_DIR", str(tmp_path / "logs"))

    def broken(*_a, **_k):
        return {}["teacher"]  # a bug: a KeyError deep in the library

    monkeypatch.setattr(akd.bench, "run_benchmark", broken)
    assert main(["bench", "fashion_mnist", "--dry-run"]) == 1
    err = capsys.readouterr().err
    lines = err.rstrip("\n").splitlines()
    assert lines[0] == "Traceback (most recent call last):" and "KeyError: 'teacher'" in err
    last = lines[-1]
    assert last.startswith("akd: internal error: KeyError: 'teacher' -- this is a bug in akd"), last
    saved = Path(re.search(r"saved in (\S+);", last).group(1))
    report = saved.read_text()
    assert saved.parent == tmp_path / "logs" and report.startswith("command: akd bench fashion_mnist --dry-run\n")
    assert "torch:" in report and 'return {}["teacher"]' in report and "KeyError: 'teacher'" in report


def test_a_bug_report_masks_passwords_in_urls(tmp_path):
    argv = ["sweep", "b", "--storage", "postgresql://akd:s3cret@db:5432/optuna", "--tracking-uri", "http://h:5000"]
    report = exits.crash_report(ValueError("no postgresql://akd:s3cret@db:5432/optuna"), argv, tmp_path).read_text()
    assert "s3cret" not in report and "postgresql://akd:***@db:5432/optuna" in report and "http://h:5000" in report


def test_a_bug_whose_report_cannot_be_written_still_says_so(tmp_path, capsys, monkeypatch):
    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv("AKD_LOG_DIR", str(tmp_path / "afile" / "logs"))
    assert exits.report(RuntimeError("boom"), ["x"]) == 1
    assert "not saved (its folder is not writable)" in capsys.readouterr().err.splitlines()[-1]


def test_sigterm_ends_a_benchmark_with_143_and_one_line(tmp_path):
    """A real process, a real signal: the handler raises Terminated wherever the benchmark is."""
    script = (
        "import time, akd.bench, sys\n"
        "from akd.cli import main\n"
        "def slow(*a, **k):\n"
        "    print('started', flush=True); time.sleep(60)\n"
        "akd.bench.run_benchmark = slow\n"
        "sys.exit(main(['bench', 'fashion_mnist', '--dry-run']))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "started"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    line = "akd: terminated; finished runs are in MLflow and the model store; the same command resumes"
    assert err.strip().splitlines() == [line]


def test_the_documented_codes_are_the_codes_used():
    doc = exits.__doc__
    codes = (exits.OK, exits.BUG, exits.REFUSED, exits.DIVERGED, exits.MACHINE, exits.INTERRUPTED, exits.TERMINATED)
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for code in codes:
        assert re.search(rf"^{code}\s", doc, re.M), code
        assert re.search(rf"^  \| {code}( / \d+)? \|", readme, re.M) or f"/ {code} |" in readme, code


def test_mlflow_failing_mid_run_is_the_machines_and_mlflow_refusing_is_the_users():
    """Every Tracker call goes through tracking._reported: a full or locked store, a lost server (4)
    against a request MLflow refuses (2); the URI's password never in the line."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, TEMPORARILY_UNAVAILABLE

    from akd.tracking import _reported

    class Fake:
        uri = "postgresql://akd:s3cret@db/mlflow"

        def __init__(self, exc: Exception) -> None:
            self.exc = exc

        @_reported
        def log(self) -> None:
            raise self.exc

    with pytest.raises(MachineFailure, match=r"postgresql://akd:\*\*\*@db/mlflow failed") as full:
        Fake(_operational()).log()
    assert exits.classify(full.value)[0] == 4
    with pytest.raises(MachineFailure):
        Fake(MlflowException("try again later", error_code=TEMPORARILY_UNAVAILABLE)).log()
    with pytest.raises(AkdError) as refused:
        Fake(MlflowException("Invalid value for param lr", error_code=INVALID_PARAMETER_VALUE)).log()
    assert type(refused.value) is AkdError and exits.classify(refused.value)[0] == 2
