"""Benchmark files: ``benchmarks/<name>.toml`` (or any path), read into a validated :class:`BenchConfig`.

:func:`load_benchmark` merges the defaults (:mod:`akd.config`, and each method's spec) <- the
file's ``[defaults]`` <- ``[profiles.P]`` <- command-line ``--set key=value`` overrides, each value
read strictly (:mod:`akd.settings`), then checks the result (:mod:`akd.validation`).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from akd.config import FIXED, BenchConfig, safe_name
from akd.errors import AkdError
from akd.settings import apply
from akd.validation import validate

BENCHMARK_DIR = Path(__file__).resolve().parent.parent / "benchmarks"


def list_benchmarks() -> list[str]:
    return sorted(p.stem for p in BENCHMARK_DIR.glob("*.toml"))


def benchmark_path(name: str) -> Path:
    """``benchmarks/NAME.toml``, or the file itself when ``name`` is a path ending in ``.toml``."""
    if name.endswith(".toml"):
        path = Path(name).expanduser()
        if not path.is_file():
            raise AkdError(f"benchmark file {path} does not exist")
        safe_name(path.stem, "benchmark file name")  # it names the results folder
        return path
    safe_name(name, "benchmark")
    path = BENCHMARK_DIR / f"{name}.toml"
    if not path.exists():
        raise AkdError(
            f"unknown benchmark {name!r}; choose one of: {', '.join(list_benchmarks())}, or give a path to a .toml file"
        )
    return path


def read_benchmark_file(name: str) -> dict[str, Any]:
    path = benchmark_path(name)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise AkdError(f"benchmark file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise AkdError(f"cannot read benchmark file {path}: {exc.strerror}") from None


def load_benchmark(name: str, profile: str, overrides: dict[str, Any] | None = None) -> BenchConfig:

    spec = read_benchmark_file(name)
    path = benchmark_path(name)
    profiles = spec.get("profiles", {})
    if not isinstance(profiles, dict) or profile not in profiles or not isinstance(profiles[profile], dict):
        raise AkdError(f"benchmark {name!r} has no profile {profile!r}; choose one of: {', '.join(profiles)}")
    cfg = BenchConfig(benchmark=path.stem, profile=safe_name(profile, "profile"))
    if "task" in spec:  # a dataset of the user's own: its folder is relative to the file
        apply(cfg, {"task": spec["task"], "data": {"dataset": "user"}}, fixed=FIXED)
        if cfg.task.folder and not Path(cfg.task.folder).expanduser().is_absolute():
            cfg.task.folder = str((path.parent / cfg.task.folder).resolve())
    apply(cfg, spec.get("defaults", {}), fixed=FIXED)
    apply(cfg, {k: v for k, v in profiles[profile].items() if k not in ("about", "sweeps", "study")}, fixed=FIXED)
    apply(cfg, overrides or {}, fixed=FIXED)
    validate(cfg)
    return cfg
