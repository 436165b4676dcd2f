"""The curvature parameter, the float32 guard, the NaN/Inf guard and the geoopt bridge.

``c`` is the positive number of curvature ``-c`` in both models (see the package
docstring). geoopt writes the same spaces with other parameters: its ``Lorentz(k)`` is the
hyperboloid ``<x, x>_L = -k`` (curvature ``-1/k``, so ``k = 1/c``, and it stores the time
component first), its ``PoincareBall(c)`` is the ball of curvature ``-c`` (its
``manifold.k`` is ``-c``). :func:`geoopt_manifold` is the only place that converts.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from hmgray.errors import NumericalError

__all__ = ["Curvature", "check_finite", "float32_block", "geoopt_manifold"]

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def float32_block(fn: Callable) -> Callable:
    """Run ``fn`` with autocast off and its half-precision tensor arguments in float32.

    Distances near 0 are ``arccosh`` of numbers near 1, where bf16's 8-bit mantissa leaves
    no room (its step above 1 is 2^-7): the distance and loss blocks must run in float32
    however the encoders ran. float64 arguments stay float64 (gradcheck, references).
    """

    def cast(a: Any) -> Any:
        if isinstance(a, Tensor) and a.dtype in _LOW_PRECISION:
            return a.float()
        return a

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        device = next(
            (a.device.type for a in (*args, *kwargs.values()) if isinstance(a, Tensor)), "cpu"
        )
        with torch.autocast(device_type=device, enabled=False):
            return fn(*(cast(a) for a in args), **{k: cast(v) for k, v in kwargs.items()})

    return wrapper


def check_finite(x: Tensor, what: str) -> Tensor:
    """``x`` unchanged, or :class:`NumericalError` naming ``what`` when any entry is NaN or
    infinite (a diverged run stops with the quantity that broke, not a NaN table row).

    It reads the tensor back to the host: call it on losses and logits once per step, not
    inside inner loops."""
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise NumericalError(
            f"{what}: {bad} of {x.numel()} values are NaN or infinite "
            "(try a lower learning rate, or a curvature range further from 0)"
        )
    return x


class Curvature(nn.Module):
    """``c = exp(theta)``, learnable or fixed, kept within ``[low, high]``.

    Args:
        init: the initial ``c`` (> 0).
        learnable: whether ``theta`` is trained.
        bounds: ``(low, high)``; default MERU's ``(init / 10, 10 * init)``. The clamp keeps a
            learnable curvature from running off to 0 (the space turns Euclidean and the
            hyperbolic arm stops being one) or to a large value (distances explode).

    The clamp is applied to ``theta`` in place before each use, as MERU does, not inside
    the graph: a clamp in the graph would give a parameter at its bound zero gradient and
    keep it there for good.
    """

    def __init__(
        self,
        init: float = 1.0,
        learnable: bool = True,
        bounds: tuple[float, float] | None = None,
    ):
        super().__init__()
        if not init > 0:
            raise ValueError(f"curvature init must be > 0, got {init!r}")
        low, high = bounds if bounds is not None else (init / 10.0, init * 10.0)
        if not 0 < low <= init <= high:
            raise ValueError(f"curvature bounds must satisfy 0 < low <= init <= high, got "
                             f"low={low!r}, init={init!r}, high={high!r}")  # fmt: skip
        self.learnable = bool(learnable)
        self.log_low, self.log_high = math.log(low), math.log(high)
        self.theta = nn.Parameter(torch.tensor(math.log(init)), requires_grad=self.learnable)

    def forward(self) -> Tensor:
        """``c`` as a 0-dim float32 tensor (differentiable when learnable)."""
        with torch.no_grad():
            self.theta.clamp_(self.log_low, self.log_high)
        return self.theta.float().exp()

    def value(self) -> float:
        """``c`` as a Python float (for logs and the results table), within the bounds."""
        theta = min(max(float(self.theta.detach()), self.log_low), self.log_high)
        return math.exp(theta)

    def extra_repr(self) -> str:
        return (f"c={self.value():.4g}, learnable={self.learnable}, "
                f"bounds=({math.exp(self.log_low):.4g}, {math.exp(self.log_high):.4g})")  # fmt: skip


def geoopt_manifold(model: str, c: float | Tensor):
    """geoopt's manifold for our ``model`` (``"lorentz"`` or ``"poincare"``) at curvature
    ``-c``: ``geoopt.Lorentz(k=1/c)`` or ``geoopt.PoincareBall(c=c)``.

    The one conversion between the two conventions; the tests check it on distances, maps
    and the hyperboloid constraint. Points of our Lorentz model go to geoopt's ambient
    coordinates with :func:`hmgray.nn.hyperbolic.lorentz.to_ambient`.
    """
    import geoopt

    c = torch.as_tensor(c, dtype=torch.float64)
    if not bool(c > 0):
        raise ValueError(f"curvature c must be > 0, got {float(c)!r}")
    if model == "lorentz":
        return geoopt.Lorentz(k=1.0 / c)
    if model == "poincare":
        return geoopt.PoincareBall(c=c)
    raise ValueError(f"unknown model {model!r}; expected 'lorentz' or 'poincare'")
