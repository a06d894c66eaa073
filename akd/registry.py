"""Name -> builder tables for the plug-in points: methods, models and tasks.

A leaf module: it imports nothing of the suite's, so the library can look names up without
importing its plug-ins. Plug-ins register themselves when imported (``@METHODS.register("kd")``);
entry points (the CLI, the perf script, the tests, notebooks) import :mod:`akd.catalog`, which
imports the built-in plug-ins and every package that declares an ``akd.plugins`` entry point.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from akd.errors import AkdError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@REGISTRY.register("name")`` files the decorated builder under ``name``."""

        def deco(item: T) -> T:
            if name in self._items and self._items[name] is not item:
                raise AkdError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = item
            return item

        return deco

    def add(self, name: str, item: T) -> None:
        self.register(name)(item)

    def get(self, name: str) -> T:
        if name not in self._items:
            hint = ", ".join(self._items) or "none registered: import akd.catalog first"
            raise AkdError(f"unknown {self.kind} {name!r}; choose one of: {hint}")
        return self._items[name]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def names(self) -> list[str]:
        return list(self._items)


METHODS: Registry = Registry("method")  # name -> fn(BenchConfig) -> list[Stage]
IMAGE_MODELS: Registry = Registry("image model")  # name -> fn(in_channels, num_classes) -> nn.Module
TEXT_MODELS: Registry = Registry("text model")  # preset name -> fn() -> "path or hub id[#layers=N]"
TASKS: Registry = Registry("dataset")  # data.dataset name -> akd.tasks.base.TaskSpec
