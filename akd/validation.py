"""Every setting checked for range and consistency before anything is trained or written.

Types and finiteness are enforced while settings are read (:func:`akd.settings.coerce`); this module
checks ranges and combinations (a method's own through its spec, :func:`akd.methods.check_settings`),
each failure one line that names the setting and what it accepts.
Checks that need the data (subset sizes, a step per epoch) live in ``akd.splits.check_sizes``;
checks that need the file system (writable outputs) in :func:`ensure_writable`.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from akd.config import ALL_PAIRS, CACHE_DTYPES, BenchConfig, parse_compare, safe_name
from akd.errors import AkdError
from akd.methods import check_settings
from akd.optim import OPTIMIZERS, SCHEDULES
from akd.paper import known_tables, paper_row
from akd.registry import METHODS, TASKS

DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def _at_least(name: str, value: float, low: float) -> None:
    if value < low:
        raise AkdError(f"{name} must be >= {low:g}, got {value:g}")


def _unique(name: str, values: list) -> None:
    repeated = sorted({str(v) for v in values if values.count(v) > 1})
    if repeated:
        raise AkdError(f"{name} repeats {', '.join(repeated)}: each must appear once (a repeat is not a new sample)")


def validate(cfg: BenchConfig) -> None:
    """Raise :class:`AkdError` on the first impossible or nonsensical setting."""
    safe_name(cfg.benchmark, "benchmark")
    safe_name(cfg.profile, "profile")
    if cfg.label:
        safe_name(cfg.label, "label")
    for task in cfg.tasks:
        TASKS.get(task)  # unknown names: one line listing the known ones
    _unique("tasks", cfg.tasks)
    unknown = [m for m in cfg.methods if m not in METHODS]
    if unknown or not cfg.methods:
        raise AkdError(f"unknown method {', '.join(unknown) or '(none)'}; choose from: {', '.join(METHODS.names())}")
    _unique("methods", cfg.methods)
    _validate_compare(cfg)
    if not cfg.seeds:
        raise AkdError("at least one seed is needed")
    _unique("seeds", cfg.seeds)
    for seed in [*cfg.seeds, cfg.teacher_seed]:
        _at_least("every seed", seed, 0)
    _validate_data(cfg)
    if cfg.paper_table and cfg.paper_table not in known_tables():
        raise AkdError(f"paper_table {cfg.paper_table!r} is unknown; choose one of: {', '.join(known_tables())}")
    for dataset in cfg.tasks or [cfg.data.dataset]:
        if cfg.paper_table and not paper_row(cfg.paper_table, dataset):
            raise AkdError(
                f"paper_table {cfg.paper_table!r} has no numbers for {dataset!r}: "
                "the paper's numbers would stand beside results on other data"
            )
    if not DEVICE.fullmatch(cfg.device):
        raise AkdError(f"unknown device {cfg.device!r}; use auto, cpu, cuda or cuda:N")
    _at_least("threads", cfg.threads, 0)
    _validate_methods(cfg)
    _at_least("teacher_epochs (0 = use the named teacher as it is)", cfg.teacher_epochs, 0)
    for name in ("ta_epochs", "student_epochs"):
        _at_least(name, getattr(cfg, name), 1)
    _at_least("teacher_train_subset (-1 = the students' data, 0 = all)", cfg.teacher_train_subset, -1)
    _at_least("teacher_lr (0 = optim.lr)", cfg.teacher_lr, 0)
    _at_least("ta_lr (0 = optim.lr)", cfg.ta_lr, 0)
    if cfg.teacher_checkpoint and cfg.teacher_train_subset != -1:
        raise AkdError("teacher_train_subset applies to a trained teacher; a teacher_checkpoint is used as it is")
    for role in ("teacher", "ta"):
        path = getattr(cfg, f"{role}_checkpoint")
        if path and not Path(path).is_file():
            raise AkdError(f"{role}_checkpoint {path} does not exist")
    _validate_optim(cfg)
    c = cfg.cache
    if c.dtype not in CACHE_DTYPES:
        raise AkdError(f"cache.dtype must be {' or '.join(map(repr, CACHE_DTYPES))}, got {c.dtype!r}")
    _at_least("cache.max_gb (0 = no limit)", c.max_gb, 0)
    _at_least("jobs.checkpoint_epochs (0 = only at the end of each stage)", cfg.jobs.checkpoint_epochs, 0)
    _at_least("jobs.checkpoint_minutes (0 = off)", cfg.jobs.checkpoint_minutes, 0)


def _validate_methods(cfg: BenchConfig) -> None:
    """Each method's settings, by its spec (and those of methods not run but set: a typo is not silent)."""
    for method in dict.fromkeys([*cfg.methods, *(m for m in cfg.to_dict() if m in METHODS)]):
        check_settings(method, cfg)


def _validate_compare(cfg: BenchConfig) -> None:
    """Names known to the registry; a method named but not run is left out of the pairs (``akd train``,
    a sweep's arm and ``--methods`` run a subset of the profile's methods)."""
    if cfg.compare.strip() == ALL_PAIRS:
        return
    reference, baselines = parse_compare(cfg.compare)
    unknown = [m for m in [reference, *baselines] if m not in METHODS]
    if not reference or unknown:
        raise AkdError(
            f"compare = {cfg.compare!r}: name a method, optionally followed by ': baseline, ...', or 'all-pairs'"
            + (f"; unknown method {', '.join(unknown)}" if unknown else "")
        )


def _validate_data(cfg: BenchConfig) -> None:
    d = cfg.data
    spec = TASKS.get(d.dataset)  # unknown names: one line listing the known ones
    if not d.data_dir.strip():
        raise AkdError("data.data_dir is empty: name the folder holding (or receiving) the dataset")
    if not 0 <= d.val_fraction < 1:
        raise AkdError(f"data.val_fraction must be in [0, 1), got {d.val_fraction}")
    if d.selection not in ("val", "test"):
        raise AkdError(f"data.selection must be 'val' or 'test', got {d.selection!r}")
    if d.selection == "val" and d.val_fraction == 0:
        raise AkdError("data.val_fraction is 0: set it above 0 or select on the test set explicitly")
    for name in ("split_seed", "train_subset", "val_subset", "test_subset"):
        _at_least(f"data.{name} (0 = all)" if name.endswith("subset") else f"data.{name}", getattr(d, name), 0)
    spec.check(cfg)  # the task's own checks (models, augmentation)


def _validate_optim(cfg: BenchConfig) -> None:
    o = cfg.optim
    if o.name not in OPTIMIZERS:
        raise AkdError(f"optim.name must be one of {', '.join(OPTIMIZERS)}, got {o.name!r}")
    if o.schedule not in SCHEDULES:
        raise AkdError(f"optim.schedule must be one of {', '.join(SCHEDULES)}, got {o.schedule!r}")
    if len(o.betas) != 2 or not all(0 <= b < 1 for b in o.betas):
        raise AkdError(f"optim.betas must be two numbers in [0, 1), got {o.betas}")
    if o.eps <= 0:
        raise AkdError(f"optim.eps must be > 0, got {o.eps:g}")
    if not 0 <= o.warmup < 1:
        raise AkdError(f"optim.warmup must be a fraction of a stage in [0, 1), got {o.warmup:g}")
    _at_least("optim.clip_grad_norm (0 = off)", o.clip_grad_norm, 0)
    if o.lr <= 0:
        raise AkdError(f"optim.lr must be > 0, got {o.lr:g}")
    if not 0 <= o.momentum < 1:
        raise AkdError(f"optim.momentum must be in [0, 1), got {o.momentum:g}")
    _at_least("optim.weight_decay", o.weight_decay, 0)
    if o.batch_size < 2:
        raise AkdError(f"optim.batch_size must be >= 2 (BatchNorm cannot train on one sample), got {o.batch_size}")
    _at_least("optim.eval_batch_size", o.eval_batch_size, 1)
    if not all(0 < m <= 1 for m in o.milestones) or o.milestones != sorted(o.milestones):
        raise AkdError(f"optim.milestones must be increasing fractions of a stage in (0, 1], got {o.milestones}")
    if not 0 < o.gamma <= 1:
        raise AkdError(f"optim.gamma (the learning-rate decay factor) must be in (0, 1], got {o.gamma:g}")


def ensure_writable(path: str | Path, what: str) -> None:
    """Fail now, not after hours of training, if ``path`` cannot be created and written.

    Probes the nearest existing ancestor with a temporary file (removed at once), so nothing is
    left behind, and a read-only file system is caught even when running as root.
    """
    target = Path(path).expanduser().absolute()
    probe = target
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise AkdError(f"{what} {path} cannot be created: {probe} is not a folder")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".akd-write-probe-", dir=probe)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise AkdError(
            f"{what} {path} is not writable (creating a file in {probe}: {exc.strerror}); choose another folder"
        ) from None
