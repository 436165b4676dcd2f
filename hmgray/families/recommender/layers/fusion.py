"""Attention fusion of modality vectors with missing modalities.

For the modality vectors x_m in R^d (already projected), m = 1..M, of one user or item::

    s_m     = w_m^T tanh(W x_m + b)                      (W, b shared; w_m per modality)
    alpha_m = exp(s_m) / sum_{m'} exp(s_m')              over the *present* modalities
    u       = sum_m alpha_m x_m

A missing modality's alpha is forced to 0 and the others renormalised: a softmax over
the present ones only. A row with no modality present fuses to the zero vector (its
alphas are all 0, not NaN).

Shapes: ``forward(x (B, M, d), present (B, M) bool) -> (u (B, d), alpha (B, M))``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["AttentionFusion"]


class AttentionFusion(nn.Module):
    def __init__(self, num_modalities: int, dim: int, attn_dim: int):
        super().__init__()
        self.W = nn.Linear(dim, attn_dim)  # W x + b, shared by the modalities
        self.w = nn.Parameter(torch.randn(num_modalities, attn_dim) * attn_dim**-0.5)  # w_m

    def forward(self, x: Tensor, present: Tensor) -> tuple[Tensor, Tensor]:
        s = (torch.tanh(self.W(x)) * self.w).sum(-1)  # (B, M)
        # the softmax in at least float32, also under bf16 autocast
        s = s.to(torch.promote_types(s.dtype, torch.float32)).masked_fill(~present, float("-inf"))
        # a row with nothing present: softmax of all -inf is NaN; give it zeros instead
        none = ~present.any(-1, keepdim=True)  # (B, 1)
        alpha = torch.softmax(s.masked_fill(none, 0.0), dim=-1).masked_fill(~present, 0.0)
        u = (alpha.to(x.dtype).unsqueeze(-1) * x).sum(1)  # (B, d)
        return u, alpha
