"""Search spaces and ablation grids, declared in a benchmark file, checked before any trial runs.

A space is a table ``[sweeps.NAME]`` of the benchmark file (a profile may replace it whole with
``[profiles.P.sweeps.NAME]``: epoch ranges differ between a CPU profile and the paper's)::

    [sweeps.annealing]
    method = "annealing"
    pruner = "median"                        # median (default), hyperband or none
    sampler = "tpe"                          # tpe (default) or random; a grid uses Optuna's grid sampler
    n_trials = 20                            # default for --n-trials
    params = { "annealing.tau_max" = [1, 8], "annealing.phase1_epochs" = [8, 20],
               "optim.lr" = { low = 0.02, high = 0.3, log = true } }

    [sweeps.tau_max]                         # an ablation: every point x every seed
    method = "annealing"
    grid = { "annealing.tau_max" = [1, 2, 5, 10] }   # a product of lists, or a list of points:
    # grid = [ { "annealing.phase1_epochs" = 5, "annealing.phase2_epochs" = 5 }, ... ]

    [sweeps.fair.methods]                    # every method tuned with the same trial budget
    nokd = { "optim.lr" = { low = 0.02, high = 0.3, log = true } }
    kd = { "kd.temperature" = [1.0, 10.0], "kd.w_kd" = [0.1, 1.0] }

    [sweeps.tuned]                           # ... and the same epochs: every trial's student trains 10
    budget = 10
    methods.annealing = { "annealing.phase1_epochs" = [5, 10], "annealing.phase2_epochs" = "rest" }

A parameter is ``[low, high]`` (integers if both are), ``{ low, high, log, step }`` or
``{ choices = [...] }``; its name is the setting it sets. **Every sampled point is valid by
construction**: the space is a box, and every corner of the box (each range at its low and high
end, with every choice) is checked by the suite's own validation when the space is loaded. The
settings' constraints are monotone in each setting (``phase1_epochs >= tau_max``, not both KD
weights 0, ...), so valid corners mean every point inside is valid. For Annealing-KD that means
declaring ``phase1_epochs``' low end at or above ``tau_max``'s high end; a box that breaks a rule
is refused in one line that names the corner.

``budget = E`` fixes every trial's student epochs (over the method's student stages) at ``E``: a
method whose epochs are tuned declares one setting ``"rest"``, which takes what the budget leaves
(Annealing-KD's phase 2 after its sampled phase 1); every corner of every arm must then train
exactly ``E`` epochs, checked when the space is loaded.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import math
from dataclasses import dataclass, field
from typing import Any

from akd.config import FIXED, MACHINE_SETTINGS, BenchConfig, OptimConfig
from akd.errors import AkdError
from akd.hashing import content_key
from akd.methods import build_stages, student_epochs
from akd.registry import METHODS
from akd.settings import apply, flatten, nest

# What a trial may change: the methods' own settings, the optimiser, the models and their epochs.
# Never the data, the seeds or the machine (the objective would then compare different things).
TUNABLE_PREFIXES = ("optim.", "<method>.")  # and every method's own settings (its spec's)
TUNABLE_KEYS = ("teacher", "ta", "student", "teacher_epochs", "ta_epochs", "student_epochs")
PRUNERS = ("median", "hyperband", "none")
SAMPLERS = ("tpe", "random")
MAX_CORNERS = 4096


@dataclass(frozen=True)
class Param:
    key: str
    kind: str  # "int", "float" or "choice"
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: float | None = None
    choices: tuple = ()

    def ends(self) -> list[Any]:
        """The values a corner takes: both ends of a range, every choice."""
        return list(self.choices) if self.kind == "choice" else [self.low, self.high]

    def suggest(self, trial: Any) -> Any:
        if self.kind == "choice":
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high), log=self.log, step=int(self.step or 1))
        return trial.suggest_float(self.key, self.low, self.high, log=self.log, step=self.step)

    def describe(self) -> Any:
        if self.kind == "choice":
            return {"choices": list(self.choices)}
        return {"low": self.low, "high": self.high, "log": self.log, "step": self.step, "type": self.kind}


@dataclass(frozen=True)
class Arm:
    """One method's part of a space: its parameters, or its grid."""

    method: str
    params: tuple[Param, ...] = ()
    grid: dict[str, list] = field(default_factory=dict)  # every setting's values (a product, or the points')
    points: tuple[dict[str, Any], ...] = ()  # explicit points (e.g. equal budgets), instead of the product
    # the most epochs one seed of a trial trains (the student's stages, over the box's corners; set by
    # load_space): each seed's epochs are reported to the pruner at steps seed_index * max_epochs + epoch
    max_epochs: int = 0
    budget: int = 0  # the space's fixed student epochs (0: none)
    rest: str = ""  # the setting that takes what the budget leaves ("" : none)

    @property
    def is_grid(self) -> bool:
        return bool(self.grid)

    def grid_points(self) -> list[dict[str, Any]]:
        if self.points:
            return [dict(p) for p in self.points]
        keys = sorted(self.grid)
        return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(self.grid[k] for k in keys))]

    def suggest(self, trial: Any) -> dict[str, Any]:
        """The trial's settings: flat keys such as ``annealing.tau_max``."""
        if self.is_grid:
            return {k: trial.suggest_categorical(k, list(v)) for k, v in sorted(self.grid.items())}
        return {p.key: p.suggest(trial) for p in self.params}

    def complete(self, cfg: BenchConfig, settings: dict[str, Any]) -> dict[str, Any]:
        """``settings`` with the ``rest`` setting filled: the budget less the epochs the others give."""
        if not self.rest:
            return settings
        zero = {**settings, self.rest: 0}
        left = self.budget - student_epochs(self.method, with_settings(cfg, self.method, zero, check=False))
        if left < 0:
            point = ", ".join(f"{k}={v}" for k, v in settings.items())
            raise AkdError(f"{self.method} at {point} trains more than the budget of {self.budget} epochs")
        return {**settings, self.rest: left}

    def corners(self) -> list[dict[str, Any]]:
        if self.is_grid:
            return self.grid_points()
        keys = [p.key for p in self.params]
        return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(p.ends() for p in self.params))]

    def describe(self) -> dict[str, Any]:
        if self.budget:
            return {**self._describe(), "budget": self.budget, "rest": self.rest}
        return self._describe()

    def _describe(self) -> dict[str, Any]:
        if self.points:
            return {"method": self.method, "points": self.grid_points()}
        if self.is_grid:
            return {"method": self.method, "grid": {k: list(v) for k, v in sorted(self.grid.items())}}
        return {"method": self.method, "params": {p.key: p.describe() for p in self.params}}


@dataclass(frozen=True)
class Space:
    name: str
    arms: tuple[Arm, ...]
    about: str = ""
    sampler: str = "tpe"
    pruner: str = "median"
    n_trials: int = 20

    @property
    def is_grid(self) -> bool:
        return self.arms[0].is_grid


def with_settings(cfg: BenchConfig, method: str, settings: dict[str, Any], check: bool = True) -> BenchConfig:
    """A copy of ``cfg`` running ``method`` alone with ``settings`` (flat keys) applied, validated."""
    from akd.validation import validate

    out = copy.deepcopy(cfg)
    apply(out, nest(settings, {"methods": [method]}), fixed=FIXED)
    if "optim.lr" in settings:  # the students' rate: the teacher and the TA keep the profile's
        out.teacher_lr, out.ta_lr = cfg.optim_for("teacher").lr, cfg.optim_for("ta").lr
    if check:
        validate(out)
    return out


def _param(key: str, spec: Any, where: str) -> Param:
    if spec == "rest":  # what the space's budget leaves (see _with_budget)
        return Param(key, "rest")
    if isinstance(spec, list) and len(spec) == 2 and all(_number(v) for v in spec):
        spec = {"low": spec[0], "high": spec[1]}
    if not isinstance(spec, dict):
        raise AkdError(f"{where}: {key} must be [low, high], {{ low, high, log }} or {{ choices = [...] }}")
    unknown = set(spec) - {"low", "high", "log", "step", "choices"}
    if unknown:
        raise AkdError(f"{where}: {key} has unknown field(s) {', '.join(sorted(unknown))}")
    if "choices" in spec:
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices or len(spec) > 1:
            raise AkdError(f"{where}: {key}'s choices must be a non-empty list, alone")
        return Param(key, "choice", choices=tuple(choices))
    low, high = spec.get("low"), spec.get("high")
    if not (_number(low) and _number(high)) or not low < high:
        raise AkdError(f"{where}: {key} needs numbers low < high, got low={low!r} high={high!r}")
    log = spec.get("log", False)
    if not isinstance(log, bool) or (log and low <= 0):
        raise AkdError(f"{where}: {key}'s log must be true or false, and a log range needs low > 0")
    kind = "int" if isinstance(low, int) and isinstance(high, int) else "float"
    step = spec.get("step")
    if step is not None and (not _number(step) or step <= 0 or (log and step)):
        raise AkdError(f"{where}: {key}'s step must be a positive number, and not with log")
    return Param(key, kind, float(low), float(high), log, step)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_key(key: str, where: str) -> None:
    head = key.split(".")[0]
    own = "." in key and head in METHODS and getattr(METHODS.get(head), "settings", None) is not None
    if key.startswith("optim.") and key != "optim.lr" and key[6:] in OptimConfig.__dataclass_fields__:
        raise AkdError(
            f"{where}: {key!r} cannot be swept: the teacher and TA train with the optimiser too, so every trial "
            "would train a teacher of its own (optim.lr is the students' alone: the teacher and TA keep the "
            "profile's rate); set teacher_checkpoint to sweep the rest"
        )
    if not (own or key.startswith("optim.") or key in TUNABLE_KEYS):
        raise AkdError(
            f"{where}: {key!r} cannot be swept (a trial may change {', '.join(p + '*' for p in TUNABLE_PREFIXES)} "
            f"and {', '.join(TUNABLE_KEYS)}; never the data, seeds or machine)"
        )


def _arm(method: str, table: dict[str, Any], where: str) -> Arm:
    if method not in METHODS:
        raise AkdError(f"{where}: unknown method {method!r}; choose from: {', '.join(METHODS.names())}")
    params = table.get("params", {})
    grid = table.get("grid", {})
    points: list[dict[str, Any]] = []
    if isinstance(grid, list):  # explicit points, each a table of settings
        if not grid or not all(isinstance(p, dict) and p for p in grid) or len({frozenset(p) for p in grid}) != 1:
            raise AkdError(f"{where}: grid points must be tables that all set the same settings")
        if len({json.dumps(p, sort_keys=True) for p in grid}) != len(grid):
            raise AkdError(f"{where}: a grid point is repeated")
        points = grid
        grid = {k: list(dict.fromkeys(p[k] for p in points)) for k in points[0]}
    if not isinstance(params, dict) or not isinstance(grid, dict):
        raise AkdError(f"{where}: params and grid must be tables of setting = range")
    if bool(params) == bool(grid):
        which = "both" if grid else "neither"
        raise AkdError(f"{where}: declare either params (a search) or grid (an ablation), not {which}")
    for key in [*params, *grid]:
        _check_key(key, where)
    if grid:
        for key, values in grid.items():
            if not isinstance(values, list) or not values:
                raise AkdError(f"{where}: grid {key} must be a non-empty list of values")
            if not points and len({json.dumps(v) for v in values}) != len(values):
                raise AkdError(f"{where}: grid {key} repeats a value")
        return Arm(method, grid={k: list(v) for k, v in grid.items()}, points=tuple(points))
    return Arm(method, tuple(_param(k, v, where) for k, v in sorted(params.items())))


def parse_space(name: str, table: Any, where: str) -> Space:
    if not isinstance(table, dict):
        raise AkdError(f"{where} must be a table")
    known = {"about", "method", "params", "grid", "methods", "sampler", "pruner", "n_trials", "budget"}
    unknown = set(table) - known
    if unknown:
        raise AkdError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
    if "methods" in table:  # a fair comparison: one arm per method, each with the same budget
        methods = table["methods"]
        if not isinstance(methods, dict) or not methods or "method" in table:
            raise AkdError(f"{where}: methods must be a non-empty table of method = {{ setting = range }}")
        arms = tuple(_arm(m, {"params": p}, f"{where}.methods.{m}") for m, p in methods.items())
    else:
        if "method" not in table:
            raise AkdError(f'{where}: name the method whose settings it sweeps (method = "annealing")')
        arms = (_arm(table["method"], table, where),)
    sampler, pruner = table.get("sampler", "tpe"), table.get("pruner", "median")
    if sampler not in SAMPLERS:
        raise AkdError(f"{where}: sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    if pruner not in PRUNERS:
        raise AkdError(f"{where}: pruner must be one of {', '.join(PRUNERS)}, got {pruner!r}")
    n_trials = table.get("n_trials", len(arms[0].grid_points()) if arms[0].is_grid else 20)
    if not isinstance(n_trials, int) or isinstance(n_trials, bool) or n_trials < 1:
        raise AkdError(f"{where}: n_trials must be a positive integer, got {n_trials!r}")
    budget = table.get("budget", 0)
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 0:
        raise AkdError(f"{where}: budget must be a positive number of epochs, got {budget!r}")
    arms = tuple(_with_budget(arm, budget, where) for arm in arms)
    return Space(name, arms, str(table.get("about", "")), sampler, pruner, n_trials)


def _with_budget(arm: Arm, budget: int, where: str) -> Arm:
    rest = [p.key for p in arm.params if p.kind == "rest"]
    if rest and not budget:
        raise AkdError(f"{where}: {arm.method}'s {rest[0]} = \"rest\" needs the space's budget = EPOCHS")
    if len(rest) > 1:
        raise AkdError(f'{where}: {arm.method} declares {len(rest)} settings "rest"; one takes what is left')
    params = tuple(p for p in arm.params if p.kind != "rest")
    return dataclasses.replace(arm, params=params, budget=budget, rest=rest[0] if rest else "")


def load_space(spec: dict[str, Any], profile: str, name: str, cfg: BenchConfig) -> Space:
    """The space ``name`` of a benchmark file for ``profile``, every corner checked against ``cfg``."""
    spaces = dict(spec.get("sweeps", {}))
    spaces.update(spec.get("profiles", {}).get(profile, {}).get("sweeps", {}))
    if name not in spaces:
        known = ", ".join(sorted(spaces)) or "none declared"
        raise AkdError(f"benchmark {cfg.benchmark!r} has no sweep space {name!r} for profile {profile!r}: {known}")
    space = parse_space(name, spaces[name], f"sweep space {name!r}")
    return dataclasses.replace(space, arms=tuple(_checked(space.name, arm, cfg) for arm in space.arms))


def _checked(name: str, arm: Arm, cfg: BenchConfig) -> Arm:
    """``arm`` with its ``max_epochs``, once every corner passed the suite's validation."""
    corners = arm.corners()
    if len(corners) > MAX_CORNERS:
        raise AkdError(f"sweep space {name!r}: {len(corners)} corners to check; split it into smaller spaces")
    epochs = 0
    for corner in corners:
        point = ", ".join(f"{k}={v}" for k, v in corner.items()) or "its profile settings"
        try:
            trial_cfg = with_settings(cfg, arm.method, arm.complete(cfg, corner))
        except AkdError as exc:
            raise AkdError(f"sweep space {name!r} ({arm.method}) has an invalid point {point}: {exc}") from None
        trained = sum(st.epochs for st in build_stages(arm.method, trial_cfg) if not st.shared)
        if arm.budget and trained != arm.budget:
            raise AkdError(
                f"sweep space {name!r}: {arm.method} at {point} trains its student {trained} epochs, not the "
                f'space\'s budget of {arm.budget} (tune epochs with one setting = "rest")'
            )
        epochs = max(epochs, trained)
    return dataclasses.replace(arm, max_epochs=epochs)


OBJECTIVE = "val_<selection metric>_best, mean over seeds"


def fingerprint(cfg: BenchConfig, space: Space, arm: Arm, seeds: list[int]) -> tuple[str, dict[str, Any]]:
    """What a study's trials mean: its space, how it is searched (sampler, pruner: a pruned trial's
    state depends on it), objective, seeds and every other setting."""
    fixed = {k: v for k, v in flatten(cfg.to_dict()).items() if not _machine(k)}
    how = {"sampler": space.sampler, "pruner": space.pruner}
    what = {"arm": arm.describe(), "search": how, "objective": OBJECTIVE, "seeds": list(seeds), "config": fixed}
    return content_key(what, 16), what


def _machine(key: str) -> bool:
    """Keys that do not change what a trial trains: the machine, and what is run and judged around it."""
    return key in MACHINE_SETTINGS or key in ("seeds", "methods", "label", "tasks", "compare")
