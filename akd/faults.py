"""Named crash points, for the tests that kill a benchmark and re-run it.

``AKD_KILL_AT=<point>`` makes the process kill itself with SIGKILL (no clean-up, no ``finally``:
as the kernel's OOM killer, a preempted node or ``kill -9`` would) the first time it reaches
``<point>``; ``<point>#<n>`` the n-th time. Points: ``<job> <stage> epoch <e>`` (the epoch
trained, before its checkpoint), ``<job> <stage> checkpointed epoch <e>`` (checkpointed, not yet
logged to MLflow), ``<job> done`` (its result stored, before the next job),
``cache write`` (a teacher-output table written, before it is committed). Unset, a point costs a
dictionary lookup.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_REACHED: Counter[str] = Counter()


def point(name: str) -> None:
    target = os.environ.get("AKD_KILL_AT")
    if not target or not target.startswith(name):
        return
    _REACHED[name] += 1
    wanted, _, nth = target.partition("#")
    if wanted == name and _REACHED[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
