"""Attention registry: simplex outputs, sparsity, exact masking, one signature."""

import inspect

import entmax
import numpy as np
import pytest
import torch

from hmgray.nn.attention import ATTENTIONS, get_attention

NAMES = ["softmax", "sparsemax", "entmax15"]


def sparsemax_reference(z: np.ndarray) -> np.ndarray:
    """Martins & Astudillo (2016), Alg. 1, one vector, float64."""
    zs = np.sort(z)[::-1]
    cs = np.cumsum(zs)
    k = np.arange(1, len(z) + 1)
    k_max = k[1 + k * zs > cs].max()
    tau = (cs[k_max - 1] - 1) / k_max
    return np.maximum(z - tau, 0.0)


def reference(name: str, z: torch.Tensor) -> torch.Tensor:
    """The normalisation of one unmasked 1-D score vector, computed independently."""
    if name == "softmax":
        return torch.softmax(z.double(), 0)
    if name == "sparsemax":
        return torch.from_numpy(sparsemax_reference(z.double().numpy()))
    return entmax.entmax_bisect(z.double(), alpha=1.5, dim=0, n_iter=200)


def random_case(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    scores = 3 * torch.randn(5, 7, generator=g)
    mask = torch.rand(5, 7, generator=g) > 0.4
    mask[0] = True  # a fully valid row
    mask[1] = False  # a fully masked row
    mask[2, :] = False
    mask[2, 3] = True  # a single valid entry
    return scores, mask


def test_registry_names_and_one_signature():
    assert sorted(ATTENTIONS) == sorted(NAMES)
    sigs = {str(inspect.signature(fn)) for fn in ATTENTIONS.values()}
    assert len(sigs) == 1
    params = list(inspect.signature(ATTENTIONS["softmax"]).parameters)
    assert params == ["scores", "mask", "dim"]
    assert inspect.signature(ATTENTIONS["softmax"]).parameters["dim"].default == -1


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="unknown attention 'sparsmax'") as e:
        get_attention("sparsmax")
    for name in NAMES:
        assert name in str(e.value)


@pytest.mark.parametrize("name", NAMES)
def test_unmasked_rows_are_distributions_matching_reference(name):
    scores, _ = random_case()
    p = get_attention(name)(scores, None, dim=-1)
    assert torch.allclose(p.sum(-1), torch.ones(5), atol=1e-6)
    assert (p >= 0).all()
    for row in range(5):
        torch.testing.assert_close(p[row].double(), reference(name, scores[row]), atol=1e-5, rtol=0)


def test_sparsemax_and_entmax_are_sparse_softmax_is_not():
    scores, _ = random_case(1)
    assert (get_attention("sparsemax")(scores, None) == 0).any()
    assert (get_attention("entmax15")(scores, None) == 0).any()
    assert (get_attention("softmax")(scores, None) > 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_masking_equals_restriction_to_valid_entries(name):
    scores, mask = random_case(2)
    scores = scores.requires_grad_()
    p = get_attention(name)(scores, mask, dim=-1)
    assert not torch.isnan(p).any()
    assert (p[~mask] == 0).all()  # exact zeros, not just small
    assert (p[1] == 0).all()  # fully masked row -> zeros
    assert p[2, 3] == 1.0  # single valid entry takes everything
    for row in range(5):
        valid = mask[row]
        if valid.any():
            torch.testing.assert_close(
                p[row, valid].double(),
                reference(name, scores[row, valid].detach()),
                atol=1e-5,
                rtol=0,
            )
    p.square().sum().backward()
    assert torch.isfinite(scores.grad).all()
    assert (scores.grad[~mask] == 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_dim_argument_and_extreme_scores(name):
    scores, mask = random_case(3)
    fn = get_attention(name)
    p0 = fn(scores.t(), mask.t(), dim=0)
    torch.testing.assert_close(p0.t(), fn(scores, mask, dim=-1))
    huge = scores * 1e6  # spread far beyond the mask fill value
    p = fn(huge, mask)
    assert torch.isfinite(p).all() and (p[~mask] == 0).all()
    valid_rows = mask.any(-1)
    torch.testing.assert_close(p[valid_rows].sum(-1), torch.ones(int(valid_rows.sum())))


@pytest.mark.parametrize("name", NAMES)
def test_float32_under_bf16_autocast(name):
    scores, mask = random_case(4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        p = get_attention(name)(scores.bfloat16(), mask)
    assert p.dtype == torch.float32
    valid_rows = mask.any(-1)
    torch.testing.assert_close(p[valid_rows].sum(-1), torch.ones(int(valid_rows.sum())))
