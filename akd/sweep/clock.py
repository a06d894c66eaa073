"""A study's clock: wall seconds per step over every attempt of the command, and each attempt's plan.

A killed attempt's time is kept to within a tick; each step is measured against the estimate the
plan printed before that step began. The file (``.akd/studies/<benchmark>-<profile>-<key>.json``)
may carry an operator's note per attempt (why it was killed, a wall left out and why), printed
under the study's cost table.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from akd.hashing import atomic_write

TICK_S = 15.0  # how often the clock records a step's progress (lost at most once, on a SIGKILL)


class Clock:
    """Wall seconds per step, over every attempt: each attempt's time is written every ``TICK_S``
    and at the step's end, so a killed attempt's time is kept (to within a tick)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.doc: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        self.attempt = str(len(self.doc.get("attempts", [])))
        self.doc.setdefault("attempts", []).append({"started": time.time()})
        self.lock = threading.Lock()
        self.current: tuple[str, float] | None = None
        self.stop = threading.Event()
        self._write()
        threading.Thread(target=self._tick, daemon=True).start()

    def _write(self) -> None:
        with self.lock:
            if self.current is not None:
                step, since = self.current
                self.doc.setdefault("walls", {}).setdefault(step, {})[self.attempt] = time.time() - since
            atomic_write(self.path, json.dumps(self.doc, indent=1, sort_keys=True) + "\n")

    def _tick(self) -> None:
        while not self.stop.wait(TICK_S):
            self._write()

    def start(self, step: str) -> None:
        self.current = (step, time.time())
        self._write()

    def tick(self) -> None:
        self._write()

    def end(self) -> None:
        self._write()
        self.current = None

    def wall(self, step: str) -> float:
        return sum(self.doc.get("walls", {}).get(step, {}).values())

    def attempts(self) -> int:
        return len(self.doc["attempts"])

    def estimate(self, seconds: dict[str, float]) -> None:
        """This attempt's plan: each step's estimate from scratch, as printed before it began."""
        with self.lock:
            self.doc["attempts"][-1]["estimate"] = dict(seconds)
        self._write()

    def step_estimates(self, current: dict[str, float]) -> dict[str, float]:
        """Each step's estimate as printed by the attempt that began it (the first with time in it):
        a step is measured against what the plan said before it ran, not against a later attempt's
        probe. ``current`` for a step no attempt began yet, or one begun by an attempt that recorded
        no estimate (a clock from before attempts recorded theirs)."""
        out = dict(current)
        for step, walls in self.doc.get("walls", {}).items():
            if step in out and walls:
                first = self.doc["attempts"][min(map(int, walls))]
                out[step] = first.get("estimate", {}).get(step, out[step])
        return out

    def notes(self) -> list[str]:
        """What an operator wrote beside an attempt (a kill's reason, a wall not counted and why)."""
        return [f"attempt {i}: {a['note']}" for i, a in enumerate(self.doc["attempts"]) if a.get("note")]

    def close(self) -> None:
        self.stop.set()
        self._write()
