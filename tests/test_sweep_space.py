"""Search spaces: every sampled point valid, bad spaces and bad sweep commands refused in one line."""

from __future__ import annotations

import math
import os

import optuna
import pytest
import torch

from akd.benchfile import load_benchmark, read_benchmark_file
from akd.cli import main
from akd.errors import AkdError
from akd.losses import annealing_kl
from akd.sweep.space import load_space, parse_space, with_settings
from tests.sweep_fixture import SPACES, sweep_args, write_bench


@pytest.mark.parametrize("sampler", [optuna.samplers.RandomSampler(seed=0), optuna.samplers.TPESampler(seed=0)])
@pytest.mark.parametrize("name", ["annealing", "fair"])
def test_sampled_points_always_satisfy_the_constraints(sampler, name):
    cfg = load_benchmark("fashion_mnist", "cpu")
    space = load_space(read_benchmark_file("fashion_mnist"), "cpu", name, cfg)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for arm in space.arms:
        study = optuna.create_study(direction="maximize", sampler=sampler)
        for i in range(40):
            trial = study.ask()
            settings = arm.suggest(trial)
            trial_cfg = with_settings(cfg, arm.method, settings)  # validate() raises on any invalid point
            a = trial_cfg.annealing
            assert a.phase1_epochs >= a.tau_max >= 1
            study.tell(trial, float(i % 7))  # TPE then samples from its model, not only at random


def test_annealing_kl_matches_hand_value():
    # teacher [2 ln 3, 0] at T=2 -> p_t = [3/4, 1/4]; a zero student -> p_s = [1/2, 1/2]
    kl = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    teacher = torch.tensor([[2 * math.log(3.0), 0.0]])
    student = torch.zeros(1, 2)
    assert annealing_kl(student, teacher, 2.0).item() == pytest.approx(4 * kl, rel=1e-5)
    assert annealing_kl(student, teacher / 2, 1.0).item() == pytest.approx(kl, rel=1e-5)


BAD_SPACES = {
    "corner": (
        '[sweeps.s]\nmethod = "annealing"\nparams = { "annealing.tau_max" = [1, 4], '
        '"annealing.phase1_epochs" = [2, 6] }',
        "invalid point annealing.phase1_epochs=2.0, annealing.tau_max=4",
    ),
    "data": ('[sweeps.s]\nmethod = "nokd"\nparams = { "data.train_subset" = [10, 20] }', "cannot be swept"),
    "empty": ('[sweeps.s]\nmethod = "nokd"\nparams = {}', "declare either params"),
    "method": ('[sweeps.s]\nmethod = "nope"\nparams = { "optim.lr" = [0.1, 0.2] }', "unknown method 'nope'"),
    "range": ('[sweeps.s]\nmethod = "nokd"\nparams = { "optim.lr" = [0.2, 0.1] }', "needs numbers low < high"),
    "unknown": ('[sweeps.s]\nmethod = "nokd"\nparams = { "optim.nope" = [0.1, 0.2] }', "unknown setting"),
    "pruner": ('[sweeps.s]\nmethod = "nokd"\npruner = "fast"\nparams = { "optim.lr" = [0.1, 0.2] }', "pruner must be"),
    "both_zero": (
        '[sweeps.s]\nmethod = "kd"\nparams = { "kd.w_kd" = [0.0, 1.0], "kd.w_ce" = [0.0, 1.0] }',
        "are both 0",
    ),
}


def _snapshot(root):
    return sorted(p for p in (str(q.relative_to(root)) for q in root.rglob("*")) if "data" not in p.split(os.sep)[:1])


@pytest.mark.parametrize("case", sorted(BAD_SPACES))
def test_bad_space_is_one_line_and_writes_nothing(case, in_tmp, capsys):
    text, message = BAD_SPACES[case]
    bench = write_bench(in_tmp, text)
    before = _snapshot(in_tmp)
    assert main(sweep_args(bench, "s")) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("akd: error:") and message in err, err
    assert _snapshot(in_tmp) == before


@pytest.mark.parametrize(
    ("storage", "message"),
    [
        ("not-a-url", "is not a database URL"),
        ("redis://127.0.0.1:6379", "is not a database URL"),
        ("postgresql://akd:secret@127.0.0.1:1/akd", "cannot be used"),
        ("sqlite:///no/such/dir/here/optuna.db", "cannot be created"),
    ],
)
def test_bad_storage_is_one_line_and_writes_nothing(storage, message, in_tmp, capsys):
    bench = write_bench(in_tmp)
    before = _snapshot(in_tmp)
    if storage.startswith("sqlite:///no"):
        blocker = in_tmp / "no"
        blocker.write_text("a file where a folder would go")
        before = _snapshot(in_tmp)
        storage = f"sqlite:///{blocker}/such/dir/optuna.db"
    assert main(sweep_args(bench, "annealing", "--storage", storage, "--n-trials", "1")) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err, err
    assert "secret" not in err  # the password is never printed
    assert _snapshot(in_tmp) == before


def test_existing_study_with_another_space_is_refused(in_tmp, capsys):
    bench = write_bench(in_tmp)
    assert main(sweep_args(bench, "tau_max", "--seeds", "0")) == 0
    capsys.readouterr()
    write_bench(in_tmp, SPACES.replace('"annealing.tau_max" = [1, 2] }', '"annealing.tau_max" = [1] }'))
    before = _snapshot(in_tmp)
    before_db = (in_tmp / "optuna.db").read_bytes()
    assert main(sweep_args(bench, "tau_max", "--seeds", "0")) == 2
    err = capsys.readouterr().err.strip()
    assert "exists with a different space" in err and err.count("\n") == 0
    assert _snapshot(in_tmp) == before and (in_tmp / "optuna.db").read_bytes() == before_db
    write_bench(in_tmp)
    assert main(sweep_args(bench, "tau_max", "--seeds", "0", "1")) == 2  # other seeds: another objective
    assert "a different seeds" in capsys.readouterr().err


def test_parse_space_reads_every_form():
    space = parse_space(
        "x",
        {
            "method": "annealing",
            "params": {
                "annealing.tau_max": [1, 4],
                "optim.lr": {"low": 0.01, "high": 0.1, "log": True},
                "annealing.phase1_loss": {"choices": ["mse", "kl"]},
            },
        },
        "x",
    )
    kinds = {p.key: p.kind for p in space.arms[0].params}
    assert kinds == {"annealing.tau_max": "int", "optim.lr": "float", "annealing.phase1_loss": "choice"}
    assert len(space.arms[0].corners()) == 8
    with pytest.raises(AkdError, match="repeated"):
        parse_space("g", {"method": "annealing", "grid": [{"annealing.tau_max": 1}, {"annealing.tau_max": 1}]}, "g")


def _declared():
    from akd.benchfile import list_benchmarks

    for bench in list_benchmarks():
        spec = read_benchmark_file(bench)
        for profile, table in spec.get("profiles", {}).items():
            names = set(spec.get("sweeps", {})) | set(table.get("sweeps", {}))
            yield from ((bench, profile, name) for name in sorted(names))


@pytest.mark.parametrize(("bench", "profile", "name"), list(_declared()))
def test_every_declared_space_loads_for_every_profile(bench, profile, name):
    cfg = load_benchmark(bench, profile)
    space = load_space(read_benchmark_file(bench), profile, name, cfg)  # every corner valid for this profile
    assert all(arm.max_epochs >= 1 for arm in space.arms)


def test_every_nox_sweep_session_has_its_default_space():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "noxfile.py").read_text()
    sessions = re.findall(r'_sweep\(session, "(\w+)", "(\w+)"', text)
    assert len(sessions) == 5
    for bench, profile in sessions:
        load_space(read_benchmark_file(bench), profile, "annealing", load_benchmark(bench, profile))


def test_existing_study_with_another_pruner_is_refused(in_tmp, capsys):
    bench = write_bench(in_tmp)
    assert main(sweep_args(bench, "annealing", "--n-trials", "1")) == 0
    capsys.readouterr()
    write_bench(
        in_tmp,
        SPACES.replace(
            '[sweeps.annealing]\nmethod = "annealing"', '[sweeps.annealing]\nmethod = "annealing"\npruner = "none"'
        ),
    )
    assert main(sweep_args(bench, "annealing", "--n-trials", "1")) == 2
    assert "a different sampler or pruner" in capsys.readouterr().err


def test_a_methods_own_settings_can_be_swept_and_their_ranges_guard_the_box():
    cfg = load_benchmark("fashion_mnist", "smoke")
    spec = {"sweeps": {"beta": {"method": "dkd", "params": {"dkd.beta": [0.5, 8.0], "dkd.temperature": [1.0, 6.0]}}}}
    space = load_space(spec, "smoke", "beta", cfg)
    assert with_settings(cfg, "dkd", {"dkd.beta": 2.0}).dkd.beta == 2.0
    assert space.arms[0].max_epochs == cfg.student_epochs
    spec["sweeps"]["beta"]["params"]["dkd.temperature"] = [0.0, 6.0]  # a corner at T = 0
    with pytest.raises(AkdError, match="dkd.temperature must be > 0"):
        load_space(spec, "smoke", "beta", cfg)
