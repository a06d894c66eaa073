"""The one exception type the CLI turns into a one-line message and a non-zero exit."""


class AkdError(Exception):
    """Bad input or a missing resource, explained in one line for the user."""


class Diverged(AkdError):
    """Training produced a non-finite loss: the settings (often the learning rate) are unstable."""
