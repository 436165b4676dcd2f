"""The factorization machine against its definition, written out pair by pair."""

import itertools

import torch

from hmgray.nn.fm import FactorizationMachine


def _naive(fm: FactorizationMachine, u: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
    """y = w0 + sum_j w_j x_j + sum_{j<k} <v_j, v_k> x_j x_k, one pair at a time."""
    out = []
    for ub, ib in zip(u, i, strict=True):
        x = torch.cat([ub, ib])
        y = fm.w0 + (fm.w.weight[0] * x).sum()
        for j, k in itertools.combinations(range(len(x)), 2):
            y = y + (fm.v[j] * fm.v[k]).sum() * x[j] * x[k]
        out.append(y)
    return torch.stack(out)


def _fm(seed=0):
    torch.manual_seed(seed)
    fm = FactorizationMachine(3, 4, k=5).double()
    with torch.no_grad():
        fm.v.normal_()  # large factors: the pairwise term dominates the check
        fm.w0.fill_(0.3)
    return fm


def test_the_linear_time_form_equals_the_sum_over_pairs():
    fm = _fm()
    u, i = torch.randn(6, 3, dtype=torch.float64), torch.randn(6, 4, dtype=torch.float64)
    torch.testing.assert_close(fm(u, i), _naive(fm, u, i))


def test_full_ranking_equals_scoring_every_pair():
    fm = _fm(1)
    u, items = torch.randn(3, 3, dtype=torch.float64), torch.randn(7, 4, dtype=torch.float64)
    full = fm.full(u, items)
    assert full.shape == (3, 7)
    for b in range(3):
        torch.testing.assert_close(full[b], fm(u[b].expand(7, 3), items))


def test_gradients_match_finite_differences():
    fm = _fm(2)
    u, i = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    u.requires_grad_(True)
    i.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: fm(a, b), (u, i))
