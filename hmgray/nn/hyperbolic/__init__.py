"""Hyperbolic geometry shared by the hyperbolic families: pure functions, one convention.

Both models have constant curvature ``-c`` with ``c > 0`` (the curvature is always handed
over as the positive number ``c``, a float or a 0-dim tensor):

* :mod:`.lorentz`: the hyperboloid ``{x : <x, x>_L = -1/c, x_time > 0}`` stored as its
  space components only (MERU's convention); the time component is derived.
  Image-text retrieval (CLIP -> MERU -> GAHR).
* :mod:`.poincare`: the ball ``{x : c ||x||^2 < 1}``. Category discovery (HypGCD).
* :mod:`.curvature`: ``c = exp(theta)``, learnable or fixed and clamped; the float32
  guard for distance and loss blocks; the NaN/Inf guard; and the one function that turns
  ``c`` into geoopt's parameter (geoopt is the independent reference of the tests).

Every function works in float32 even under bf16 autocast (float64 stays float64), and
every clamp and epsilon says why it is there.
"""

from hmgray.nn.hyperbolic import lorentz, poincare
from hmgray.nn.hyperbolic.curvature import Curvature, check_finite, float32_block, geoopt_manifold

__all__ = ["Curvature", "check_finite", "float32_block", "geoopt_manifold", "lorentz", "poincare"]
