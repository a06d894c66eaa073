"""Run configuration: every default in one documented place, profiles as small overrides.

A benchmark file (``benchmarks/<name>.toml``) names a dataset and, per profile, only what differs
from the defaults below. :func:`load_benchmark` merges defaults <- ``[defaults]`` <- ``[profiles.P]``
<- command-line ``--set key=value`` overrides, then validates the result.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from akd.errors import AkdError

BENCHMARK_DIR = Path(__file__).resolve().parent.parent / "benchmarks"
# Where and how a run executes, not what it computes (at most the last bits change): changing these
# does not make a new variant of a profile's results.
MACHINE_SETTINGS = (
    "data.data_dir",
    "device",
    "threads",
    "channels_last",
    "amp",
    "compile",
    "cache.enabled",
    "cache.dir",
    "cache.max_gb",
)


@dataclass
class DataConfig:
    dataset: str = "cifar100"
    data_dir: str = "data"
    val_fraction: float = 0.1  # held out of the training set for every selection decision
    split_seed: int = 0  # fixed per benchmark, independent of the run seed
    selection: str = "val"  # "val" or "test" (the official code's test-set selection)
    train_subset: int = 0  # 0 = all remaining training images
    val_subset: int = 0
    test_subset: int = 0
    pad: int = 4  # random-crop padding; 0 disables the crop
    flip: bool = True
    official_cifar10_stats: bool = False  # normalise CIFAR-10 with CIFAR-100's statistics


@dataclass
class OptimConfig:
    """SGD with a step schedule, fresh for every stage (every Annealing-KD phase)."""

    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    batch_size: int = 128
    milestones: list[float] = field(default_factory=lambda: [0.5, 0.75])  # fractions of a stage
    gamma: float = 0.1
    eval_batch_size: int = 256


@dataclass
class KDConfig:
    """Hinton KD: ``w_kd * T^2 * KL(p_t || p_s) + w_ce * CE``."""

    temperature: float = 4.0
    w_kd: float = 0.9
    w_ce: float = 0.1


@dataclass
class TAKDConfig:
    """Teacher -> TA and TA -> student, each by Hinton KD with its own weights."""

    ta_temperature: float = 4.0
    ta_w_kd: float = 0.9
    ta_w_ce: float = 0.1
    temperature: float = 4.0
    w_kd: float = 0.9
    w_ce: float = 0.1


@dataclass
class AnnealingConfig:
    tau_max: int = 10
    phase1_epochs: int = 200
    phase2_epochs: int = 200
    mse_reduction: str = "mean"  # "mean" (official code) or "sum" (paper: sum over classes)


@dataclass
class CacheConfig:
    """Teacher and TA outputs, computed once per (weights, data, augmentation, seed, epoch) (akd.cache)."""

    enabled: bool = True
    dir: str = ""  # "" = $AKD_CACHE, else .akd/cache
    max_gb: float = 20.0  # least recently used epochs are evicted beyond this; 0 = no limit
    dtype: str = "float32"  # "float16" halves the size; logits keep 11 significant bits


@dataclass
class BenchConfig:
    benchmark: str = "custom"
    profile: str = "custom"
    label: str = ""  # names a variant of the profile; its results go to <profile>-<label>/
    paper_table: str = ""  # key of the reference numbers in akd.paper ("" = none)
    teacher: str = "resnet110"
    ta: str = "resnet20"
    student: str = "resnet8"
    teacher_epochs: int = 200
    ta_epochs: int = 200
    student_epochs: int = 200  # no-KD, KD and each TAKD stage
    teacher_seed: int = 0
    teacher_checkpoint: str = ""  # load this instead of training the teacher
    ta_checkpoint: str = ""  # load this instead of training TAKD's teacher assistant
    seeds: list[int] = field(default_factory=lambda: [0])
    methods: list[str] = field(default_factory=lambda: ["nokd", "kd", "takd", "annealing"])
    device: str = "auto"
    threads: int = 0  # 0 = torch's default
    deterministic: bool = False
    channels_last: bool = True  # NHWC layout: faster on these CPUs and on GPUs (akd.runtime)
    amp: bool = True  # bf16 autocast on CUDA; never used on CPU
    compile: bool = False  # torch.compile the trained and the frozen models
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    kd: KDConfig = field(default_factory=KDConfig)
    takd: TAKDConfig = field(default_factory=TAKDConfig)
    annealing: AnnealingConfig = field(default_factory=AnnealingConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)

    @property
    def variant(self) -> str:
        """The profile, or ``profile-label`` when settings differ from it."""
        return f"{self.profile}-{self.label}" if self.label else self.profile

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def _apply(obj: Any, values: dict[str, Any], where: str) -> None:
    """Set fields of a (nested) dataclass from a dict, rejecting unknown keys and wrong types."""
    fields = {f.name: f for f in dataclasses.fields(obj)}
    for key, value in values.items():
        if key not in fields:
            raise AkdError(f"unknown setting {where}{key!r}; known: {', '.join(fields)}")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise AkdError(f"setting {where}{key} must be a table")
            _apply(current, value, f"{where}{key}.")
        else:
            setattr(obj, key, _coerce(value, current, f"{where}{key}"))


def _coerce(value: Any, current: Any, name: str) -> Any:
    try:
        if isinstance(current, bool):
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(value)
                return value.lower() in ("true", "1")
            return bool(value)
        if isinstance(current, list):
            items = value.split(",") if isinstance(value, str) else list(value)
            kind = type(current[0]) if current else str
            return [kind(v) for v in items]
        if isinstance(current, int) and isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return type(current)(value)
    except (TypeError, ValueError):
        raise AkdError(f"setting {name}={value!r} is not a valid {type(current).__name__}") from None


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["annealing.tau_max=5", "seeds=1,2"]`` -> nested dict."""
    nested: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise AkdError(f"--set expects key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        node = nested
        *parents, leaf = key.strip().split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value.strip()
    return nested


def list_benchmarks() -> list[str]:
    return sorted(p.stem for p in BENCHMARK_DIR.glob("*.toml"))


def read_benchmark_file(name: str) -> dict[str, Any]:
    path = BENCHMARK_DIR / f"{name}.toml"
    if not path.exists():
        raise AkdError(f"unknown benchmark {name!r}; choose one of: {', '.join(list_benchmarks())}")
    with open(path, "rb") as f:
        return tomllib.load(f)


def load_benchmark(name: str, profile: str, overrides: dict[str, Any] | None = None) -> BenchConfig:
    spec = read_benchmark_file(name)
    profiles = spec.get("profiles", {})
    if profile not in profiles:
        raise AkdError(f"benchmark {name!r} has no profile {profile!r}; choose one of: {', '.join(profiles)}")
    cfg = BenchConfig(benchmark=name, profile=profile)
    _apply(cfg, spec.get("defaults", {}), "")
    _apply(cfg, {k: v for k, v in profiles[profile].items() if k != "about"}, "")
    _apply(cfg, overrides or {}, "")
    validate(cfg)
    return cfg


def validate(cfg: BenchConfig) -> None:
    """Reject impossible settings before anything is trained or written."""
    from akd.methods import available_methods
    from akd.models import MODELS

    for role in ("teacher", "ta", "student"):
        if getattr(cfg, role) not in MODELS:
            raise AkdError(f"unknown {role} model {getattr(cfg, role)!r}; choose one of: {', '.join(MODELS)}")
    unknown = [m for m in cfg.methods if m not in available_methods()]
    if unknown or not cfg.methods:
        raise AkdError(
            f"unknown method {', '.join(unknown) or '(none)'}; choose from: {', '.join(available_methods())}"
        )
    if not cfg.seeds:
        raise AkdError("at least one seed is needed")
    a = cfg.annealing
    if a.tau_max < 1:
        raise AkdError(f"annealing.tau_max must be >= 1, got {a.tau_max}")
    if a.phase1_epochs < a.tau_max:
        raise AkdError(
            f"annealing.phase1_epochs ({a.phase1_epochs}) must be >= tau_max ({a.tau_max}): "
            "every temperature needs at least one epoch"
        )
    if a.mse_reduction not in ("mean", "sum"):
        raise AkdError(f"annealing.mse_reduction must be 'mean' or 'sum', got {a.mse_reduction!r}")
    if a.phase2_epochs < 0:
        raise AkdError("annealing.phase2_epochs must be >= 0")
    for name in ("teacher_epochs", "ta_epochs", "student_epochs"):
        if getattr(cfg, name) < 1:
            raise AkdError(f"{name} must be >= 1, got {getattr(cfg, name)}")
    for name, kd in (("kd", cfg.kd), ("takd", cfg.takd)):
        for key, value in asdict(kd).items():
            if value < 0 or (key.endswith("temperature") and value <= 0):
                raise AkdError(f"{name}.{key} must be positive, got {value}")
    for role in ("teacher", "ta"):
        path = getattr(cfg, f"{role}_checkpoint")
        if path and not Path(path).is_file():
            raise AkdError(f"{role}_checkpoint {path} does not exist")
    d = cfg.data
    if not 0 <= d.val_fraction < 1:
        raise AkdError(f"data.val_fraction must be in [0, 1), got {d.val_fraction}")
    if d.selection not in ("val", "test"):
        raise AkdError(f"data.selection must be 'val' or 'test', got {d.selection!r}")
    if d.selection == "val" and d.val_fraction == 0:
        raise AkdError("data.val_fraction is 0: set it above 0 or select on the test set explicitly")
    c = cfg.cache
    if c.dtype not in ("float32", "float16"):
        raise AkdError(f"cache.dtype must be 'float32' or 'float16', got {c.dtype!r}")
    if c.max_gb < 0:
        raise AkdError(f"cache.max_gb must be >= 0 (0 = no limit), got {c.max_gb}")
    o = cfg.optim
    if o.lr <= 0 or o.batch_size < 1 or not all(0 < m <= 1 for m in o.milestones):
        raise AkdError("optim: lr must be > 0, batch_size >= 1, milestones fractions in (0, 1]")
