"""Tasks: what differs between image and text work (see :mod:`akd.tasks.base`)."""
