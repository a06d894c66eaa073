"""The exceptions the CLI turns into one line and an exit code of their own (``akd.exits``)."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator


class AkdError(Exception):
    """Bad input or a missing resource, explained in one line for the user."""


class Diverged(AkdError):
    """Training produced a non-finite loss: the settings (often the learning rate) are unstable."""


class MachineFailure(AkdError):
    """The machine failed under a run (a worker killed again and again): the same command resumes."""


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
