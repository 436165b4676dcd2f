"""Image encoder: the ResNet-50 architecture (He et al., CVPR 2016) from scratch, with a
global average pool; the output is the pooled feature (2048-d at full size).

The structure is ResNet-50's: a 7x7/2 stem and a 3x3/2 max pool, four stages of
bottleneck blocks (1x1 reduce, 3x3, 1x1 expand x4, identity or 1x1/stride projection
shortcut, BatchNorm after every convolution, ReLU after the sum), strides 1, 2, 2, 2, and a
global average pool. ``width`` (64 in ResNet-50) and ``blocks`` ((3, 4, 6, 3)) are
configuration: the CPU default shrinks them, never the structure. The output width is
``width * 8 * 4``. The stride sits on the 3x3 convolution (torchvision's "ResNet v1.5").

Shapes: ``forward(images (B, 3, H, W) float in [0, 1]) -> (B, width * 32)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["Bottleneck", "ResNetEncoder"]

EXPANSION = 4


class Bottleneck(nn.Module):
    def __init__(self, in_ch: int, planes: int, stride: int):
        super().__init__()
        out_ch = planes * EXPANSION
        self.body = nn.Sequential(
            nn.Conv2d(in_ch, planes, 1, bias=False),
            nn.BatchNorm2d(planes),
            nn.ReLU(inplace=True),
            nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(planes),
            nn.ReLU(inplace=True),
            nn.Conv2d(planes, out_ch, 1, bias=False),
            nn.BatchNorm2d(out_ch),
        )
        self.shortcut = (
            nn.Identity()
            if stride == 1 and in_ch == out_ch
            else nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
            )
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class ResNetEncoder(nn.Module):
    """ResNet-50 structure with ``width`` and ``blocks`` per stage; pooled features."""

    def __init__(self, width: int = 64, blocks: tuple[int, ...] = (3, 4, 6, 3)):
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        ]
        in_ch = width
        for stage, n in enumerate(blocks):
            planes = width * 2**stage
            for b in range(n):
                layers.append(Bottleneck(in_ch, planes, 2 if (b == 0 and stage > 0) else 1))
                in_ch = planes * EXPANSION
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_dim = in_ch
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        # channels_last (NHWC) weights and activations: the convolution kernels of oneDNN on
        # CPU and of cuDNN's tensor cores run NHWC natively. Measured with
        # benchmarks/compute_step.py --model resnet50 (2 cores, 64 x 64 images): 1.48x
        # the rows/s of the default NCHW layout. Values are unchanged, only their layout.
        self.to(memory_format=torch.channels_last)

    def forward(self, images: Tensor) -> Tensor:
        # centre [0, 1] pixels: the stem then starts from zero-mean inputs
        x = (images - 0.5).contiguous(memory_format=torch.channels_last)
        return self.pool(self.features(x)).flatten(1)
