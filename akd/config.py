"""Run configuration: every default in one documented place, profiles as small overrides.

A benchmark file (``benchmarks/<name>.toml``) names a dataset and, per profile, only what differs
from the defaults below. :func:`load_benchmark` merges defaults <- ``[defaults]`` <- ``[profiles.P]``
<- command-line ``--set key=value`` overrides, then validates the result.
"""

from __future__ import annotations

import dataclasses
import math
import re
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
    "submission",
    "jobs.checkpoint_epochs",
    "jobs.checkpoint_minutes",
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
    max_length: int = 128  # text: tokens per example (longer ones are truncated)
    tokenizer: str = ""  # text: "" = the student's tokenizer, shared by teacher and TA (as the official code)

    @property
    def default_folder(self) -> bool:
        """True when ``data_dir`` is the default, not a folder the user named."""
        return self.data_dir == DataConfig.data_dir

    def val_count(self, n_train_full: int) -> int:
        """Images held out of the training set for validation (none under test-set selection)."""
        return 0 if self.selection == "test" else int(round(self.val_fraction * n_train_full))


@dataclass
class OptimConfig:
    """The optimiser recipe, fresh for every stage (every Annealing-KD phase); see akd.optim."""

    name: str = "sgd"  # "sgd" or "adamw"
    lr: float = 0.1
    momentum: float = 0.9  # sgd
    weight_decay: float = 1e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])  # adamw
    eps: float = 1e-8  # adamw
    schedule: str = "step"  # "step": milestones x gamma, per epoch; "linear": warm-up, then to 0, per step
    milestones: list[float] = field(default_factory=lambda: [0.5, 0.75])  # fractions of a stage
    gamma: float = 0.1
    warmup: float = 0.0  # linear schedule: fraction of the stage's steps spent warming up
    clip_grad_norm: float = 0.0  # clip gradients to this global L2 norm; 0 = no clipping
    batch_size: int = 128
    eval_batch_size: int = 256


@dataclass
class KDConfig:
    """Hinton KD: ``w_kd * T^2 * KL(p_t || p_s) + w_ce * CE``."""

    temperature: float = 4.0
    w_kd: float = 0.9
    w_ce: float = 0.1


@dataclass
class TAKDConfig:
    """Teacher -> TA (``takd.ta.*``) and TA -> student (``takd.student.*``), each by Hinton KD."""

    ta: KDConfig = field(default_factory=KDConfig)
    student: KDConfig = field(default_factory=KDConfig)


@dataclass
class AnnealingConfig:
    tau_max: int = 10
    phase1_epochs: int = 200
    phase2_epochs: int = 200
    mse_reduction: str = "mean"  # "mean" (official code) or "sum" (paper: sum over classes)
    phase1_loss: str = "mse"  # "mse" (the paper) or "kl": KL to the teacher softened by the annealed T (ablation)


@dataclass
class CacheConfig:
    """Teacher and TA outputs, computed once per (weights, data, augmentation, seed, epoch) (akd.cache)."""

    enabled: bool = True
    dir: str = ""  # "" = $AKD_CACHE, else .akd/cache
    max_gb: float = 20.0  # least recently used epochs are evicted beyond this; 0 = no limit
    dtype: str = "float32"  # "float16" halves the size; logits keep 11 significant bits


@dataclass
class JobsConfig:
    """Checkpoints of every training job (akd.checkpoint): after every ``checkpoint_epochs`` epochs,
    and at the first epoch end once ``checkpoint_minutes`` have passed since the last (0: off)."""

    checkpoint_epochs: int = 1
    checkpoint_minutes: float = 0.0


@dataclass
class TaskDecl:
    """A dataset of your own, declared in a benchmark file's ``[task]`` table (akd.tasks.user).

    ``kind = "text"``: TSV files in GLUE's layout (``texts`` names the sentence column or the two
    of a pair, ``label`` the label column; ``num_labels = 1`` for regression). ``kind = "images"``:
    torchvision's ImageFolder layout (``train``/``test`` are folders of class folders) or IDX files
    (``train``/``test`` the image files, ``train_labels``/``test_labels`` the label files);
    normalisation from ``mean``/``std`` (0..1 scale, one per channel) or computed on the training split.
    """

    kind: str = ""  # "" (none), "text" or "images"
    folder: str = ""  # relative paths are relative to the benchmark file
    train: str = ""
    test: str = ""
    train_labels: str = ""
    test_labels: str = ""
    texts: list[str] = field(default_factory=lambda: ["sentence"])
    label: str = "label"
    num_labels: int = 2
    label_names: list[str] = field(default_factory=list)  # labels written as strings, in index order
    header: bool = True  # text: the files' first line names the columns
    column_names: list[str] = field(default_factory=list)  # text files without a header line
    metrics: list[str] = field(default_factory=lambda: ["acc"])
    selection: str = ""  # "" = the first metric
    report: str = ""  # "" = the selection metric
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)


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
    tasks: list[str] = field(default_factory=list)  # datasets run one after another; [] = data.dataset alone
    device: str = "auto"
    threads: int = 0  # 0 = torch's default
    deterministic: bool = False
    channels_last: bool = True  # NHWC layout: faster on these CPUs and on GPUs (akd.runtime)
    amp: bool = True  # bf16 autocast on CUDA; never used on CPU
    compile: bool = False  # torch.compile the trained and the frozen models
    submission: bool = False  # GLUE: also write the GLUE server's prediction files for each method and seed
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    kd: KDConfig = field(default_factory=KDConfig)
    takd: TAKDConfig = field(default_factory=TAKDConfig)
    annealing: AnnealingConfig = field(default_factory=AnnealingConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    jobs: JobsConfig = field(default_factory=JobsConfig)
    task: TaskDecl = field(default_factory=TaskDecl)  # a dataset of your own (data.dataset = "user")

    def arch(self, role: str) -> str:
        """The model name of a role: ``teacher``, ``ta`` or ``student``."""
        return {"teacher": self.teacher, "ta": self.ta, "student": self.student}[role]

    def checkpoint(self, role: str) -> str:
        """The checkpoint the user named for ``role`` (teacher or ta), or ""."""
        return {"teacher": self.teacher_checkpoint, "ta": self.ta_checkpoint}.get(role, "")

    @property
    def variant(self) -> str:
        """The profile, or ``profile-label`` when settings differ from it."""
        return f"{self.profile}-{self.label}" if self.label else self.profile

    def results_folder(self, root: Path) -> Path:
        """``root/<benchmark>/<variant>``, and ``/<dataset>`` for one task of a several-task benchmark."""
        folder = root / self.benchmark / self.variant
        return folder / self.data.dataset if self.tasks else folder

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


# Set by the benchmark file's name and --profile; a profile or --set cannot move results elsewhere.
FIXED = ("benchmark", "profile")


def _apply(obj: Any, values: dict[str, Any], where: str) -> None:
    """Set fields of a (nested) dataclass from a dict, rejecting unknown keys and wrong types."""
    fields = {f.name: f for f in dataclasses.fields(obj)}
    for key, value in values.items():
        if key not in fields:
            raise AkdError(f"unknown setting '{where}{key}'; known: {', '.join(fields)}")
        if not where and key in FIXED:
            raise AkdError(f"setting {key} cannot be changed: it is the benchmark file's name and --profile")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise AkdError(f"setting {where}{key} must be a table")
            _apply(current, value, f"{where}{key}.")
        else:
            if isinstance(current, list) and not current:  # an empty default: the annotation gives the type
                current = [0.0] if "float" in str(fields[key].type) else [""]
            setattr(obj, key, _coerce(value, current, f"{where}{key}"))


def _coerce(value: Any, current: Any, name: str) -> Any:
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
        return [_coerce(v.strip() if isinstance(v, str) else v, prototype, name) for v in items]
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


SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")


def safe_name(value: str, what: str) -> str:
    """``value`` if it can name one folder (no path separators, no ``..``), else a one-line error."""
    if not SAFE_NAME.fullmatch(value):
        raise AkdError(
            f"{what} {value!r} is not a safe name: use letters, digits, '_', '-' and '.', starting with a "
            "letter or digit (it names a folder)"
        )
    return value


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
    from akd.validation import validate

    spec = read_benchmark_file(name)
    path = benchmark_path(name)
    profiles = spec.get("profiles", {})
    if not isinstance(profiles, dict) or profile not in profiles or not isinstance(profiles[profile], dict):
        raise AkdError(f"benchmark {name!r} has no profile {profile!r}; choose one of: {', '.join(profiles)}")
    cfg = BenchConfig(benchmark=path.stem, profile=safe_name(profile, "profile"))
    if "task" in spec:  # a dataset of the user's own: its folder is relative to the file
        _apply(cfg, {"task": spec["task"], "data": {"dataset": "user"}}, "")
        if cfg.task.folder and not Path(cfg.task.folder).expanduser().is_absolute():
            cfg.task.folder = str((path.parent / cfg.task.folder).resolve())
    _apply(cfg, spec.get("defaults", {}), "")
    _apply(cfg, {k: v for k, v in profiles[profile].items() if k not in ("about", "sweeps")}, "")
    _apply(cfg, overrides or {}, "")
    validate(cfg)
    return cfg
