import pytest
import torch

from akd.errors import AkdError
from akd.models import build_model, count_parameters

# PAPER.md's parameter counts (CIFAR-100 / CIFAR-10).
COUNTS = {
    "resnet8": (83_892, 78_042),
    "resnet14": (181_108, 175_258),
    "resnet20": (278_324, 272_474),
    "resnet110": (1_736_564, 1_730_714),
}


@pytest.mark.parametrize("name", COUNTS)
def test_resnet_parameter_counts(name):
    assert count_parameters(build_model(name, 3, 100)) == COUNTS[name][0]
    assert count_parameters(build_model(name, 3, 10)) == COUNTS[name][1]


@pytest.mark.parametrize("depth,blocks", [(8, 1), (20, 3), (56, 9), (110, 18)])
def test_resnet_depth_is_6n_plus_2(depth, blocks):
    model = build_model(f"resnet{depth}", 3, 10)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs) == 6 * blocks + 1  # 3x3 convs + the linear layer make 6n+2 weighted layers


@pytest.mark.parametrize("name", ["resnet8", "plane4"])
def test_grey_28px_input_and_class_count(name):
    model = build_model(name, in_channels=1, num_classes=7)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 7)


def test_unknown_model_is_a_clear_error():
    with pytest.raises(AkdError, match="unknown image model 'resnet9'"):
        build_model("resnet9", 3, 10)
