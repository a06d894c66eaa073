"""The command line's one error boundary: every way ``akd`` can stop, as an exit code and one line.

An expected failure (bad input, a run that diverged, a machine or service that failed, an
interrupt) is one line on stderr and a documented code; only a bug shows a traceback, followed by a
line saying it is a bug and where its report (command, versions, traceback) was saved.

======  ==========================================================================================
code    meaning
======  ==========================================================================================
0       finished
1       a bug in akd: the traceback is printed and saved; please report it with that file
2       refused: bad input, a setting, or a file, folder or service that cannot be used; the line
        names it and what to do (argparse's usage errors are 2 as well)
3       training diverged (a non-finite loss): change the settings the line names
4       the machine failed mid-run (a full disk, a folder that vanished, a worker killed again and
        again, a database that stopped answering): free the resource and run the same command, it
        resumes where it stopped
130     interrupted (Ctrl-C); the same command resumes
143     terminated (SIGTERM: ``kill``, a scheduler's time limit); the same command resumes
======  ==========================================================================================
"""

from __future__ import annotations

import datetime
import os
import platform
import socket
import sys
import traceback
from pathlib import Path

from akd.errors import AkdError, Diverged, MachineFailure

OK, BUG, REFUSED, DIVERGED, MACHINE, INTERRUPTED, TERMINATED = 0, 1, 2, 3, 4, 130, 143
KEPT = "finished runs are in MLflow and the model store"


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised as an interrupt so every run in flight is marked FAILED on the way out."""


def one_line(message: str) -> str:
    return " ".join(message.split())


def _database_failure(exc: BaseException) -> bool:
    """SQLAlchemy's OperationalError (a locked or full database), directly or as the cause MLflow
    or Optuna re-raised it with."""
    seen = 0
    while exc is not None and seen < 5:
        if type(exc).__name__ == "OperationalError" and type(exc).__module__.startswith(("sqlalchemy", "sqlite3")):
            return True
        exc, seen = exc.__cause__, seen + 1
    return False


def classify(exc: BaseException) -> tuple[int, str] | None:
    """The exit code and line of an expected failure, or None for a bug."""
    if isinstance(exc, Terminated):
        return TERMINATED, f"akd: terminated; {KEPT}; the same command resumes"
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED, f"akd: interrupted; {KEPT}"
    if isinstance(exc, Diverged):
        return DIVERGED, f"akd: error: {one_line(str(exc))}"
    if isinstance(exc, MachineFailure):
        return MACHINE, f"akd: error: {one_line(str(exc))}"
    if isinstance(exc, AkdError):
        return REFUSED, f"akd: error: {one_line(str(exc))}"
    if isinstance(exc, OSError):  # a disk that filled up, a folder that vanished, a connection lost
        where = f": {exc.filename}" if exc.filename else ""
        what = one_line(exc.strerror or str(exc) or type(exc).__name__)
        return MACHINE, f"akd: error: {what}{where}; {KEPT}: run the same command again once it is fixed"
    if _database_failure(exc):
        first = one_line(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)[:300]
        return MACHINE, f"akd: error: a database call failed ({first}); {KEPT}: run the same command again"
    return None


def crash_dir() -> Path:
    return Path(os.environ.get("AKD_LOG_DIR") or ".akd/logs")


def crash_report(exc: BaseException, argv: list[str], folder: Path | None = None) -> Path | None:
    """Writes the command, the versions and the traceback to a file of its own; its path, or None
    when it cannot be written (the traceback is on stderr either way)."""
    folder = folder or crash_dir()
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
    path = folder / f"crash-{stamp}-{socket.gethostname()}-{os.getpid()}.txt"
    try:
        from akd.provenance import git_state, library_versions

        facts = {"command": "akd " + " ".join(argv), "python": platform.python_version()}
        facts |= {"platform": platform.platform()} | {f"git {k}": str(v) for k, v in git_state().items()}
        facts |= library_versions()
    except Exception as inner:  # the report of a bug must not fail on a second one
        facts = {"command": "akd " + " ".join(argv), "facts": f"unavailable ({type(inner).__name__})"}
    text = "".join(f"{k}: {v}\n" for k, v in facts.items()) + "\n"
    text += "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError:
        return None
    return path


def report(exc: BaseException, argv: list[str]) -> int:
    """Says how ``akd`` stopped, on stderr; returns the exit code."""
    known = classify(exc)
    if known is not None:
        if sys.stderr.isatty():  # a progress bar a dead worker left half drawn: the line starts clean
            print("\r\033[K", end="", file=sys.stderr)
        print(known[1], file=sys.stderr)
        return known[0]
    traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    saved = crash_report(exc, argv)
    where = f"saved in {saved}" if saved else "not saved (its folder is not writable)"
    print(
        f"akd: internal error: {type(exc).__name__}: {one_line(str(exc))[:200]} -- this is a bug in akd, not in "
        f"your input; the traceback above is {where}; please report it with that file",
        file=sys.stderr,
    )
    return BUG
