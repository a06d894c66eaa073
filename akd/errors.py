"""The exceptions the CLI turns into one line and an exit code of their own (``akd.exits``)."""

from __future__ import annotations

import contextlib
import errno
import re
from collections.abc import Iterator


class AkdError(Exception):
    """Bad input or a missing resource, explained in one line for the user."""


class Diverged(AkdError):
    """Training produced a non-finite loss: the settings (often the learning rate) are unstable."""


class MachineFailure(AkdError):
    """The machine failed under a run (a worker killed again and again): the same command resumes."""


class Exited(AkdError):
    """Worker processes of one command ended with ``code`` (the most severe of theirs)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised as an interrupt so every run in flight is marked FAILED on the way out."""


def redact_urls(text: str) -> str:
    """``text`` with every URL's password masked (``postgresql://user:***@host``): for tags, files and reports."""
    return re.sub(r"(\b[a-z][\w+.-]*://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)


def raise_terminated(signum: int, frame: object) -> None:
    """A SIGTERM handler."""
    raise Terminated


# errno values of a machine or service that failed (4) and of a path the user named wrongly (2)
MACHINE_ERRNOS = {
    errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.ESTALE, errno.ENOMEM, errno.EPIPE, errno.ETIMEDOUT,
    errno.ECONNRESET, errno.ECONNREFUSED, errno.ECONNABORTED, errno.EHOSTUNREACH, errno.ENETUNREACH,
}  # fmt: skip
INPUT_ERRNOS = {
    errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR, errno.ENOENT, errno.EEXIST,
    errno.ENAMETOOLONG, errno.ELOOP,
}  # fmt: skip
SQLITE_MACHINE = {5, 6, 10, 13, 14}  # SQLITE_BUSY, LOCKED, IOERR, FULL, CANTOPEN (by their primary codes)


def exception_chain(exc: BaseException | None, depth: int = 8) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or while handling, at most ``depth``."""
    seen: set[int] = set()
    while exc is not None and len(seen) < depth and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def service_failure(exc: BaseException) -> bool:
    """A database or a server that stopped answering, anywhere in ``exc``'s chain: SQLAlchemy's
    OperationalError for a locked, full or unreachable database (a schema or SQL error is a bug), a
    lost connection or a timeout, an HTTP 5xx."""
    for e in exception_chain(exc):
        if type(e).__name__ == "OperationalError" and type(e).__module__.startswith(("sqlalchemy", "sqlite3")):
            code = getattr(getattr(e, "orig", e), "sqlite_errorcode", None)  # Python >= 3.11
            return code is None or code & 0xFF in SQLITE_MACHINE  # None: another database's, its connection
        if isinstance(e, (ConnectionError, TimeoutError)) or "ConnectionError" in type(e).__name__:
            return True
        status = getattr(getattr(e, "response", None), "status_code", None)
        if isinstance(status, int) and status >= 500:
            return True
    return False


@contextlib.contextmanager
def model_write(path: object) -> Iterator[None]:
    """Around ``torch.save``: a full disk, which torch reports as a RuntimeError from its zip writer
    ("[enforce fail at inline_container.cc] ... file write failed"), raised as ``OSError(ENOSPC)``,
    which the CLI says in one line."""
    try:
        yield
    except RuntimeError as exc:
        failure = write_failure(exc, path)
        if failure is None:
            raise
        raise failure from None


def write_failure(exc: RuntimeError, path: object) -> OSError | None:
    """The ``OSError(ENOSPC)`` a torch write error stands for, or None for any other RuntimeError."""
    text = str(exc)
    if "inline_container" in text or "PytorchStreamWriter" in text or "write failed" in text:
        return OSError(errno.ENOSPC, "no space left on the device (a model file could not be written)", str(path))
    return None
