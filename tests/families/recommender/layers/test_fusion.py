"""Attention fusion with missing modalities, against the formula written here."""

import math

import torch

from hmgray.families.recommender.layers.fusion import AttentionFusion


def _reference(f: AttentionFusion, x, present):
    out = torch.zeros(x.shape[0], x.shape[2], dtype=x.dtype)
    alphas = torch.zeros(x.shape[:2], dtype=x.dtype)
    for b in range(x.shape[0]):
        s = [
            math.exp(float(f.w[m] @ torch.tanh(f.W.weight @ x[b, m] + f.W.bias)))
            if present[b, m]
            else 0.0
            for m in range(x.shape[1])
        ]
        total = sum(s)
        for m in range(x.shape[1]):
            a = s[m] / total if total > 0 else 0.0
            alphas[b, m] = a
            out[b] += a * x[b, m]
    return out, alphas


def test_fusion_matches_the_formula_with_missing_modalities_renormalised():
    torch.manual_seed(0)
    f = AttentionFusion(3, 6, 4).double()
    x = torch.randn(5, 3, 6, dtype=torch.float64)
    present = torch.tensor(
        [[1, 1, 1], [1, 0, 1], [0, 0, 1], [0, 1, 0], [1, 1, 0]], dtype=torch.bool
    )
    u, alpha = f(x, present)
    ref_u, ref_alpha = _reference(f, x, present)
    torch.testing.assert_close(alpha, ref_alpha)
    torch.testing.assert_close(u, ref_u)
    assert torch.all(alpha[~present] == 0)
    torch.testing.assert_close(alpha.sum(1), torch.ones(5, dtype=torch.float64))
    # a single present modality passes through unchanged
    torch.testing.assert_close(u[2], x[2, 2])


def test_nothing_present_fuses_to_zeros_without_nan_gradients():
    torch.manual_seed(1)
    f = AttentionFusion(2, 4, 3)
    x = torch.randn(2, 2, 4, requires_grad=True)
    present = torch.tensor([[False, False], [True, False]])
    u, alpha = f(x, present)
    assert torch.all(u[0] == 0) and torch.all(alpha[0] == 0)
    u.sum().backward()
    assert torch.isfinite(x.grad).all() and all(
        torch.isfinite(p.grad).all() for p in f.parameters()
    )


def test_a_missing_modality_does_not_change_the_output():
    torch.manual_seed(2)
    f = AttentionFusion(3, 4, 3)
    x = torch.randn(1, 3, 4)
    present = torch.tensor([[True, False, True]])
    y = x.clone()
    y[0, 1] = 100.0  # whatever the missing modality's vector holds
    torch.testing.assert_close(f(x, present)[0], f(y, present)[0])
