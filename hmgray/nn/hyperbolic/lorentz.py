"""The Lorentz (hyperboloid) model of curvature ``-c``, MERU's convention.

A point is stored as its space components ``x`` (shape ``(..., D)``); its time component
is ``x_time = sqrt(1/c + ||x||^2)``, so that the full point ``(x_time, x)`` lies on the
upper sheet ``<x, x>_L = -1/c``. The origin is ``x = 0`` (time ``1/sqrt(c)``). With
``<x, y>_L = x . y - x_time y_time`` (the Lorentzian inner product)::

    d(x, y)   = arccosh(-c <x, y>_L) / sqrt(c)                       geodesic distance
    exp_0(v)  = sinh(sqrt(c) ||v||) v / (sqrt(c) ||v||)             tangent at 0 -> space part
    log_0(x)  = asinh(sqrt(c) ||x||) x / (sqrt(c) ||x||)            its inverse
    aper(x)   = asin(2 r_min / (sqrt(c) ||x||))                     entailment half-aperture
    ext(x, y) = the angle at x between the geodesic to y and the ray 0 -> x, continued

MERU's entailment loss is ``max(0, ext(text, image) - aper(text))``: the image must lie
inside the cone that the (more generic) text spans.

Functions taking ``x`` and ``y`` broadcast over leading axes and reduce the last;
``pairwise_*`` take ``x (N, D)`` and ``y (M, D)`` and return ``(N, M)``. ``c`` is a float
or a 0-dim tensor (> 0). All run in float32 under autocast (``float32_block``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from hmgray.nn.hyperbolic.curvature import float32_block

__all__ = [
    "distance",
    "exp_map0",
    "exterior_angle",
    "half_aperture",
    "inner",
    "log_map0",
    "pairwise_distance",
    "pairwise_inner",
    "time_component",
    "to_ambient",
]

# sinh(asinh(2^15)) = 2^15: the largest space norm exp_0 produces (MERU's bound), far
# beyond what a trained embedding reaches, and still exact in float16 were it used.
_MAX_SQRT_C_NORM = math.asinh(2.0**15)


# The public functions below switch autocast off and lift bf16 once, at their entry
# (float32_block); inside, they call these plain helpers, not each other.


def _time(x: Tensor, c: float | Tensor) -> Tensor:
    return torch.sqrt(1.0 / c + (x * x).sum(-1))


def _inner(x: Tensor, y: Tensor, c: float | Tensor) -> Tensor:
    return (x * y).sum(-1) - _time(x, c) * _time(y, c)


def _pairwise_inner(x: Tensor, y: Tensor, c: float | Tensor) -> Tensor:
    return x @ y.T - _time(x, c)[:, None] * _time(y, c)[None, :]


@float32_block
def time_component(x: Tensor, c: float | Tensor) -> Tensor:
    """``sqrt(1/c + ||x||^2)`` (..., D) -> (...,); always >= 1/sqrt(c) > 0."""
    return _time(x, c)


@float32_block
def to_ambient(x: Tensor, c: float | Tensor) -> Tensor:
    """The full point ``(x_time, x)`` (..., D) -> (..., D + 1), time first (geoopt's
    layout)."""
    return torch.cat([_time(x, c).unsqueeze(-1), x], dim=-1)


@float32_block
def inner(x: Tensor, y: Tensor, c: float | Tensor) -> Tensor:
    """``<x, y>_L = x . y - x_time y_time`` (broadcast) -> (...,); ``<= -1/c`` for points."""
    return _inner(x, y, c)


@float32_block
def pairwise_inner(x: Tensor, y: Tensor, c: float | Tensor) -> Tensor:
    """``<x_n, y_m>_L`` for all pairs: x (N, D), y (M, D) -> (N, M)."""
    return _pairwise_inner(x, y, c)


def _arccosh_dist(z: Tensor, c: float | Tensor) -> Tensor:
    # -c <x, y>_L >= 1 exactly, but rounding puts it a little below 1 for near-equal points;
    # arccosh is undefined there and its gradient infinite at 1. Clamping to the dtype's
    # first step above 1 keeps both finite (MERU's 1 + 1e-8 is 1 itself in float32).
    z = z.clamp(min=1.0 + torch.finfo(z.dtype).eps)
    return torch.acosh(z) / c**0.5


@float32_block
def distance(x: Tensor, y: Tensor, c: float | Tensor) -> Tensor:
    """Geodesic distance ``arccosh(-c <x, y>_L) / sqrt(c)`` (broadcast) -> (...,), >= 0."""
    return _arccosh_dist(-c * _inner(x, y, c), c)


@float32_block
def pairwise_distance(x: Tensor, y: Tensor, c: float | Tensor) -> Tensor:
    """Geodesic distances of all pairs: x (N, D), y (M, D) -> (N, M), >= 0."""
    return _arccosh_dist(-c * _pairwise_inner(x, y, c), c)


def _norm(v: Tensor) -> Tensor:
    return torch.linalg.vector_norm(v, dim=-1, keepdim=True)


@float32_block
def exp_map0(v: Tensor, c: float | Tensor) -> Tensor:
    """Exponential map at the origin: tangent vector v (..., D) -> space components
    ``sinh(sqrt(c) ||v||) v / (sqrt(c) ||v||)`` (..., D)."""
    r = c**0.5 * _norm(v)
    # lower bound: sinh(r) / r -> 1 as r -> 0, and v = 0 maps to 0 without 0/0;
    # upper bound: MERU's, so that sinh cannot overflow (see _MAX_SQRT_C_NORM).
    r = r.clamp(min=1e-8, max=_MAX_SQRT_C_NORM)
    return torch.sinh(r) * v / r


@float32_block
def log_map0(x: Tensor, c: float | Tensor) -> Tensor:
    """Logarithmic map at the origin (inverse of :func:`exp_map0`): space components
    (..., D) -> tangent vector ``asinh(sqrt(c) ||x||) x / (sqrt(c) ||x||)``; its norm is
    ``d(0, x)``."""
    r = (c**0.5 * _norm(x)).clamp(min=1e-8)  # asinh(r) / r -> 1 as r -> 0; no 0/0
    return torch.asinh(r) * x / r


@float32_block
def half_aperture(
    x: Tensor, c: float | Tensor, min_radius: float = 0.1, eps: float = 1e-6
) -> Tensor:
    """Half-aperture of the entailment cone at x: ``asin(2 r_min / (sqrt(c) ||x||))``
    (..., D) -> (...,), in radians within ``(0, pi/2)``.

    Points within ``2 r_min / sqrt(c)`` of the origin would need ``asin`` of more than 1:
    the argument is clamped below 1 (their cone is a half-space, the most generic
    concepts), and ``eps`` also keeps ``asin``'s gradient finite at the bound. ``r_min`` 0.1
    is MERU's."""
    arg = 2.0 * min_radius / (c**0.5 * _norm(x).squeeze(-1) + eps)
    return torch.asin(arg.clamp(min=-1.0 + eps, max=1.0 - eps))


@float32_block
def exterior_angle(x: Tensor, y: Tensor, c: float | Tensor, eps: float = 1e-6) -> Tensor:
    """The exterior angle at x of the triangle (0, x, y): the angle between the geodesic
    x -> y and the continuation of 0 -> x past x, (broadcast) -> (...,) in ``[0, pi]``.

    With ``cxy = c <x, y>_L`` (``<= -1``)::

        cos(ext) = (y_time + cxy x_time) / (||x|| sqrt(cxy^2 - 1))

    (MERU's ``oxy_angle``). ``eps`` keeps the square root and the division away from 0
    (y = x, or x at the origin, where the angle is undefined) and ``acos`` off +-1, where
    its gradient is infinite."""
    xt, yt = _time(x, c), _time(y, c)
    cxy = c * ((x * y).sum(-1) - xt * yt)
    num = yt + cxy * xt
    den = _norm(x).squeeze(-1) * torch.sqrt((cxy * cxy - 1.0).clamp(min=eps))
    return torch.acos((num / (den + eps)).clamp(min=-1.0 + eps, max=1.0 - eps))
