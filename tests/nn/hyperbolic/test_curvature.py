"""The curvature parameter (clamped, learnable or fixed), the guards, the conversion."""

import math

import pytest
import torch

from hmgray.errors import HmgrayError, NumericalError
from hmgray.nn.hyperbolic import Curvature, check_finite, float32_block, geoopt_manifold


def test_curvature_starts_at_init_and_stays_in_merus_range():
    curv = Curvature(init=1.0)
    assert curv.value() == pytest.approx(1.0)
    opt = torch.optim.SGD(curv.parameters(), lr=10.0)
    for _ in range(3):  # pushed hard towards 0
        opt.zero_grad()
        curv().backward()  # d c / d theta = c > 0: SGD lowers theta
        opt.step()
    assert curv.value() == pytest.approx(0.1)  # init / 10
    # at its bound it still has a gradient and can come back (the clamp is not in the graph)
    opt.zero_grad()
    (-curv()).backward()
    assert curv.theta.grad is not None and float(curv.theta.grad) < 0
    opt.step()
    assert curv.value() > 0.1


def test_fixed_curvature_has_no_gradient_and_bounds_are_checked():
    curv = Curvature(init=0.5, learnable=False, bounds=(0.1, 2.0))
    assert not curv.theta.requires_grad and curv.value() == pytest.approx(0.5)
    assert "learnable=False" in repr(curv)
    with pytest.raises(ValueError, match="bounds"):
        Curvature(init=3.0, bounds=(0.1, 2.0))
    with pytest.raises(ValueError, match="init"):
        Curvature(init=0.0)


def test_check_finite_names_the_quantity():
    x = torch.tensor([1.0, float("nan"), float("inf")])
    with pytest.raises(NumericalError, match=r"contrastive logits: 2 of 3 values"):
        check_finite(x, "contrastive logits")
    assert issubclass(NumericalError, HmgrayError)
    y = torch.ones(3)
    assert check_finite(y, "ok") is y


def test_float32_block_keeps_float64_and_lifts_bf16():
    @float32_block
    def f(a, b):
        return a @ b

    a = torch.ones(2, 2, dtype=torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert f(a, a).dtype == torch.float32
        assert f(a.double(), a.double()).dtype == torch.float64


def test_geoopt_manifold_conversion():
    lor = geoopt_manifold("lorentz", 4.0)
    assert float(lor.k) == pytest.approx(0.25)  # geoopt's k = 1 / c
    # geoopt's origin (sqrt(k), 0, ...) is ours: time component 1 / sqrt(c)
    assert float(lor.origin(3)[0]) == pytest.approx(1 / math.sqrt(4.0))
    ball = geoopt_manifold("poincare", 4.0)
    assert float(ball.c) == pytest.approx(4.0)
    with pytest.raises(ValueError, match="model"):
        geoopt_manifold("klein", 1.0)
    with pytest.raises(ValueError, match="> 0"):
        geoopt_manifold("lorentz", -1.0)
