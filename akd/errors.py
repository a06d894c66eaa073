"""The one exception type the CLI turns into a one-line message and a non-zero exit."""


class AkdError(Exception):
    """Bad input or a missing resource, explained in one line for the user."""


class Diverged(AkdError):
    """Training produced a non-finite loss: the settings (often the learning rate) are unstable."""


def write_failure(exc: RuntimeError, path: object) -> OSError | None:
    """``torch.save`` reports a full disk as a RuntimeError from its zip writer ("[enforce fail at
    inline_container.cc] ... file write failed"); as ``OSError(ENOSPC)`` the CLI says it in one line."""
    import errno

    text = str(exc)
    if "inline_container" in text or "PytorchStreamWriter" in text or "write failed" in text:
        return OSError(errno.ENOSPC, "no space left on the device (a model file could not be written)", str(path))
    return None
