import pytest

from akd.benchfile import load_benchmark
from akd.errors import AkdError
from akd.methods import build_stages
from akd.settings import parse_overrides


def test_paper_profile_has_the_official_settings():
    cfg = load_benchmark("cifar100", "paper")
    assert (cfg.teacher, cfg.ta, cfg.student) == ("resnet110", "resnet20", "resnet8")
    assert cfg.teacher_epochs == cfg.ta_epochs == cfg.student_epochs == 200
    a = cfg.annealing
    assert (a.tau_max, a.phase1_epochs, a.phase2_epochs) == (10, 200, 200)
    o = cfg.optim
    assert (o.lr, o.momentum, o.weight_decay, o.batch_size, o.milestones) == (0.1, 0.9, 1e-4, 128, [0.5, 0.75])
    assert cfg.seeds == [20] and cfg.paper_table == "cifar100"


def test_overrides_are_typed_and_nested():
    cfg = load_benchmark("cifar10", "smoke", parse_overrides(["annealing.tau_max=1", "seeds=3,4", "kd.temperature=2"]))
    assert cfg.annealing.tau_max == 1 and cfg.seeds == [3, 4] and cfg.kd.temperature == 2.0


def test_annealing_stages_are_declared_not_branched():
    cfg = load_benchmark("cifar100", "paper")
    p1, p2 = build_stages("annealing", cfg)
    assert (p1.teacher, p1.init, p1.epochs) == ("teacher", "scratch", 200)
    assert (p2.teacher, p2.init, p2.epochs) == (None, "previous", 200)
    assert p1.objective.epoch_metrics(0) == {"temperature": 10.0, "scale": pytest.approx(0.1)}
    ta, student = build_stages("takd", cfg)
    assert ta.shared and ta.trains == "ta" and student.teacher == "ta"


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["annealing.tau_max=0"], "tau_max must be >= 1"),
        (["annealing.tau_max=5", "annealing.phase1_epochs=3"], "must be >= tau_max"),
        (["methods=kd,fitnet"], "unknown method fitnet"),
        (["student=resnet9"], "unknown student model"),
        (["annealing.tau_max=two"], "not a valid int"),
        (["kd.temperature=0"], "kd.temperature must be > 0"),
        (["data.val_fraction=1.5"], "val_fraction"),
        (["nonsense=1"], "unknown setting 'nonsense'"),
        (["teacher_checkpoint=/no/such.pt"], "does not exist"),
    ],
)
def test_impossible_settings_are_rejected(overrides, message):
    with pytest.raises(AkdError, match=message):
        load_benchmark("cifar10", "smoke", parse_overrides(overrides))


def test_unknown_benchmark_and_profile():
    with pytest.raises(AkdError, match="unknown benchmark 'imagenet'"):
        load_benchmark("imagenet", "smoke")
    with pytest.raises(AkdError, match="no profile 'huge'"):
        load_benchmark("cifar10", "huge")
