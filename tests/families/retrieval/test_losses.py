"""The retrieval losses against their formulas, written again term by term."""

import math

import pytest
import torch

from hmgray.families.retrieval.layers.bai import BidirectionalAttention
from hmgray.families.retrieval.losses import (
    bai_text_loss,
    entailment_loss,
    identity_targets,
    margin_contrastive,
    retrieval_loss,
)
from hmgray.nn.hyperbolic import lorentz


def _feats(b=6, d=5, seed=0, hyperbolic=True):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, d, generator=g, dtype=torch.float64) * 0.5
    return lorentz.exp_map0(x, 1.3) if hyperbolic else torch.nn.functional.normalize(x, dim=-1)


def _sms_by_hand(img, txt, ids, scale, c, lam):
    """p_ij = exp(S_ij / tau) / sum_k exp((S_ik + lam D_ik) / tau), both directions."""
    S = lambda a, b: -float(lorentz.distance(a, b, c))  # noqa: E731
    q = identity_targets(ids).double()
    b = len(ids)
    total = 0.0
    for anchor, other in ((img, txt), (txt, img)):
        for i in range(b):
            den = sum(
                math.exp(
                    scale
                    * (
                        S(anchor[i], other[k])
                        + lam * (S(anchor[i], anchor[i]) - S(anchor[i], anchor[k]))
                    )
                )
                for k in range(b)
            )
            for j in range(b):
                if q[i, j] > 0:
                    total -= (
                        float(q[i, j])
                        * math.log(math.exp(scale * S(anchor[i], other[j])) / den)
                        / b
                    )
    return total / 2


@pytest.mark.parametrize("lam", [0.0, 0.3])
def test_semantic_margin_softmax_matches_the_formula(lam):
    img, txt = _feats(seed=1), _feats(seed=2)
    ids = torch.tensor([0, 0, 1, 2, 2, 3])  # two identities with two pairs each
    c, scale = torch.tensor(1.3, dtype=torch.float64), torch.tensor(4.0, dtype=torch.float64)
    got = margin_contrastive(img, txt, identity_targets(ids).double(), scale, c, lam)
    # (the hand version's d(x, x) is clamped elementwise, ~1e-8 off the pairwise one)
    assert float(got) == pytest.approx(_sms_by_hand(img, txt, ids, 4.0, c, lam), rel=1e-7)


def test_plain_infonce_is_cross_entropy_for_distinct_identities():
    img, txt = _feats(seed=3, hyperbolic=False), _feats(seed=4, hyperbolic=False)
    ids = torch.arange(6)
    got = margin_contrastive(img, txt, identity_targets(ids).double(), torch.tensor(10.0), None)
    logits = 10.0 * img @ txt.T
    ref = (
        torch.nn.functional.cross_entropy(logits, ids)
        + torch.nn.functional.cross_entropy(logits.T, ids)
    ) / 2
    assert float(got) == pytest.approx(float(ref), rel=1e-9)


def test_the_margin_carries_no_gradient():
    img, txt = _feats(seed=5).requires_grad_(), _feats(seed=6).requires_grad_()
    ids, c, scale = torch.arange(6), torch.tensor(1.3, dtype=torch.float64), torch.tensor(3.0)
    margin_contrastive(img, txt, identity_targets(ids).double(), scale, c, 0.4).backward()
    got = img.grad.clone()
    # by hand: the margin as a constant
    img2 = img.detach().clone().requires_grad_()
    s_vt = -lorentz.pairwise_distance(img2, txt.detach(), c)
    s_vv = -lorentz.pairwise_distance(img.detach(), img.detach(), c)
    d_v = s_vv.diagonal()[:, None] - s_vv
    s_tt = -lorentz.pairwise_distance(txt.detach(), txt.detach(), c)
    d_t = s_tt.diagonal()[:, None] - s_tt
    l1 = -(3.0 * s_vt.diagonal() - torch.logsumexp(3.0 * (s_vt + 0.4 * d_v), 1)).mean()
    l2 = -(3.0 * s_vt.T.diagonal() - torch.logsumexp(3.0 * (s_vt.T + 0.4 * d_t), 1)).mean()
    ((l1 + l2) / 2).backward()
    assert torch.allclose(got, img2.grad, atol=1e-10)


def test_entailment_is_zero_inside_the_cone_and_positive_outside():
    c = torch.tensor(1.0, dtype=torch.float64)
    text = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)
    inside = entailment_loss(text, 3 * text, c)  # further out along the text's own ray
    outside = entailment_loss(text, -text, c)  # on the other side of the origin
    assert float(inside) == 0.0 and float(outside) > 1.0
    # a generic text near the origin has a wide cone: it holds an image 45 degrees off its
    # ray, which lies outside the narrow cone of a specific text far out on the same ray
    image = 0.5 * torch.tensor([[1.0, 0.0, 1.0]], dtype=torch.float64) / math.sqrt(2)
    assert float(entailment_loss(0.01 * text, image, c)) == 0.0
    assert float(entailment_loss(3.0 * text, image, c)) > 0.5


def test_bai_attention_is_sigmoid_weighted_and_ignores_padding():
    torch.manual_seed(0)
    bai = BidirectionalAttention(4).double()
    img = torch.randn(2, 3, 4, dtype=torch.float64)
    txt = torch.randn(2, 5, 4, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    c_v, c_t = bai(img, txt, mask)
    # c^{v_n} = sum_m sigma(Q_v f^{v_n} . K_t f^{t_m} / sqrt(D)) V_t f^{t_m}, real words only
    b, n = 0, 1
    ref = sum(
        torch.sigmoid(bai.q_v(img[b, n]) @ bai.k_t(txt[b, m]) / 2.0) * bai.v_t(txt[b, m])
        for m in range(3)
    )
    assert torch.allclose(c_v[b, n], ref)
    ref_t = sum(
        torch.sigmoid(bai.q_t(txt[b, 2]) @ bai.k_v(img[b, k]) / 2.0) * bai.v_v(img[b, k])
        for k in range(3)
    )
    assert torch.allclose(c_t[b, 2], ref_t)
    txt2 = txt.clone()
    txt2[0, 3:] = 100.0  # what padding holds changes nothing
    assert torch.allclose(bai(img, txt2, mask)[0][0], c_v[0])


def test_word_infonce_uses_only_real_words():
    torch.manual_seed(1)
    words, ctx = torch.randn(2, 4, 3), torch.randn(2, 4, 3)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 0]], dtype=torch.bool)
    got = bai_text_loss(words, ctx, mask, torch.tensor(5.0))
    w = torch.nn.functional.normalize(words[mask], dim=-1)
    k = torch.nn.functional.normalize(ctx[mask], dim=-1)
    labels = torch.arange(5)
    ref = (
        torch.nn.functional.cross_entropy(5 * w @ k.T, labels)
        + torch.nn.functional.cross_entropy(5 * k @ w.T, labels)
    ) / 2
    assert float(got) == pytest.approx(float(ref), rel=1e-6)
    words[0, 2:] = 50.0
    assert float(bai_text_loss(words, ctx, mask, torch.tensor(5.0))) == pytest.approx(float(got))


def test_retrieval_loss_switches_terms_by_stage():
    img, txt = _feats(seed=7).float(), _feats(seed=8).float()
    out = {"image": img, "text": txt, "logit_scale": torch.tensor(5.0), "c": torch.tensor(1.3),
           "bai_text": torch.tensor(2.0), "bai_image": torch.tensor(-0.5)}  # fmt: skip
    ids = torch.arange(6)
    hrl = retrieval_loss(out, ids, {"hrl"}, 0.2, 0.1, 0.3)
    meru = retrieval_loss(out, ids, {"hrl", "ent"}, 0.2, 0.1, 0.3)
    bai = retrieval_loss(out, ids, {"hrl", "ent", "bai"}, 0.2, 0.1, 0.3)
    sms = retrieval_loss(out, ids, {"hrl", "ent", "bai", "sms"}, 0.2, 0.1, 0.3)
    assert set(hrl) == {"contrastive", "total"}  # the margin only with sms
    assert float(meru["total"]) == pytest.approx(float(hrl["total"] + 0.2 * meru["entailment"]))
    assert float(bai["total"]) == pytest.approx(float(meru["total"]) + 0.1 * 1.5)
    assert float(sms["contrastive"]) != pytest.approx(float(bai["contrastive"]))
