"""Run configuration: every default in one documented place, profiles as small overrides.

A benchmark file (``benchmarks/<name>.toml``) names a dataset and, per profile, only what differs
from the defaults below (:mod:`akd.benchfile` reads it). A method's own settings are not here: its
spec declares them (:mod:`akd.methods`) and ``cfg.<method>`` holds them (:meth:`BenchConfig.section`).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from akd.errors import AkdError
from akd.registry import METHODS
from akd.settings import apply

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


CACHE_DTYPES = ("float32", "float16")  # the teacher-output cache's storage types (akd.cache)


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
    # the teacher's training samples: -1 = the students' (data.train_subset); 0 = every training sample
    # (the validation split still held out); N = the first N, a superset of the students' when N >= theirs
    teacher_train_subset: int = -1
    # the teacher's and TAKD's TA's learning rates; 0 = optim.lr. A sweep that tunes optim.lr sets both
    # to the profile's: its trials tune the students and share one teacher (and one TA per seed)
    teacher_lr: float = 0.0
    ta_lr: float = 0.0
    teacher_checkpoint: str = ""  # load this instead of training the teacher
    ta_checkpoint: str = ""  # load this instead of training TAKD's teacher assistant
    seeds: list[int] = field(default_factory=lambda: [0])
    methods: list[str] = field(default_factory=lambda: ["nokd", "kd", "takd", "annealing"])
    # the paired comparisons summaries judge (Holm within them): "annealing" = Annealing-KD minus each
    # other method run; "dkd: kd, nokd" = DKD minus those; "all-pairs" = every pair, in `methods` order
    compare: str = "annealing"
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
    cache: CacheConfig = field(default_factory=CacheConfig)
    jobs: JobsConfig = field(default_factory=JobsConfig)
    task: TaskDecl = field(default_factory=TaskDecl)  # a dataset of your own (data.dataset = "user")
    # each method's own settings (its spec's dataclass), read as cfg.<method>; see section()
    _methods: dict[str, Any] = field(default_factory=dict, repr=False)

    def section(self, method: str) -> Any:
        """The settings of a registered method that declares some (created with its defaults), else None."""
        if method in self._methods:
            return self._methods[method]
        settings = getattr(METHODS.get(method), "settings", None) if method in METHODS else None
        if settings is None:
            return None
        self._methods[method] = settings()
        return self._methods[method]

    def section_names(self) -> list[str]:
        return [m for m in METHODS.names() if getattr(METHODS.get(m), "settings", None) is not None]

    def __eq__(self, other: object) -> bool:  # equal settings, whichever sections were read
        return isinstance(other, BenchConfig) and self.to_dict() == other.to_dict()

    __hash__ = None  # mutable

    def __getattr__(self, name: str) -> Any:  # cfg.kd, cfg.annealing, cfg.<a plug-in's method>
        if name.startswith("_"):
            raise AttributeError(name)
        found = self.section(name)
        if found is None:
            raise AttributeError(f"BenchConfig has no setting or method settings {name!r}")
        return found

    def arch(self, role: str) -> str:
        """The model name of a role: ``teacher``, ``ta`` or ``student``."""
        return {"teacher": self.teacher, "ta": self.ta, "student": self.student}[role]

    def comparison_pairs(self) -> list[tuple[str, str]]:
        """The (A, B) pairs judged as "A minus B", from ``compare`` over the methods run."""
        return comparison_pairs(self.compare, self.methods)

    def optim_for(self, role: str) -> OptimConfig:
        """The optimiser recipe of ``role``: ``optim``, with ``teacher_lr`` / ``ta_lr`` where set."""
        lr = {"teacher": self.teacher_lr, "ta": self.ta_lr}.get(role, 0.0)
        return replace(self.optim, lr=lr) if lr else self.optim

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
        """Every setting, each method's under its name: those of the methods run, and any other changed."""
        out = asdict(self)
        sections = out.pop("_methods")
        for method in self.methods:
            if self.section(method) is not None:
                sections[method] = asdict(self.section(method))
        for method, values in list(sections.items()):
            if method not in self.methods and values == asdict(type(self._methods[method])()):
                del sections[method]
        return out | {m: sections[m] for m in sorted(sections)}


ALL_PAIRS = "all-pairs"


def parse_compare(spec: str) -> tuple[str, list[str]]:
    """``"annealing"`` -> ("annealing", []) (every other method); ``"dkd: kd, nokd"`` -> ("dkd", ["kd", "nokd"])."""
    reference, _, rest = spec.partition(":")
    return reference.strip(), [b.strip() for b in rest.split(",") if b.strip()]


def comparison_pairs(spec: str, methods: list[str]) -> list[tuple[str, str]]:
    """The pairs a ``compare`` setting asks for among ``methods`` (those not run are left out).

    ``all-pairs`` pairs the methods in ``methods`` order (A before B: "A minus B");
    ``all-pairs: a, b, c`` in the order given (how records keep a summary's orientation).
    """
    reference, listed = parse_compare(spec)
    if reference == ALL_PAIRS:
        order = [m for m in listed if m in methods] + [m for m in methods if m not in listed] if listed else methods
        return [(a, b) for i, a in enumerate(order) for b in order[i + 1 :]]
    if reference not in methods:
        return []
    return [(reference, b) for b in listed or methods if b != reference and b in methods]


def resolved_compare(cfg: BenchConfig) -> str:
    """``compare`` with ``all-pairs`` given the methods' order, so a reader of the records orients every
    pair as the summary did."""
    return f"{ALL_PAIRS}: {', '.join(cfg.methods)}" if cfg.compare.strip() == ALL_PAIRS else cfg.compare


def config_from_dict(values: dict[str, Any]) -> BenchConfig:
    """A config rebuilt from :meth:`BenchConfig.to_dict` (a stored ``summary.json``), not validated."""
    rest = {k: v for k, v in values.items() if k not in FIXED}
    cfg = BenchConfig(benchmark=values.get("benchmark", "custom"), profile=values.get("profile", "custom"))
    apply(cfg, rest, fixed=FIXED)
    return cfg


# Set by the benchmark file's name and --profile; a profile or --set cannot move results elsewhere.
FIXED = ("benchmark", "profile")


SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")


def safe_name(value: str, what: str) -> str:
    """``value`` if it can name one folder (no path separators, no ``..``), else a one-line error."""
    if not SAFE_NAME.fullmatch(value):
        raise AkdError(
            f"{what} {value!r} is not a safe name: use letters, digits, '_', '-' and '.', starting with a "
            "letter or digit (it names a folder)"
        )
    return value
