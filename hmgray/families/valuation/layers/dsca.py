"""Level 1: Defect-Sensitive Cross-Attention (DSCA).

Words attend to image patches; the attention normalisation is picked by name from
:mod:`hmgray.nn.attention` (default sparsemax, so a word such as "scratch" can put all
its weight on the few patches that show the defect)::

    A = attn( (T W_Q) (V W_K)^T / sqrt(d) ,  mask = m_word[:, :, None] & m_patch[:, None, :] )
    F_micro = sum_i sum_j A_ij (V_j W_V)

Shapes: T (B, L, D) word features, V (B, P, D) patch features, W_Q, W_K (D, d),
W_V (D, D); A (B, L, P), F_micro (B, D). The sum runs over the valid words i (padding
rows of A are exactly 0) and valid patches j (patches of a missing image are masked, so a
listing without image has F_micro = 0). The sum over words is the write-up's formula, kept
as is: F_micro grows with the number of valid words, and the entity MLP that consumes it
starts with a LayerNorm.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from hmgray.nn.attention import get_attention

__all__ = ["DSCA"]


class DSCA(nn.Module):
    """Defect-Sensitive Cross-Attention.

    Args:
        d_model: D, width of T and V.
        attention: registry name (``softmax`` | ``sparsemax`` | ``entmax15``).
        d_attn: d, width of the query/key projections (default D).
        heads: H, attention heads (default 1 = the formula); must divide D and d.
    """

    def __init__(
        self,
        d_model: int,
        attention: str = "sparsemax",
        d_attn: int | None = None,
        heads: int = 1,
    ):
        super().__init__()
        self.d_attn = d_attn or d_model
        if heads < 1 or d_model % heads or self.d_attn % heads:
            raise ValueError(
                f"DSCA: heads={heads} must be >= 1 and divide d_model={d_model} "
                f"and d_attn={self.d_attn}"
            )
        self.heads = heads
        self.attn = get_attention(attention)  # fails fast on an unknown name
        self.w_q = nn.Linear(d_model, self.d_attn, bias=False)
        self.w_k = nn.Linear(d_model, self.d_attn, bias=False)
        self.w_v = nn.Linear(d_model, d_model, bias=False)

    def forward(
        self,
        t: Tensor,
        v: Tensor,
        word_mask: Tensor | None = None,
        patch_mask: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """
        Args:
            t: (B, L, D) word features.  v: (B, P, D) patch features.
            word_mask: (B, L) bool, True = valid word.  patch_mask: (B, P) bool.
        Returns:
            F_micro (B, D), A (B, L, P) (float32; masked rows/columns exactly 0; the
            mean over heads when H > 1).
        """
        bsz, n_words, n_patches = t.shape[0], t.shape[1], v.shape[1]
        wm = (
            torch.ones(bsz, n_words, dtype=torch.bool, device=t.device)
            if word_mask is None
            else word_mask
        )
        pm = (
            torch.ones(bsz, n_patches, dtype=torch.bool, device=t.device)
            if patch_mask is None
            else patch_mask
        )
        h = self.heads
        q = self.w_q(t).view(bsz, n_words, h, -1)  # (B, L, H, d/H)
        k = self.w_k(v).view(bsz, n_patches, h, -1)  # (B, P, H, d/H)
        scale = math.sqrt(self.d_attn // h)
        scores = torch.einsum("blhe,bphe->bhlp", q, k) / scale  # (B, H, L, P)
        mask = (wm[:, :, None] & pm[:, None, :])[:, None]  # (B, 1, L, P), broadcast over heads
        a = self.attn(scores, mask, dim=-1)  # (B, H, L, P) float32
        vv = self.w_v(v).view(bsz, n_patches, h, -1)  # (B, P, H, D/H)
        # sum_i sum_j A_ij vv_j = sum_j (sum_i A_ij) vv_j : contract words first
        f_micro = torch.einsum("bhp,bphe->bhe", a.sum(dim=2).to(vv.dtype), vv)  # (B, H, D/H)
        return f_micro.reshape(bsz, -1), a.mean(dim=1)
