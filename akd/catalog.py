"""Everything the suite can run: importing this module registers every method, model and task.

Imported only by entry points (``akd.cli``, ``benchmarks.perf``, the tests, notebooks), never by
the library, so the library does not depend on its plug-ins. Third-party packages add their own
by declaring an entry point in the ``akd.plugins`` group, e.g. in their ``pyproject.toml``::

    [project.entry-points."akd.plugins"]
    mymethod = "my_package.my_method"
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

import akd.annealing  # noqa: F401  (registers "annealing")
import akd.models  # noqa: F401  (registers the CIFAR ResNets and plain CNNs)
import akd.tasks.glue  # noqa: F401  (registers glue-cola ... glue-rte)
import akd.tasks.image  # noqa: F401  (registers cifar10, cifar100, fashion_mnist)
import akd.tasks.movies  # noqa: F401  (registers movies-sst2, movies-score and the minilm ladder)
import akd.tasks.user  # noqa: F401  (registers "user": a dataset declared in a benchmark file)
import baselines  # noqa: F401  (registers nokd, kd, takd)
from akd.errors import AkdError
from akd.registry import IMAGE_MODELS, METHODS, TASKS, TEXT_MODELS

for _ep in entry_points(group="akd.plugins"):
    try:
        importlib.import_module(_ep.value.split(":")[0])
    except ImportError as exc:
        raise AkdError(f"plug-in {_ep.name} ({_ep.value}) cannot be imported: {exc}") from None

__all__ = ["IMAGE_MODELS", "METHODS", "TASKS", "TEXT_MODELS"]
