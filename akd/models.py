"""Model zoo: the CIFAR ResNets of He et al. (2016) and TAKD-style plain CNNs.

Every model takes ``in_channels`` and ``num_classes`` so the same names serve CIFAR (3x32x32) and
Fashion-MNIST (1x28x28). They register in :data:`akd.registry.IMAGE_MODELS`; a model of your
own is one ``IMAGE_MODELS.add(name, builder)`` in a plug-in module.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from akd.registry import IMAGE_MODELS


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (option B: 1x1 conv shortcut on change)."""

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """3x3 stem (16 ch), three stages of ``n`` BasicBlocks (16/32/64 ch, strides 1/2/2), GAP, linear."""

    def __init__(self, blocks_per_stage: int, in_channels: int = 3, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers: list[nn.Module] = []
        in_planes = 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(blocks_per_stage):
                layers.append(BasicBlock(in_planes, planes, stride if i == 0 else 1))
                in_planes = planes
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layers(out)
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.fc(out)


class PlainCNN(nn.Module):
    """A plain stack of 3x3 conv + BN + ReLU layers with 2x2 max-pooling, then one linear layer.

    In the spirit of TAKD's ``planeN`` models (PAPER.md gives no exact layout): ``N`` conv layers in
    pairs; the width doubles (32, 64, 128, ...) and the map halves after every pair.
    """

    def __init__(self, depth: int, in_channels: int = 3, num_classes: int = 10) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for i in range(depth):
            width = 32 * 2 ** (i // 2)
            layers += [nn.Conv2d(channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width)]
            layers.append(nn.ReLU(inplace=True))
            if i % 2 == 1:
                layers.append(nn.MaxPool2d(2))
            channels = width
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.adaptive_avg_pool2d(self.features(x), 1).flatten(1)
        return self.fc(out)


RESNET_BLOCKS = {8: 1, 14: 2, 20: 3, 26: 4, 32: 5, 44: 7, 56: 9, 110: 18}
PLAIN_DEPTHS = (2, 4, 6, 8, 10)

ImageModelBuilder = Callable[[int, int], nn.Module]  # (in_channels, num_classes) -> model
for _depth, _n in RESNET_BLOCKS.items():
    IMAGE_MODELS.add(f"resnet{_depth}", lambda c, k, n=_n: CifarResNet(n, c, k))
for _depth in PLAIN_DEPTHS:
    IMAGE_MODELS.add(f"plane{_depth}", lambda c, k, d=_depth: PlainCNN(d, c, k))


def build_model(name: str, in_channels: int, num_classes: int) -> nn.Module:
    """Build an image model by registry name; unknown names raise a one-line :class:`AkdError`."""
    builder: ImageModelBuilder = IMAGE_MODELS.get(name)
    return builder(in_channels, num_classes)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
