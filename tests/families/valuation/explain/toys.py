"""Hand-built models with the HMG-Net interface whose attributions are known in closed form."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class LinearSigmoid(nn.Module):
    """delta = sigmoid(u),  u = <w, image> + sum_l <v, e_l> + c,  e_l = Emb(tokens_l).

    Along the straight path from (x', 0) to (x, e), u moves linearly from u0 to u1, so the
    integrated gradients are exactly
        A_x = (x - x') * w * (sigmoid(u1) - sigmoid(u0)) / (u1 - u0),
        A_e = sum_D e * v * (same factor).
    ``linear=True`` drops the sigmoid (delta = u): then gradient x input sums to u - c.
    """

    def __init__(self, image_shape=(3, 8, 8), vocab=20, d=4, seed=0, linear=False):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(torch.randn(image_shape, generator=g) * 0.3)
        self.v = nn.Parameter(torch.randn(d, generator=g) * 0.3)
        self.c = nn.Parameter(torch.tensor(-0.2))
        self.emb = nn.Embedding(vocab, d, padding_idx=0)
        with torch.no_grad():
            self.emb.weight.copy_(torch.randn(vocab, d, generator=g))
            self.emb.weight[0] = 0.0
        self.linear = linear

    def logit(self, image: Tensor, e: Tensor) -> Tensor:
        return (image * self.w).flatten(1).sum(1) + (e @ self.v).sum(1) + self.c

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor | None]:
        u = self.logit(batch["image"], self.emb(batch["tokens"]))
        d = u if self.linear else torch.sigmoid(u)
        return {"price": batch["msrp"] * (1 - d), "delta": d, "attention": None}


class RegionMean(nn.Module):
    """delta = mean of channel 0 over the pixel rows r0:r1, cols c0:c1 (a 'defect detector'
    that reads one fixed window); occlusion effects are then simple pixel arithmetic."""

    def __init__(self, r0=0, r1=8, c0=0, c1=8):
        super().__init__()
        self.win = (r0, r1, c0, c1)

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor | None]:
        r0, r1, c0, c1 = self.win
        d = batch["image"][:, 0, r0:r1, c0:c1].mean(dim=(1, 2))
        return {"price": batch["msrp"] * (1 - d), "delta": d, "attention": None}


def toy_batch(b=3, image_shape=(3, 8, 8), vocab=20, words=5, seed=0) -> dict[str, Tensor]:
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(1, vocab, (b, words), generator=g)
    tokens[:, -2:] = 0  # padding
    return {
        "image": torch.rand(b, *image_shape, generator=g),
        "has_image": torch.ones(b),
        "tokens": tokens,
        "msrp": torch.full((b,), 100.0),
    }
