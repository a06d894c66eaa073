"""The hot path's machine settings: channels_last, autocast never on CPU, compile, inference mode."""

from __future__ import annotations

import math
import shutil

import pytest
import torch

from akd.bench import init_model
from akd.engine import StageJob, train_stage
from akd.errors import AkdError
from akd.methods import Objective, Stage
from akd.runtime import Runtime, resolve_device, setup_runtime
from akd.teacher import FrozenLogits
from baselines.kd import HintonKD
from tests.conftest import tiny_cifar


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return tiny_cifar(tmp_path_factory.mktemp("cifar"), "cifar10", n_train=140, n_test=30, batch_size=32)


def _train(cfg, data, rt, objective=None, epochs=1):
    objective = objective or HintonKD(4.0, 0.9, 0.1)
    stage = Stage("main", "student", epochs, objective, teacher="teacher")
    teacher = init_model(cfg, "teacher", 9, data, rt)
    student = init_model(cfg, "student", 0, data, rt)
    source = FrozenLogits(teacher, "teacher", cfg.teacher, data, 0, cfg.optim.batch_size, rt)
    result = train_stage(StageJob(stage, student, source, data, cfg.optim, 0, rt))
    return student, teacher, result


def test_channels_last_trains_the_same_model_in_nhwc(small):
    cfg, data = small
    nhwc, _, res_nhwc = _train(cfg, data, Runtime(torch.device("cpu"), channels_last=True))
    nchw, _, res_nchw = _train(cfg, data, Runtime(torch.device("cpu"), channels_last=False))
    assert nhwc.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert not nchw.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    # same computation in another memory layout: equal up to float rounding
    assert res_nhwc.history[0]["train_loss"] == pytest.approx(res_nchw.history[0]["train_loss"], rel=1e-4)
    for k, v in nchw.state_dict().items():
        assert torch.allclose(nhwc.state_dict()[k], v, atol=1e-4), k


def test_bf16_autocast_is_never_used_on_cpu():
    cpu = Runtime(torch.device("cpu"), amp=True)
    assert cpu.autocast_dtype is None
    with cpu.autocast():
        assert not torch.is_autocast_enabled("cpu")
    assert Runtime(torch.device("cuda"), amp=True).autocast_dtype == torch.bfloat16
    assert Runtime(torch.device("cuda"), amp=False).autocast_dtype is None


def test_device_errors_are_one_line():
    with pytest.raises(AkdError, match="unknown device"):
        resolve_device("tpu7")
    if not torch.cuda.is_available():
        with pytest.raises(AkdError, match="CUDA is not available"):
            setup_runtime("cuda")


class TeacherProduct(Objective):
    """A loss that saves the teacher's logits for backward: fails on inference-mode tensors."""

    def loss(self, logits, teacher_logits, labels, epoch):
        return -(logits.log_softmax(1) * teacher_logits.softmax(1)).sum(1).mean() + (logits * teacher_logits).mean()


def test_teacher_runs_in_eval_and_inference_mode_yet_feeds_any_loss(small):
    cfg, data = small
    rt = Runtime(torch.device("cpu"))
    teacher = init_model(cfg, "teacher", 9, data, rt)
    teacher.train()
    source = FrozenLogits(teacher, "teacher", cfg.teacher, data, 0, 32, rt)
    assert not teacher.training
    before = teacher.bn1.running_mean.clone()
    x = rt.layout(torch.randn(4, 3, 32, 32))
    out = source.batch(torch.arange(4), x)
    assert not out.is_inference() and not out.requires_grad
    assert torch.equal(teacher.bn1.running_mean, before)  # eval mode: BatchNorm statistics untouched
    _, _, result = _train(cfg, data, rt, TeacherProduct())
    assert math.isfinite(result.history[0]["train_loss"])  # no autograd error, no inf or NaN


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None, reason="inductor needs a C++ compiler")
def test_compiled_student_matches_eager(small):
    cfg, data = small
    eager, _, res_eager = _train(cfg, data, Runtime(torch.device("cpu"), compile=False))
    compiled, _, res_compiled = _train(cfg, data, Runtime(torch.device("cpu"), compile=True))
    assert set(compiled.state_dict()) == set(eager.state_dict())  # no "_orig_mod." prefixes
    assert res_compiled.history[0]["train_loss"] == pytest.approx(res_eager.history[0]["train_loss"], rel=1e-3)
