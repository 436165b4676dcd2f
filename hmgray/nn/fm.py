"""Factorization machine (Rendle, ICDM 2010), with the user / item decomposition that
scores one user against every item without building every pair.

For an input x in R^n (here x = [u; i], the user's and the item's fused vectors)::

    y(x) = w0 + sum_j w_j x_j + sum_{j<k} <v_j, v_k> x_j x_k
         = w0 + <w, x> + 1/2 sum_f [ (sum_j V_jf x_j)^2 - sum_j V_jf^2 x_j^2 ]

The second line is Rendle's O(k n) form (k = factor dimension). With x = [u; i],
V = [V_u; V_i], w = [w_u; w_i] and a = V_u^T u, b = V_i^T i (both in R^k)::

    y(u, i) = w0 + U(u) + I(i) + <a, b>
    U(u) = <w_u, u> + 1/2 (|a|^2 - sum_j |V_u,j|^2 u_j^2)      (the pairs within u)
    I(i) = <w_i, i> + 1/2 (|b|^2 - sum_j |V_i,j|^2 i_j^2)      (the pairs within i)

so a full ranking of B users over N items is ``U[:, None] + I[None, :] + A @ B^T``:
O((B + N) n k + B N k), never the (B, N, n) tensor of every pair.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["FactorizationMachine"]


class FactorizationMachine(nn.Module):
    """y = w0 + <w, x> + sum_{j<k} <v_j, v_k> x_j x_k over x = [u; i].

    Args:
        user_dim, item_dim: widths of u and i (n = user_dim + item_dim).
        k: factor dimension.
    Shapes: ``forward(u (B, du), i (B, di)) -> (B,)``; ``full(u (B, du), i (N, di)) -> (B, N)``.
    """

    def __init__(self, user_dim: int, item_dim: int, k: int):
        super().__init__()
        self.user_dim, self.item_dim = user_dim, item_dim
        self.w0 = nn.Parameter(torch.zeros(()))
        self.w = nn.Linear(user_dim + item_dim, 1, bias=False)
        # small factors: at init the pairwise term is a small correction of the linear one
        self.v = nn.Parameter(torch.randn(user_dim + item_dim, k) * 0.01)  # (n, k)

    def _side(self, x: Tensor, lo: int, hi: int) -> tuple[Tensor, Tensor]:
        """(linear + within-side pairs (B,), factor sum (B, k)) of one side of x."""
        v = self.v[lo:hi]  # (n_side, k)
        a = x @ v  # (B, k)
        squares = (x * x) @ (v * v).sum(1)  # (B,): sum_j |v_j|^2 x_j^2
        linear = x @ self.w.weight[0, lo:hi]
        return linear + 0.5 * ((a * a).sum(-1) - squares), a

    def parts(self, u: Tensor, i: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(U (B,), A (B, k), I (N,), Bf (N, k)) of the decomposition above."""
        du = self.user_dim
        uu, a = self._side(u, 0, du)
        ii, b = self._side(i, du, du + self.item_dim)
        return uu, a, ii, b

    def forward(self, u: Tensor, i: Tensor) -> Tensor:
        """Scores of the pairs (u[b], i[b]): (B,)."""
        uu, a, ii, b = self.parts(u, i)
        return self.w0 + uu + ii + (a * b).sum(-1)

    def full(self, u: Tensor, i: Tensor) -> Tensor:
        """Scores of every user against every item: (B, N)."""
        uu, a, ii, b = self.parts(u, i)
        return self.w0 + uu[:, None] + ii[None, :] + a @ b.T
