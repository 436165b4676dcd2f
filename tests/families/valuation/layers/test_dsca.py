"""DSCA equals its formula, computed independently per listing on the valid sub-matrices."""

import math

import entmax
import pytest
import torch

from hmgray.families.valuation.layers.dsca import DSCA

NORMALISERS = {
    "softmax": lambda s: torch.softmax(s, dim=-1),
    "sparsemax": lambda s: entmax.sparsemax(s, dim=-1),
    "entmax15": lambda s: entmax.entmax15(s, dim=-1),
}


def inputs(seed=0, b=3, n_words=6, p=5, d=8):
    g = torch.Generator().manual_seed(seed)
    t = torch.randn(b, n_words, d, generator=g)
    v = torch.randn(b, p, d, generator=g)
    word_mask = torch.zeros(b, n_words, dtype=torch.bool)
    word_mask[0, :] = True
    word_mask[1, :4] = True
    word_mask[2, :2] = True
    patch_mask = torch.ones(b, p, dtype=torch.bool)
    patch_mask[2] = False  # listing 2 has no image
    return t, v, word_mask, patch_mask


@pytest.mark.parametrize("name", sorted(NORMALISERS))
def test_dsca_matches_formula(name):
    torch.manual_seed(0)
    t, v, wm, pm = inputs()
    dsca = DSCA(8, attention=name)
    f_micro, a = dsca(t, v, wm, pm)
    wq, wk, wv = dsca.w_q.weight.T, dsca.w_k.weight.T, dsca.w_v.weight.T
    for b in range(t.shape[0]):
        words, patches = wm[b], pm[b]
        expect_a = torch.zeros(t.shape[1], v.shape[1])
        expect_f = torch.zeros(8)
        if words.any() and patches.any():
            tb, vb = t[b, words], v[b, patches]  # valid words / patches
            s = torch.einsum("ld,pd->lp", tb @ wq, vb @ wk) / math.sqrt(8)
            a_sub = NORMALISERS[name](s)
            expect_a[words.nonzero()[:, 0][:, None], patches.nonzero()[:, 0]] = a_sub
            expect_f = torch.einsum("lp,pd->d", a_sub, vb @ wv)  # sum_i sum_j A_ij v_j W_V
        torch.testing.assert_close(a[b], expect_a, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(f_micro[b], expect_f, atol=1e-5, rtol=1e-5)
    assert (f_micro[2] == 0).all() and (a[2] == 0).all()  # no image -> nothing


def test_default_is_sparsemax_and_gives_exact_zeros():
    torch.manual_seed(1)
    t, v, wm, pm = inputs(seed=1)
    dsca = DSCA(8)
    assert dsca.attn.__name__ == "sparsemax"
    _, a = dsca(3 * t, 3 * v, wm, pm)
    valid = wm[:, :, None] & pm[:, None, :]
    assert (a[valid] == 0).any()
    torch.testing.assert_close(
        a.sum(-1)[wm & pm.any(-1, keepdim=True)],
        torch.ones(int((wm & pm.any(-1, keepdim=True)).sum())),
    )


def test_unknown_attention_fails_at_construction():
    with pytest.raises(ValueError, match="valid names"):
        DSCA(8, attention="relu")


@pytest.mark.parametrize("name", sorted(NORMALISERS))
def test_multi_head_dsca_is_the_formula_per_head(name):
    """heads=H: head h uses columns h*d/H.. of W_Q, W_K and h*D/H.. of W_V; F_micro is the
    concatenation of the heads' sum_i sum_j A^h_ij v_j W_V^h; the map is the heads' mean."""
    torch.manual_seed(2)
    t, v, wm, pm = inputs(seed=2)
    h, d = 2, 8
    dsca = DSCA(d, attention=name, heads=h)
    f_micro, a = dsca(t, v, wm, pm)
    wq, wk, wv = dsca.w_q.weight.T, dsca.w_k.weight.T, dsca.w_v.weight.T
    e = d // h
    for b in range(t.shape[0]):
        words, patches = wm[b], pm[b]
        expect_a = torch.zeros(t.shape[1], v.shape[1])
        expect_f = torch.zeros(d)
        if words.any() and patches.any():
            tb, vb = t[b, words], v[b, patches]
            rows, cols = words.nonzero()[:, 0][:, None], patches.nonzero()[:, 0]
            for k in range(h):
                cut = slice(k * e, (k + 1) * e)
                s = (tb @ wq[:, cut]) @ (vb @ wk[:, cut]).T / math.sqrt(e)
                a_sub = NORMALISERS[name](s)
                expect_a[rows, cols] += a_sub / h
                expect_f[cut] = torch.einsum("lp,pd->d", a_sub, vb @ wv[:, cut])
        torch.testing.assert_close(a[b], expect_a, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(f_micro[b], expect_f, atol=1e-5, rtol=1e-5)


def test_heads_must_divide_the_widths():
    with pytest.raises(ValueError, match="heads=3"):
        DSCA(8, heads=3)
    with pytest.raises(ValueError, match="heads=0"):
        DSCA(8, heads=0)
