"""The Lorentz model against its identities and against geoopt (the independent
reference, at geoopt's recommended float64), through the one conversion function."""

import math

import pytest
import torch

from hmgray.nn.hyperbolic import geoopt_manifold, lorentz

C_VALUES = (0.1, 1.0, 2.5)


def _points(n=6, d=4, scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64) * scale


@pytest.mark.parametrize("c", C_VALUES)
def test_points_lie_on_the_hyperboloid_of_curvature_minus_c(c):
    x = lorentz.exp_map0(_points(), c)
    assert torch.allclose(lorentz.inner(x, x, c), torch.full((6,), -1.0 / c, dtype=x.dtype))
    m = geoopt_manifold("lorentz", c)
    assert m.check_point_on_manifold(lorentz.to_ambient(x, c))
    # the conversion is not the identity: c and geoopt's k are reciprocals
    assert float(m.k) == pytest.approx(1.0 / c)


@pytest.mark.parametrize("c", C_VALUES)
def test_distance_is_a_metric(c):
    x, y, z = (lorentz.exp_map0(_points(seed=s), c) for s in (1, 2, 3))
    # d(x, x) = arccosh(1) = 0, up to the cancellation in <x, x>_L of points far out
    assert torch.allclose(lorentz.distance(x, x, c), torch.zeros(6, dtype=x.dtype), atol=1e-5)
    assert torch.allclose(lorentz.distance(x, y, c), lorentz.distance(y, x, c))
    assert (lorentz.distance(x, y, c) > 0).all()
    lhs = lorentz.distance(x, z, c)
    assert (lhs <= lorentz.distance(x, y, c) + lorentz.distance(y, z, c) + 1e-9).all()
    # pairwise = elementwise on every pair
    pair = lorentz.pairwise_distance(x, y, c)
    assert torch.allclose(pair.diagonal(), lorentz.distance(x, y, c))
    assert torch.allclose(pair[2, 4], lorentz.distance(x[2], y[4], c))


@pytest.mark.parametrize("c", C_VALUES)
def test_maps_and_distances_agree_with_geoopt(c):
    m = geoopt_manifold("lorentz", c)
    v = _points(scale=0.7)
    x = lorentz.exp_map0(v, c)
    zeros = torch.zeros(6, 1, dtype=v.dtype)
    ref = m.expmap0(torch.cat([zeros, v], -1))  # tangent at the origin: time part 0
    assert torch.allclose(lorentz.to_ambient(x, c), ref, atol=1e-10)
    assert torch.allclose(lorentz.log_map0(x, c), m.logmap0(ref)[:, 1:], atol=1e-10)
    y = lorentz.exp_map0(_points(seed=5, scale=0.7), c)
    ya = lorentz.to_ambient(y, c)
    assert torch.allclose(lorentz.distance(x, y, c), m.dist(ref, ya), atol=1e-9)
    assert torch.allclose(
        lorentz.pairwise_distance(x, y, c), m.dist(ref[:, None], ya[None, :]), atol=1e-9
    )
    # the norm of log_0(x) is the distance from the origin
    assert torch.allclose(lorentz.log_map0(x, c).norm(dim=-1), m.dist0(ref), atol=1e-10)


@pytest.mark.parametrize("c", C_VALUES)
def test_exp_log_round_trip(c):
    v = _points(scale=1.5)
    assert torch.allclose(lorentz.log_map0(lorentz.exp_map0(v, c), c), v, atol=1e-10)
    x = _points(seed=4, scale=3.0)
    assert torch.allclose(lorentz.exp_map0(lorentz.log_map0(x, c), c), x, atol=1e-10)
    # the origin maps to the origin, without 0/0
    z = torch.zeros(2, 4, dtype=torch.float64)
    assert torch.equal(lorentz.exp_map0(z, c), z) and torch.equal(lorentz.log_map0(z, c), z)


def _angle_by_geoopt(x, y, c):
    """The exterior angle at x, from tangent vectors: u = log_x(y) against w = -log_x(0),
    measured with the Minkowski inner product (the metric on the tangent space)."""
    m = geoopt_manifold("lorentz", c)
    xa, ya = lorentz.to_ambient(x, c), lorentz.to_ambient(y, c)
    origin = m.origin(xa.shape, dtype=xa.dtype)
    u, w = m.logmap(xa, ya), -m.logmap(xa, origin)
    cos = m.inner(xa, u, w) / (m.norm(u) * m.norm(w))
    return torch.acos(cos.clamp(-1, 1))


@pytest.mark.parametrize("c", C_VALUES)
def test_exterior_angle_agrees_with_tangent_vectors(c):
    x = lorentz.exp_map0(_points(seed=7, scale=0.8), c)
    y = lorentz.exp_map0(_points(seed=8, scale=0.8), c)
    got = lorentz.exterior_angle(x, y, c)
    assert torch.allclose(got, _angle_by_geoopt(x, y, c), atol=1e-5)
    # y further out on the ray 0 -> x: angle 0; y at the origin: angle pi
    assert torch.allclose(
        lorentz.exterior_angle(x, 3 * x, c), torch.zeros(6, dtype=x.dtype), atol=3e-3
    )
    origin = torch.zeros_like(x)
    assert torch.allclose(
        lorentz.exterior_angle(x, origin, c), torch.full((6,), math.pi, dtype=x.dtype), atol=3e-3
    )


def test_half_aperture_shrinks_away_from_the_origin():
    c = 1.0
    x = torch.tensor([[0.1, 0.0], [1.0, 0.0], [5.0, 0.0]], dtype=torch.float64)
    aper = lorentz.half_aperture(x, c)
    assert (aper.diff() < 0).all()
    assert aper[1] == pytest.approx(math.asin(0.2), abs=1e-6)  # 2 r_min / ||x||, r_min 0.1
    # within 2 r_min / sqrt(c) of the origin the cone is (nearly) a half-space
    assert aper[0] == pytest.approx(math.pi / 2, abs=3e-3)


def test_gradcheck_float64():
    c = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    x = _points(n=3, d=3, scale=0.6, seed=1).requires_grad_()
    y = _points(n=3, d=3, scale=0.6, seed=2).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b, k: lorentz.pairwise_distance(a, b, k), (x, y, c))
    assert torch.autograd.gradcheck(lambda a, k: lorentz.exp_map0(a, k), (x, c))
    assert torch.autograd.gradcheck(lambda a, b, k: lorentz.exterior_angle(a, b, k), (x, y, c))
    assert torch.autograd.gradcheck(lambda a, k: lorentz.half_aperture(a, k), (x, c))


def test_gradient_of_a_zero_distance_is_finite_in_float32():
    x = torch.randn(4, 8).requires_grad_()
    d = lorentz.pairwise_distance(x, x, 1.0)
    d.sum().backward()
    assert torch.isfinite(x.grad).all()
    v = torch.zeros(2, 3, requires_grad=True)
    lorentz.exp_map0(v, 1.0).sum().backward()
    assert torch.isfinite(v.grad).all()


def test_runs_in_float32_under_bf16_autocast():
    x = torch.randn(5, 8, generator=torch.Generator().manual_seed(0)).bfloat16()
    y = x + 0.01
    with torch.autocast("cpu", dtype=torch.bfloat16):
        d = lorentz.pairwise_distance(x, y, 1.0)
    assert d.dtype == torch.float32
    ref = lorentz.pairwise_distance(x.double(), y.double(), 1.0)
    # float32's own limit on small distances between points far out: ~1e-4 here; bf16
    # arithmetic would be off by ~1e-1 (its step above 1 is 2^-7)
    assert torch.allclose(d.double(), ref, atol=1e-3)
    assert (ref.diagonal() > 0.01).all()
