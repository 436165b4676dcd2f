"""The Poincare ball against its identities, a closed form written independently, and
geoopt's PoincareBall (float64)."""

import pytest
import torch

from hmgray.nn.hyperbolic import geoopt_manifold, poincare

C_VALUES = (0.1, 1.0, 2.5)


def _ball(n=6, d=4, c=1.0, seed=0, scale=0.6):
    g = torch.Generator().manual_seed(seed)
    return poincare.exp_map0(torch.randn(n, d, generator=g, dtype=torch.float64) * scale, c)


def _closed_form(x, y, c):
    """d = arccosh(1 + 2c||x - y||^2 / ((1 - c||x||^2)(1 - c||y||^2))) / sqrt(c)."""
    num = 2 * c * ((x - y) ** 2).sum(-1)
    den = (1 - c * (x * x).sum(-1)) * (1 - c * (y * y).sum(-1))
    return torch.acosh(1 + num / den) / c**0.5


@pytest.mark.parametrize("c", C_VALUES)
def test_distance_agrees_with_closed_form_and_geoopt(c):
    x, y = _ball(c=c, seed=1), _ball(c=c, seed=2)
    m = geoopt_manifold("poincare", c)
    assert float(m.c) == pytest.approx(c) and float(m.k) == pytest.approx(-c)
    d = poincare.distance(x, y, c)
    assert torch.allclose(d, _closed_form(x, y, c), atol=1e-9)
    assert torch.allclose(d, m.dist(x, y), atol=1e-9)
    pair = poincare.pairwise_distance(x, y, c)
    assert torch.allclose(pair, _closed_form(x[:, None], y[None, :], c), atol=1e-7)
    assert torch.allclose(poincare.mobius_add(x, y, c), m.mobius_add(x, y), atol=1e-10)


@pytest.mark.parametrize("c", C_VALUES)
def test_distance_is_a_metric(c):
    x, y, z = (_ball(c=c, seed=s) for s in (3, 4, 5))
    zero = torch.zeros(6, dtype=x.dtype)
    assert torch.allclose(poincare.distance(x, x, c), zero, atol=1e-7)
    assert torch.allclose(poincare.pairwise_distance(x, x, c).diagonal(), zero, atol=1e-6)
    assert torch.allclose(poincare.distance(x, y, c), poincare.distance(y, x, c))
    d = poincare.distance
    assert (d(x, z, c) <= d(x, y, c) + d(y, z, c) + 1e-9).all()


@pytest.mark.parametrize("c", C_VALUES)
def test_maps_agree_with_geoopt_and_round_trip(c):
    m = geoopt_manifold("poincare", c)
    g = torch.Generator().manual_seed(6)
    v = torch.randn(6, 4, generator=g, dtype=torch.float64) * 0.8
    x = poincare.exp_map0(v, c)
    assert torch.allclose(x, m.expmap0(v), atol=1e-10)
    assert (c * (x * x).sum(-1) < 1).all()
    assert torch.allclose(poincare.log_map0(x, c), m.logmap0(x), atol=1e-9)
    assert torch.allclose(poincare.log_map0(x, c), v, atol=1e-9)
    # the distance from the origin is twice the norm of log_0
    zero = torch.zeros_like(x)
    assert torch.allclose(poincare.distance(zero, x, c), 2 * v.norm(dim=-1), atol=1e-9)


def test_project_and_clip():
    c = 4.0  # ball radius 0.5
    x = torch.tensor([[0.1, 0.0], [0.6, 0.8], [0.0, 0.0]], dtype=torch.float64)
    p = poincare.project(x, c)
    assert torch.equal(p[0], x[0]) and torch.equal(p[2], x[2])
    assert p[1].norm() == pytest.approx((1 - 1e-3) / 2) and torch.allclose(p[1] / p[1].norm(), x[1])
    f = torch.tensor([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]], dtype=torch.float64)
    clipped = poincare.clip_features(f, 2.3)
    assert clipped[0].norm() == pytest.approx(2.3) and torch.equal(clipped[1], f[1])
    assert torch.equal(clipped[2], f[2])
    with pytest.raises(ValueError, match="clip_r"):
        poincare.clip_features(f, 0.0)
    # exp_0 of a huge vector rounds onto the boundary in float32; project pulls it back
    big = poincare.exp_map0(torch.tensor([[100.0, 0.0]]), 1.0)
    assert torch.isfinite(
        poincare.distance(torch.zeros(1, 2), poincare.project(big, 1.0), 1.0)
    ).all()


@pytest.mark.parametrize("c", C_VALUES)
def test_einstein_midpoint(c):
    m = geoopt_manifold("poincare", c)
    x = _ball(n=5, c=c, seed=7)
    w = torch.tensor([0.5, 1.0, 2.0, 0.1, 1.5], dtype=torch.float64)
    # the gyromidpoint (geoopt) is the Einstein midpoint in Poincare coordinates
    ref = m.weighted_midpoint(x, w, reducedim=[0])
    assert torch.allclose(poincare.einstein_midpoint(x, c, w), ref, atol=1e-9)
    # two points, equal weights: the geodesic midpoint, halfway in distance
    mid = poincare.einstein_midpoint(x[:2], c)
    half = poincare.distance(x[0], x[1], c) / 2
    assert poincare.distance(mid, x[0], c) == pytest.approx(float(half), abs=1e-9)
    assert poincare.distance(mid, x[1], c) == pytest.approx(float(half), abs=1e-9)
    # symmetric points average to the origin; one point is its own midpoint
    assert torch.allclose(
        poincare.einstein_midpoint(torch.stack([x[0], -x[0]]), c),
        torch.zeros(4, dtype=x.dtype),
        atol=1e-12,
    )
    assert torch.allclose(poincare.einstein_midpoint(x[3:4], c), x[3], atol=1e-12)
    # K midpoints at once from an assignment matrix = each midpoint alone
    assign = torch.tensor([[1, 1, 0, 0, 0], [0, 0, 1, 1, 1]], dtype=torch.float64)
    both = poincare.einstein_midpoint(x, c, assign)
    assert both.shape == (2, 4)
    assert torch.allclose(both[1], poincare.einstein_midpoint(x[2:], c), atol=1e-12)


def test_gradcheck_float64():
    c = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
    x = _ball(n=3, d=3, c=0.8, seed=8).requires_grad_()
    y = _ball(n=3, d=3, c=0.8, seed=9).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b, k: poincare.pairwise_distance(a, b, k), (x, y, c))
    assert torch.autograd.gradcheck(lambda a, b, k: poincare.distance(a, b, k), (x, y, c))
    assert torch.autograd.gradcheck(lambda a, k: poincare.einstein_midpoint(a, k), (x, c))
    assert torch.autograd.gradcheck(lambda a, k: poincare.exp_map0(a, k), (x, c))


def test_float32_under_autocast_and_finite_gradients_at_zero_distance():
    x = torch.randn(4, 8).mul(0.2).requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        d = poincare.pairwise_distance(poincare.exp_map0(x, 1.0), poincare.exp_map0(x, 1.0), 1.0)
    assert d.dtype == torch.float32
    d.sum().backward()
    assert torch.isfinite(x.grad).all()
