"""The category discovery model: a small CNN trained from scratch, SimGCD's head.

* **Backbone.** The write-up fine-tunes the last block of a DINO ViT-B/16; no pretrained
  weights can be had here, so a small residual CNN is trained from scratch: a stride-2
  stem, then three stages of two 3x3 residual blocks (``width``, 2x, 4x channels; stages 2
  and 3 halve the resolution), global average pooling. Feature width ``4 * width``.
* **Head** (SimGCD's ``DINOHead``): the projection ``proj = MLP(f)`` (3 layers, GELU,
  ``hidden_dim`` -> ``proj_dim``; trunc-normal 0.02 init) for the contrastive and
  hyperbolic losses, and the prototype classifier ``logits = normalize(f) W_n^T`` over all
  ``num_classes`` classes (old and new; the number is known, as in SimGCD), with ``W_n`` the
  unit-norm rows of a weight-normalised layer whose gain is fixed at 1 (cosine scores).
* **Views.** In training the model draws two augmented views of each image (rows
  ``[view 1; view 2]``, ``out["views"] = 2``); in evaluation one clean view. The
  augmentation shifts and scales (random affine, up to 3 pixels and +-10 %), jitters
  brightness and contrast and adds pixel noise. It has **no horizontal flip and no
  colour (hue) jitter**: in the synthetic data a class is told by its glyph's colour and
  quadrant (``data/synth.py``), which those would change. (The released code's ImageNet
  transform flips; CUB birds keep their species under a flip, so a user of real data
  loses some augmentation, nothing more.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hmgray.families.gcd.config import GcdConfig

__all__ = ["GcdModel", "augment"]

_MEAN, _STD = 0.5, 0.25
SHIFT, SCALE, BRIGHTNESS, CONTRAST, NOISE = 3, 0.1, 0.2, 0.2, 0.03


def augment(x: Tensor, gen: torch.Generator | None = None) -> Tensor:
    """One random view of each image of x (B, 3, H, W) in [0, 1] (see the module
    docstring)."""
    b, _, h, w = x.shape

    def u(*shape: int) -> Tensor:
        return torch.rand(*shape, generator=gen, device=x.device, dtype=x.dtype) * 2 - 1

    scale = 1 + SCALE * u(b)
    theta = torch.zeros(b, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = scale
    theta[:, 0, 2] = SHIFT * 2 / w * u(b)
    theta[:, 1, 2] = SHIFT * 2 / h * u(b)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = (out - mean) * (1 + CONTRAST * u(b, 1, 1, 1)) + mean
    out = out * (1 + BRIGHTNESS * u(b, 1, 1, 1))
    out = out + NOISE * torch.randn(out.shape, generator=gen, device=x.device, dtype=x.dtype)
    return out.clamp(0, 1)


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.skip = (
            nn.Identity()
            if stride == 1 and cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        )

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.skip(x))


class GcdModel(nn.Module):
    """Backbone, projection head and prototype classifier (see the module docstring)."""

    def __init__(self, config: GcdConfig, context: Mapping[str, Any]):
        super().__init__()
        self.config = config
        self.num_classes = int(context["num_classes"])
        w = config.width
        self.stem = nn.Sequential(
            nn.Conv2d(3, w, 3, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU()
        )
        self.stages = nn.Sequential(
            _Block(w, w, 1), _Block(w, w, 1),
            _Block(w, 2 * w, 2), _Block(2 * w, 2 * w, 1),
            _Block(2 * w, 4 * w, 2), _Block(4 * w, 4 * w, 1),
        )  # fmt: skip
        feat = 4 * w
        self.feat_dim = feat
        self.mlp = nn.Sequential(
            nn.Linear(feat, config.hidden_dim), nn.GELU(),
            nn.Linear(config.hidden_dim, config.hidden_dim), nn.GELU(),
            nn.Linear(config.hidden_dim, config.proj_dim),
        )  # fmt: skip
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        self.prototypes = nn.Parameter(torch.randn(self.num_classes, feat) * 0.02)

    def features(self, x: Tensor) -> Tensor:
        return self.stages(self.stem(x)).mean(dim=(2, 3))

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Any]:
        x = batch["image"].permute(0, 3, 1, 2).float() / 255.0
        if self.training:
            x = torch.cat([augment(x), augment(x)])
        views = 2 if self.training else 1
        f = self.features((x - _MEAN) / _STD)
        proj = self.mlp(f)
        logits = F.normalize(f, dim=-1) @ F.normalize(self.prototypes, dim=-1).T
        return {"logits": logits, "proj": proj, "views": views}
