"""Reading settings into dataclasses, strictly, and checking their declared ranges.

The machinery every settings section shares, whoever declares it (:mod:`akd.config` for the
suite's own, a method's spec for its own, see :mod:`akd.methods`):

- :func:`setting` declares a field with its range or choices (``setting(4.0, low=0, open_low=True)``);
  :func:`check_ranges` checks every declared range of a (nested) settings object in one line per failure;
- :func:`apply` sets fields from a dict (TOML, ``--set``), refusing unknown keys and wrong types;
  a type that defines ``__getattr__`` sections (``BenchConfig``) supplies them through ``section``;
- :func:`flatten`, :func:`nest` and :func:`parse_overrides` convert between ``{"kd": {"temperature": 2}}``
  and ``{"kd.temperature": 2}``.

A leaf: it imports nothing of the suite but its error type.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

from akd.errors import AkdError


def setting(
    default: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    open_low: bool = False,
    choices: tuple | None = None,
) -> Any:
    """A dataclass field and the values it accepts: ``[low, high]`` (``(low, high]``: ``open_low``) or ``choices``."""
    meta = {"low": low, "high": high, "open_low": open_low, "choices": choices}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def accepted(f: dataclasses.Field) -> str:
    """What a field declared with :func:`setting` accepts, in words (``"> 0"``, ``"'mse' or 'kl'"``)."""
    m = f.metadata
    if m.get("choices"):
        return " or ".join(map(repr, m["choices"]))
    low, high = m.get("low"), m.get("high")
    lo = f"{'>' if m.get('open_low') else '>='} {low:g}" if low is not None else ""
    hi = f"<= {high:g}" if high is not None else ""
    return " and ".join(p for p in (lo, hi) if p) or "any value"


def check_ranges(obj: Any, prefix: str) -> None:
    """Raise one line for the first field of ``obj`` (recursing into nested sections) outside its declared range."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        name = f"{prefix}.{f.name}"
        if dataclasses.is_dataclass(value):
            check_ranges(value, name)
            continue
        m = f.metadata
        if not m:
            continue
        bad = (
            (m.get("choices") and value not in m["choices"])
            or (m.get("low") is not None and (value <= m["low"] if m.get("open_low") else value < m["low"]))
            or (m.get("high") is not None and value > m["high"])
        )
        if bad:
            raise AkdError(f"{name} must be {accepted(f)}, got {value!r}")


def apply(obj: Any, values: dict[str, Any], where: str = "", fixed: tuple[str, ...] = ()) -> None:
    """Set fields of a (nested) dataclass from a dict, rejecting unknown keys and wrong types.

    A top-level key that is not a field goes to ``obj.section(key)`` when ``obj`` has one (a
    method's settings); ``fixed`` names top-level fields that cannot be set this way.
    """
    fields = {f.name: f for f in dataclasses.fields(obj)}
    section: Callable[[str], Any] | None = getattr(obj, "section", None) if not where else None
    for key, value in values.items():
        if key in fixed and not where:
            raise AkdError(f"setting {key} cannot be changed: it is the benchmark file's name and --profile")
        if key not in fields or key.startswith("_"):
            target = section(key) if section is not None else None
            if target is None:
                known = [*(n for n in fields if not n.startswith("_")), *getattr(obj, "section_names", lambda: [])()]
                raise AkdError(f"unknown setting '{where}{key}'; known: {', '.join(known)}")
            if not isinstance(value, dict):
                raise AkdError(f"setting {where}{key} must be a table")
            apply(target, value, f"{where}{key}.")
            continue
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise AkdError(f"setting {where}{key} must be a table")
            apply(current, value, f"{where}{key}.")
        else:
            if isinstance(current, list) and not current:  # an empty default: the annotation gives the type
                current = [0.0] if "float" in str(fields[key].type) else [""]
            elif isinstance(current, int) and not isinstance(current, bool) and str(fields[key].type) == "float":
                current = float(current)  # `beta: float = 8`: the annotation, not the default's type
            setattr(obj, key, coerce(value, current, f"{where}{key}"))


def coerce(value: Any, current: Any, name: str) -> Any:
    """``value`` (from TOML or a ``--set`` string) as the type of the default ``current``.

    Strict: a bool is not a number, a number is not a bool or a string, and a float must be finite
    (a NaN or infinite learning rate, temperature or size trains nonsense with exit code 0).
    """
    kind = type(current).__name__
    if isinstance(current, list):
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list):
            raise AkdError(f"setting {name}={value!r} is not a valid list")
        prototype = current[0] if current else ""
        return [coerce(v.strip() if isinstance(v, str) else v, prototype, name) for v in items]
    try:
        if isinstance(current, bool):
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
                return value.lower() in ("true", "1")
            raise ValueError(value)
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError(value)
        if isinstance(current, str):
            if not isinstance(value, str):
                raise ValueError(value)
            return value
        if isinstance(current, int):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise AkdError(f"setting {name}={value!r} is not a valid {kind}") from None
    if not math.isfinite(number):
        raise AkdError(f"setting {name}={value!r} must be a finite number")
    return number


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"kd": {"temperature": 2}}`` -> ``{"kd.temperature": 2}``."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def nest(flat: dict[str, Any], into: dict[str, Any] | None = None, replace: bool = True) -> dict[str, Any]:
    """``{"annealing.tau_max": 5}`` -> ``{"annealing": {"tau_max": 5}}``, merged into ``into``.

    With ``replace=False`` a value already in ``into`` is kept (an explicit ``--set`` wins).
    """
    nested = {} if into is None else into
    for key, value in flat.items():
        node = nested
        *parents, leaf = key.strip().split(".")
        for part in parents:
            node = node.setdefault(part, {})
        if replace or leaf not in node:
            node[leaf] = value
    return nested


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["annealing.tau_max=5", "seeds=1,2"]`` -> nested dict."""
    for pair in pairs:
        if "=" not in pair:
            raise AkdError(f"--set expects key=value, got {pair!r}")
    return nest({key: value.strip() for key, value in (pair.split("=", 1) for pair in pairs)})
