"""The logit-distillation methods since 2021 against values computed by hand from their papers' equations.

Logits, labels and expected losses are written here; the expected values were computed with NumPy
from the equations (softmax, KL, Pearson correlation written out), not with the suite's code.
Every loss's gradient is checked with ``torch.autograd.gradcheck`` in float64.
"""

from __future__ import annotations

import math

import pytest
import torch

from akd.errors import AkdError
from akd.methods import build_stages, check_task, spec, student_epochs
from baselines.ctkd import CTKDSettings, CurriculumKD, reversal_strength
from baselines.dist import DISTLoss, DISTSettings, dist_terms
from baselines.dkd import DecoupledKD, DKDSettings, dkd_terms
from baselines.kd import HintonKD, KDSettings
from baselines.mse_logit import MSELogit, MSELogitSettings

STUDENT = torch.tensor([[1.0, -0.5, 0.3, 2.0], [0.2, 0.1, -1.0, 0.5], [-0.3, 1.5, 0.8, 0.0]], dtype=torch.float64)
TEACHER = torch.tensor([[2.0, 0.0, -1.0, 1.0], [0.5, -0.5, 1.5, 0.0], [0.1, 0.3, -0.2, 2.5]], dtype=torch.float64)
LABELS = torch.tensor([0, 2, 3])
CE = 2.0309147185823515  # mean -log softmax(z_s)[y]


def loss_of(objective, epoch: int = 0, student: torch.Tensor = STUDENT) -> torch.Tensor:
    return objective.loss(student, TEACHER, LABELS, epoch)


def check_gradient(objective, epoch: int = 0) -> None:
    student = STUDENT.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda z: objective.loss(z, TEACHER, LABELS, epoch), (student,))


# ---------------------------------------------------------------- DKD (Zhao et al. 2022, Eqs. 1-7)
def test_dkd_terms_equal_the_papers_binary_and_non_target_kl():
    tckd, nckd = dkd_terms(STUDENT, TEACHER, LABELS, 4.0)
    assert tckd.item() == pytest.approx(0.7117642450479534, abs=1e-12)  # T^2 * KL(b_t || b_s), batch mean
    assert nckd.item() == pytest.approx(0.20282614298536536, abs=1e-12)  # T^2 * KL(p~_t || p~_s) over non-targets


def test_dkd_loss_with_its_warm_up():
    objective = DecoupledKD(DKDSettings())  # alpha 1, beta 8, T 4, CE weight 1, warm-up 20 epochs
    assert loss_of(objective, epoch=0).item() == pytest.approx(2.147633388028895, abs=1e-12)  # 1/20 of DKD
    assert loss_of(objective, epoch=30).item() == pytest.approx(4.365288107513228, abs=1e-12)  # full weight
    check_gradient(objective, epoch=30)


def test_dkd_reduces_to_kd_weighted_by_the_teachers_non_target_mass():
    """The paper's reformulation: KD = TCKD + (1 - p_t^target) NCKD, per sample (checked on one sample)."""
    one = slice(0, 1)
    tckd, nckd = dkd_terms(STUDENT[one], TEACHER[one], LABELS[one], 4.0)
    p_t = torch.softmax(TEACHER[one] / 4.0, dim=1)[0, LABELS[0]]
    kd = HintonKD(4.0, 1.0, 0.0).loss(STUDENT[one], TEACHER[one], LABELS[one], 0)
    assert (tckd + (1 - p_t) * nckd).item() == pytest.approx(kd.item(), abs=1e-12)


# ---------------------------------------------------------------- DIST (Huang et al. 2022, Eqs. 5-8)
def test_dist_inter_and_intra_class_relations():
    inter, intra = dist_terms(STUDENT, TEACHER, 4.0)
    assert inter.item() == pytest.approx(1.234589113599633, abs=1e-10)  # 1 - mean_i rho(p_s[i], p_t[i])
    assert intra.item() == pytest.approx(1.103232539625713, abs=1e-10)  # 1 - mean_c rho(p_s[:, c], p_t[:, c])


def test_dkd_on_standardised_logits_keeps_ce_on_the_raw_ones():
    objective = DecoupledKD(DKDSettings(standardize=True))
    assert loss_of(objective, epoch=30).item() == pytest.approx(4.831806153002146, abs=1e-9)
    check_gradient(objective, epoch=30)


def test_dkd_stays_finite_where_the_binary_probabilities_underflow():
    confident = torch.tensor([[200.0, -200.0, -200.0, -200.0]], dtype=torch.float64)
    tckd, nckd = dkd_terms(confident, TEACHER[:1], LABELS[:1], 1.0)
    assert torch.isfinite(tckd) and torch.isfinite(nckd)  # log(sum of the others) computed in log space


def test_dist_weighs_inter_by_beta_and_intra_by_gamma():
    objective = DISTLoss(DISTSettings(beta=1.0, gamma=3.0))
    expected = CE + 16 * (1.0 * 1.234589113599633 + 3.0 * 1.103232539625713)
    assert loss_of(objective).item() == pytest.approx(expected, abs=1e-8)


def test_dist_loss_follows_the_code_with_tau_squared_and_the_paper_without():
    assert loss_of(DISTLoss(DISTSettings())).item() == pytest.approx(76.84120762179342, abs=1e-9)
    paper = DISTLoss(DISTSettings(temperature_squared=False))
    assert loss_of(paper).item() == pytest.approx(6.706558025033043, abs=1e-9)
    check_gradient(DISTLoss(DISTSettings()))


# ---------------------------------------------------------------- MSE-logit (Kim et al. 2021, Eq. 6)
def test_mse_logit_mean_and_sum():
    assert loss_of(MSELogit(MSELogitSettings())).item() == pytest.approx(1.645, abs=1e-12)
    assert loss_of(MSELogit(MSELogitSettings(reduction="sum"))).item() == pytest.approx(6.58, abs=1e-12)
    with_ce = MSELogit(MSELogitSettings(w_kd=1.0, w_ce=0.5))
    assert loss_of(with_ce).item() == pytest.approx(1.645 + 0.5 * CE, abs=1e-12)
    check_gradient(with_ce)


def test_mse_logit_has_a_regression_form():
    student = torch.tensor([[0.5], [1.0]], dtype=torch.float64)
    teacher = torch.tensor([[1.5], [0.0]], dtype=torch.float64)
    targets = torch.tensor([1.0, 2.0], dtype=torch.float64)
    loss = MSELogit(MSELogitSettings(w_ce=1.0)).loss(student, teacher, targets, 0)
    assert loss.item() == pytest.approx((1.0 + 1.0) / 2 + (0.25 + 1.0) / 2)


# ---------------------------------------------------------------- logit standardisation (Sun et al. 2024, Eq. 4)
def test_kd_on_standardised_logits():
    objective = HintonKD.of(KDSettings(temperature=2.0, w_kd=9.0, w_ce=0.1, standardize=True))
    assert loss_of(objective).item() == pytest.approx(9.07690683039277, abs=1e-9)  # 36 x KL + 0.1 x CE
    check_gradient(objective)


def test_standardisation_is_invariant_to_shift_and_scale_of_either_side():
    objective = HintonKD.of(KDSettings(temperature=2.0, standardize=True, w_ce=0.0))
    moved = objective.loss(3.0 * STUDENT + 7.0, TEACHER * 0.5 - 2.0, LABELS, 0)
    assert moved.item() == pytest.approx(loss_of(objective).item(), abs=1e-7)  # up to the 1e-7 in the std


# ---------------------------------------------------------------- CTKD (Li et al. 2023, Eqs. 4-9)
def ctkd(**settings) -> CurriculumKD:
    objective = CurriculumKD(CTKDSettings(**settings))
    objective.setup(4, torch.device("cpu"))
    objective._theta.data = objective._theta.data.double()
    return objective


def test_ctkd_loss_at_its_initial_temperature():
    objective = ctkd()
    tau = 1 + 20 / (1 + math.exp(-1.0))
    assert tau == pytest.approx(15.621171572600097)
    assert loss_of(objective).item() == pytest.approx(0.9214038139604583, abs=1e-10)
    check_gradient(objective)


def test_ctkd_on_standardised_logits():
    assert loss_of(ctkd(standardize=True)).item() == pytest.approx(1.0310610265751352, abs=1e-9)
    check_gradient(ctkd(standardize=True))


def test_ctkd_temperature_is_trained_by_the_students_optimiser_with_its_weight_decay():
    from akd.config import OptimConfig
    from akd.optim import Recipe

    objective = ctkd()
    student = torch.nn.Linear(2, 4)
    recipe = Recipe(OptimConfig(lr=0.1, weight_decay=5e-4), student, 1, 1, objective.parameters(), 1.0)
    group = next(g for g in recipe.optimizer.param_groups if any(p is objective._theta for p in g["params"]))
    assert group["weight_decay"] == 5e-4 and recipe.optimizer.defaults["momentum"] == 0.9
    recipe.begin(0)
    assert group["lr"] == 0.1


def test_ctkd_reversal_strength_follows_its_cosine():
    assert [reversal_strength(e, 1.0, 10) for e in (0, 4, 9, 10)] == pytest.approx([-0.02447174185, -0.5, -1.0, -1.0])


def test_ctkd_temperature_ascends_the_loss_through_the_reversal():
    """dL/dtheta by central differences is -0.0038532; with lambda = -1 theta's gradient is its negative."""
    objective = ctkd()
    objective.start_epoch(9)  # lambda = -1
    loss_of(objective).backward()
    assert objective._theta.grad.item() == pytest.approx(0.0038531763, rel=1e-6)
    halfway = ctkd()
    halfway.start_epoch(4)  # lambda = -0.5
    loss_of(halfway).backward()
    assert halfway._theta.grad.item() == pytest.approx(0.5 * 0.0038531763, rel=1e-6)


def test_ctkd_state_round_trips_and_its_parameters_are_the_temperatures():
    objective = ctkd()
    assert objective.parameters() == [objective._theta]
    other = ctkd(theta_init=-3.0)
    other.load_state_dict(objective.state_dict())
    assert other._theta.item() == objective._theta.item()
    instance = CurriculumKD(CTKDSettings(variant="instance"))
    instance.setup(4, torch.device("cpu"))
    assert sum(p.numel() for p in instance.parameters()) == (8 * 256 + 256) + (256 + 1)
    assert "mlp" in instance.state_dict()


# ---------------------------------------------------------------- specs: settings, budgets, regression
@pytest.mark.parametrize("method", ["ctkd", "dkd", "dist"])
def test_methods_without_a_one_output_form_refuse_a_regression_task_in_one_line(method):
    from akd.config import BenchConfig

    with pytest.raises(AkdError, match=f"method {method} cannot train a regression task"):
        check_task(method, BenchConfig(), regression=True)
    check_task(method, BenchConfig(), regression=False)


def test_standardisation_refuses_regression_where_it_is_set():
    from akd.config import BenchConfig

    cfg = BenchConfig()
    check_task("kd", cfg, regression=True)
    cfg.kd.standardize = True
    with pytest.raises(AkdError, match="standardisation"):
        check_task("kd", cfg, regression=True)


def test_every_builtin_method_has_a_label_colour_and_marker_and_a_one_stage_budget():
    from akd.config import BenchConfig

    cfg = BenchConfig(student_epochs=7, ta_epochs=3)
    for method in ("nokd", "kd", "takd", "ctkd", "dkd", "dist", "mse_logit"):
        assert spec(method).label and spec(method).color.startswith("#")
        assert student_epochs(method, cfg) == 7  # TAKD's shared TA stage is not the student's budget
        assert build_stages(method, cfg)


def test_a_method_name_that_would_hide_a_setting_or_break_parsing_is_refused():
    from akd.methods import register_method

    for bad in ("variant", "to_dict", "data", "teacher", "all-pairs", "my.method", "Mine"):
        with pytest.raises(AkdError, match="method name"):
            register_method(bad)(lambda cfg: [])


def test_a_float_setting_declared_with_an_integer_default_reads_floats():
    from dataclasses import dataclass

    from akd.settings import apply, setting

    @dataclass
    class Plug:
        beta: float = setting(8, low=0)

    plug = Plug()
    apply(plug, {"beta": "2.5"})
    assert plug.beta == 2.5


def test_an_objectives_parameters_train_at_its_own_learning_rate_scale():
    from akd.config import OptimConfig
    from akd.optim import Recipe

    theta = torch.nn.Parameter(torch.zeros(1))
    recipe = Recipe(OptimConfig(lr=0.1, milestones=[0.5]), torch.nn.Linear(2, 2), 2, 1, [theta], 0.25)
    group = next(g for g in recipe.optimizer.param_groups if any(p is theta for p in g["params"]))
    recipe.begin(0)
    assert group["lr"] == pytest.approx(0.025)
    recipe.begin(1)  # after the milestone: the schedule's decay times the objective's scale
    assert group["lr"] == pytest.approx(0.0025)


def test_the_engine_gives_an_objective_its_epochs_and_steps(tmp_path):
    from akd.engine import StageJob, train_stage
    from akd.methods import HardLabels, Stage
    from akd.runtime import Runtime
    from tests.conftest import tiny_cifar

    seen = []

    class Recording(HardLabels):
        def start_epoch(self, epoch):
            seen.append(("epoch", epoch))

        def start_step(self, step):
            seen.append(("step", step))

    cfg, task = tiny_cifar(tmp_path, "cifar10", n_train=100, n_test=20, batch_size=32)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10))
    train_stage(
        StageJob(Stage("s", "student", 2, Recording()), model, None, task, cfg.optim, 0, Runtime(torch.device("cpu")))
    )
    steps = task.steps_per_epoch(32)
    assert [e for k, e in seen if k == "epoch"] == [0, 1]
    assert [s for k, s in seen if k == "step"] == list(range(2 * steps))
