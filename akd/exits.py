"""The command line's one error boundary: every way ``akd`` can stop, as an exit code and one line.

An expected failure (bad input, a run that diverged, a machine or service that failed, an
interrupt) is one line on stderr and a documented code; only a bug shows a traceback, followed by a
line saying it is a bug and where its report (command, versions, traceback; URL passwords masked)
was saved. Any other exception is a bug, an ``OSError`` of another errno (``io.UnsupportedOperation``)
and a database's schema or SQL error included. Workers of one command (``akd sweep --workers``)
pass their most severe code on.

======  ==========================================================================================
code    meaning
======  ==========================================================================================
0       finished
1       a bug in akd: the traceback is printed and saved; please report it with that file
2       refused: bad input, a setting, or a file, folder or service that cannot be used (a path
        that does not exist or cannot be written, a server that refuses with HTTP 4xx); the line
        names it and what to do (argparse's usage errors are 2 as well)
3       training diverged (a non-finite loss): change the settings the line names
4       the machine failed mid-run (a full disk or quota, an I/O error, a stale network file, a
        worker killed again and again, a lost connection, a locked or full database, HTTP 5xx):
        free the resource and run the same command, it resumes where it stopped
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

from akd.errors import (
    INPUT_ERRNOS,
    MACHINE_ERRNOS,
    AkdError,
    Diverged,
    Exited,
    MachineFailure,
    Terminated,
    redact_urls,
    service_failure,
)

OK, BUG, REFUSED, DIVERGED, MACHINE, INTERRUPTED, TERMINATED = 0, 1, 2, 3, 4, 130, 143
KEPT = "finished runs are in MLflow and the model store"


def one_line(message: str) -> str:
    return " ".join(message.split())


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
    if isinstance(exc, Exited):
        return exc.code, f"akd: error: {one_line(str(exc))}"
    if isinstance(exc, AkdError):
        return REFUSED, f"akd: error: {one_line(str(exc))}"
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(status, int) and 400 <= status < 500:  # a server that refuses: its URL or credentials
        first = one_line(str(exc).splitlines()[0] if str(exc) else "")[:300]
        return REFUSED, f"akd: error: the server refused (HTTP {status}): {first}; check its URL and credentials"
    if isinstance(exc, OSError) and exc.errno in INPUT_ERRNOS:  # a path named wrongly, or not ours to write
        where = f": {exc.filename}" if exc.filename else ""
        return REFUSED, f"akd: error: {one_line(exc.strerror or str(exc))}{where}"
    if (isinstance(exc, OSError) and exc.errno in MACHINE_ERRNOS) or service_failure(exc):
        if isinstance(exc, OSError) and exc.strerror:
            what = one_line(exc.strerror) + (f": {exc.filename}" if exc.filename else "")
        else:
            what = f"a database or server failed ({one_line(str(exc).splitlines()[0] if str(exc) else '')[:300]})"
        return MACHINE, f"akd: error: {what}; {KEPT}: run the same command again once it is fixed"
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
    # URL passwords masked throughout (the command, messages): the report is meant to be shared
    text = redact_urls(text + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", errors="backslashreplace")
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
