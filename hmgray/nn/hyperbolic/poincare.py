"""The Poincare ball of curvature ``-c``: ``{x in R^D : c ||x||^2 < 1}``.

::

    x (+) y  = ((1 + 2c x.y + c||y||^2) x + (1 - c||x||^2) y)
               / (1 + 2c x.y + c^2 ||x||^2 ||y||^2)                     Moebius addition
    d(x, y)  = (2 / sqrt(c)) artanh(sqrt(c) ||(-x) (+) y||)              geodesic distance
    exp_0(v) = tanh(sqrt(c) ||v||) v / (sqrt(c) ||v||)                  tangent at 0 -> ball
    log_0(y) = artanh(sqrt(c) ||y||) y / (sqrt(c) ||y||)                its inverse
    clip(x)  = min(1, r / ||x||) x                                      feature clipping
    Einstein midpoint of x_i with weights w_i: in Klein coordinates k_i = 2 x_i / (1 +
    c||x_i||^2), ``m_K = sum_i w_i gamma_i k_i / sum_i w_i gamma_i`` with the Lorentz
    factors ``gamma_i = 1 / sqrt(1 - c||k_i||^2)``, mapped back to the ball.

HypGCD's pipeline is ``project(exp_map0(clip_features(f, clip_r), c), c)`` (its
``ToPoincare``). Functions taking ``x`` and ``y`` broadcast over leading axes and reduce
the last; ``pairwise_distance`` takes x (N, D), y (M, D) and returns (N, M) without the
(N, M, D) tensor of every Moebius sum. All run in float32 under autocast.
"""

from __future__ import annotations

import torch
from torch import Tensor

from hmgray.nn.hyperbolic.curvature import float32_block

__all__ = [
    "clip_features",
    "distance",
    "einstein_midpoint",
    "exp_map0",
    "log_map0",
    "mobius_add",
    "pairwise_distance",
    "project",
]

# artanh(1) is infinite: sqrt(c) ||(-x) (+) y|| is kept at or below 1 - 1e-5 (HypGCD's
# bound), which caps any distance at about 12.2 / sqrt(c).
_ARTANH_MAX = 1.0 - 1e-5


def _norm(v: Tensor) -> Tensor:
    return torch.linalg.vector_norm(v, dim=-1, keepdim=True)


@float32_block
def mobius_add(x: Tensor, y: Tensor, c: float | Tensor) -> Tensor:
    """Moebius addition ``x (+) y`` (broadcast) -> (..., D); on the ball if x and y are."""
    xy = (x * y).sum(-1, keepdim=True)
    x2, y2 = (x * x).sum(-1, keepdim=True), (y * y).sum(-1, keepdim=True)
    num = (1 + 2 * c * xy + c * y2) * x + (1 - c * x2) * y
    # the denominator is >= (1 - sqrt(c x2 c y2))^2 > 0 inside the ball; the floor only
    # matters for points pushed onto the boundary by rounding
    den = (1 + 2 * c * xy + c * c * x2 * y2).clamp(min=1e-15)
    return num / den


def _artanh_dist(norm: Tensor, c: float | Tensor) -> Tensor:
    sc = c**0.5
    return (2.0 / sc) * torch.atanh((sc * norm).clamp(max=_ARTANH_MAX))


@float32_block
def distance(x: Tensor, y: Tensor, c: float | Tensor) -> Tensor:
    """``(2 / sqrt(c)) artanh(sqrt(c) ||(-x) (+) y||)`` (broadcast) -> (...,), >= 0."""
    return _artanh_dist(_norm(mobius_add(-x, y, c)).squeeze(-1), c)


@float32_block
def pairwise_distance(x: Tensor, y: Tensor, c: float | Tensor) -> Tensor:
    """Distances of all pairs, x (N, D), y (M, D) -> (N, M).

    Uses ``||(-x) (+) y||^2 = ||x - y||^2 / (1 - 2c x.y + c^2 ||x||^2 ||y||^2)``, so the
    cost is one (N, M) matrix product and ``||x - y||^2`` expands as ``||x||^2 + ||y||^2 -
    2 x.y`` (as ``torch.cdist`` does: a distance near 0 carries the rounding of norms near
    1 / sqrt(c), about 1e-3 in float32)."""
    xy = x @ y.T  # (N, M)
    x2 = (x * x).sum(-1)[:, None]  # (N, 1)
    y2 = (y * y).sum(-1)[None, :]  # (1, M)
    # the expansion can round below 0 for x = y; the floor eps^2 (below the dtype's
    # resolution of the expansion) keeps sqrt's gradient finite there
    diff2 = (x2 + y2 - 2 * xy).clamp(min=0) + torch.finfo(x.dtype).eps ** 2
    den = (1 - 2 * c * xy + c * c * x2 * y2).clamp(min=1e-15)  # >= (1 - c|x||y|)^2 > 0
    return _artanh_dist(torch.sqrt(diff2 / den), c)


@float32_block
def project(x: Tensor, c: float | Tensor, eps: float = 1e-3) -> Tensor:
    """Pull points back to ``||x|| <= (1 - eps) / sqrt(c)``, (..., D) -> (..., D).

    In float32 tanh reaches 1 at ``sqrt(c) ||v|| ~ 9``, putting exp_0's image on the
    boundary, infinitely far from everything; ``eps`` 1e-3 is HypGCD's (geoopt uses 4e-3
    in float32)."""
    max_norm = (1.0 - eps) / c**0.5
    norm = _norm(x).clamp(min=1e-15)  # the scale is 1 for small x; no 0/0 at x = 0
    return torch.where(norm > max_norm, x / norm * max_norm, x)


@float32_block
def exp_map0(v: Tensor, c: float | Tensor) -> Tensor:
    """``tanh(sqrt(c) ||v||) v / (sqrt(c) ||v||)``, (..., D) -> (..., D) inside the ball
    (up to rounding; :func:`project` after it)."""
    r = (c**0.5 * _norm(v)).clamp(min=1e-15)  # tanh(r) / r -> 1 as r -> 0; no 0/0 at v = 0
    return torch.tanh(r) * v / r


@float32_block
def log_map0(y: Tensor, c: float | Tensor) -> Tensor:
    """``artanh(sqrt(c) ||y||) y / (sqrt(c) ||y||)``, (..., D) -> (..., D) (inverse of
    :func:`exp_map0`; its norm is half of ``d(0, y)``)."""
    r = (c**0.5 * _norm(y)).clamp(min=1e-15, max=_ARTANH_MAX)  # no 0/0; artanh finite
    return torch.atanh(r) * y / (c**0.5 * _norm(y)).clamp(min=1e-15)


@float32_block
def clip_features(x: Tensor, clip_r: float) -> Tensor:
    """Feature clipping: ``min(1, clip_r / ||x||) x``, (..., D) -> (..., D).

    Before exp_0 a Euclidean feature of norm beyond ``clip_r`` is scaled back to norm
    ``clip_r`` (HypGCD's ``clip_r`` 2.3), so the ball's image stays away from the
    boundary, where gradients vanish."""
    if not clip_r > 0:
        raise ValueError(f"clip_r must be > 0, got {clip_r!r}")
    norm = _norm(x).clamp(min=1e-15)  # x = 0 is left at 0, no 0/0
    return x * torch.clamp(clip_r / norm, max=1.0)


@float32_block
def einstein_midpoint(x: Tensor, c: float | Tensor, weights: Tensor | None = None) -> Tensor:
    """Weighted Einstein midpoint(s) of points on the ball.

    Shapes: x (N, D); weights (N,) -> (D,), or (K, N) -> (K, D) (K midpoints at once, e.g.
    class centres from a one-hot or soft assignment matrix); None: equal weights. Weights
    must be >= 0 with a positive sum per midpoint."""
    single = weights is None or weights.dim() == 1
    w = torch.ones(x.shape[0], dtype=x.dtype, device=x.device) if weights is None else weights
    w = w.to(x.dtype).reshape(-1, x.shape[0])  # (K, N)
    x2 = (x * x).sum(-1)
    k = 2 * x / (1 + c * x2)[:, None]  # Poincare -> Klein, (N, D)
    # 1 - c||k||^2 = ((1 - c||x||^2) / (1 + c||x||^2))^2 > 0 inside the ball; the floor
    # keeps gamma finite for a point rounded onto the boundary
    gamma = 1.0 / torch.sqrt((1 - c * (k * k).sum(-1)).clamp(min=1e-15))  # (N,)
    wg = w * gamma[None, :]  # (K, N)
    m = (wg @ k) / wg.sum(-1, keepdim=True).clamp(min=1e-15)  # (K, D), in the Klein ball
    m2 = (m * m).sum(-1, keepdim=True)
    out = m / (1 + torch.sqrt((1 - c * m2).clamp(min=0)))  # Klein -> Poincare
    return out[0] if single else out
