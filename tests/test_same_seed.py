"""Same seed => identical initial student weights and identical batches, whatever the method."""

import torch

from akd.bench import init_model
from akd.config import BenchConfig, DataConfig
from akd.engine import StageJob, train_stage
from akd.methods import build_stages
from akd.runtime import Runtime
from akd.tasks.base import load_task
from akd.teacher import FrozenLogits
from tests.conftest import write_cifar


def _first_batch_and_init(method, seed, data, cfg):
    stage = build_stages(method, cfg)[0]
    rt = Runtime(torch.device("cpu"))
    student = init_model(cfg, "student", seed, data, rt)
    init = {k: v.clone() for k, v in student.state_dict().items()}
    seen = []
    student.register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()) if m.training else None)
    teacher = init_model(cfg, "teacher", 99, data, rt) if stage.teacher else None
    source = FrozenLogits(teacher, "teacher", cfg.teacher, data, seed, 32, rt) if teacher else None
    train_stage(StageJob(stage, student, source, data, cfg.optim, seed, rt))
    return init, seen


def test_methods_share_initial_weights_and_batches(tmp_path):
    write_cifar(tmp_path, "cifar10", n_train=90, n_test=10)
    cfg = BenchConfig(
        teacher="resnet8",
        student="resnet8",
        student_epochs=1,
        data=DataConfig(dataset="cifar10", data_dir=str(tmp_path), val_fraction=0.1),
    )
    cfg.optim.batch_size = 32
    cfg.annealing.tau_max, cfg.annealing.phase1_epochs = 1, 1
    data = load_task(cfg)
    init_a, batches_a = _first_batch_and_init("nokd", 7, data, cfg)
    init_b, batches_b = _first_batch_and_init("annealing", 7, data, cfg)
    assert init_a.keys() == init_b.keys()
    assert all(torch.equal(init_a[k], init_b[k]) for k in init_a)
    assert len(batches_a) == len(batches_b) == 3
    assert all(torch.equal(a, b) for a, b in zip(batches_a, batches_b, strict=True))
    init_c, batches_c = _first_batch_and_init("nokd", 8, data, cfg)
    assert not torch.equal(init_a["conv1.weight"], init_c["conv1.weight"])
    assert not torch.equal(batches_a[0], batches_c[0])
