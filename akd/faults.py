"""Named crash points, for the tests that kill a benchmark and re-run it.

``AKD_KILL_AT=<point>`` makes the process kill itself with SIGKILL (no clean-up, no ``finally``: as
the kernel's OOM killer, a preempted node or ``kill -9`` would) the first time it reaches
``<point>``; ``<point>#<n>`` the n-th time. Points: ``<job> <stage> epoch <e>`` (the epoch trained,
before its checkpoint), ``<job> <stage> checkpointed epoch <e>`` (checkpointed, not yet logged to
MLflow), ``<job> done`` (its result stored, before the next job), ``cache write`` (a teacher-output
table written, before it is committed). ``pool-worker:<point>`` fires in a spawned pool worker only;
``*`` in a point matches any text (``* main epoch 1``: any job's); with ``AKD_KILL_ONCE=<file>``
only the first process to reach the point dies (the file records it). Unset, a point costs a
dictionary lookup.
"""

from __future__ import annotations

import fnmatch
import os
import signal
from collections import Counter

_REACHED: Counter[str] = Counter()


WORKER = "pool-worker:"  # AKD_KILL_AT=pool-worker:<point>: only in a spawned pool worker (akd.pool)


def point(name: str) -> None:
    target = os.environ.get("AKD_KILL_AT")
    if not target:
        return
    if target.startswith(WORKER):
        if os.environ.get("AKD_POOL_WORKER") != "1":
            return
        target = target[len(WORKER) :]
    wanted, _, nth = target.partition("#")
    if not (fnmatch.fnmatchcase(name, wanted) if "*" in wanted else wanted == name):
        return
    _REACHED[wanted] += 1
    if _REACHED[wanted] == int(nth or 1):
        once = os.environ.get("AKD_KILL_ONCE")  # a file: the first process to reach the point dies, no other
        if once:
            try:
                os.close(os.open(once, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return
        os.kill(os.getpid(), signal.SIGKILL)
