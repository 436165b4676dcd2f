"""GAHR's bidirectional attention interaction (BAI): token-level cross attention each way.

With image tokens ``f^{v_n}`` (n = 1..N) and text tokens ``f^{t_m}`` (m = 1..M), each
modality has its own query, key and value maps (``Q_v, K_v, V_v``; ``Q_t, K_t, V_t``)::

    c^{v_n} = sum_m sigma(Q_v f^{v_n} . K_t f^{t_m} / sqrt(D)) V_t f^{t_m}    text, seen by image token n
    c^{t_m} = sum_n sigma(Q_t f^{t_m} . K_v f^{v_n} / sqrt(D)) V_v f^{v_n}    image, seen by text token m

``sigma`` is the logistic sigmoid, not a softmax: each token takes as much of every other
token as it matches, independently (the authors' finding, and their released code). Text
padding is masked (its weight is 0); the released code passes no mask, which at CLIP's
fixed 77 tokens lets padding take part: we mask it, so that a caption's length does not
change what its words see.

Shapes: ``forward(img (B, N, D), txt (B, M, D), txt_mask (B, M) bool) ->
(c_v (B, N, D), c_t (B, M, D))``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["BidirectionalAttention"]


class BidirectionalAttention(nn.Module):
    """Sigmoid cross attention image -> text and text -> image (see the module docstring)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.q_v, self.k_v, self.v_v = (nn.Linear(dim, dim) for _ in range(3))
        self.q_t, self.k_t, self.v_t = (nn.Linear(dim, dim) for _ in range(3))

    def forward(self, img: Tensor, txt: Tensor, txt_mask: Tensor) -> tuple[Tensor, Tensor]:
        scale = 1.0 / math.sqrt(self.dim)
        a_v = torch.sigmoid(self.q_v(img) @ self.k_t(txt).transpose(1, 2) * scale)  # (B, N, M)
        a_v = a_v * txt_mask[:, None, :].to(a_v.dtype)  # padding words give nothing
        c_v = a_v @ self.v_t(txt)  # (B, N, D)
        a_t = torch.sigmoid(self.q_t(txt) @ self.k_v(img).transpose(1, 2) * scale)  # (B, M, N)
        c_t = a_t @ self.v_v(img)  # (B, M, D); rows of padding words are ignored by the loss
        return c_v, c_t
