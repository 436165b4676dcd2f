"""HypGCD's losses against hand-worked values, the reference geometry (geoopt) and the
properties the write-up states; and the rule that no unlabelled image's label is read."""

import math

import geoopt
import pytest
import torch
import torch.nn.functional as F

from hmgray.families.gcd.config import GcdConfig
from hmgray.families.gcd.losses import (
    _hard_gumbel,
    _triplets,
    distill_loss,
    gcd_loss,
    hyperbolic_class_loss,
    info_nce,
    local_hierarchy_loss,
    me_max,
    supcon,
    to_ball,
)
from hmgray.nn.hyperbolic import poincare


def _batch(b=8, k=6, d=16, v=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = {
        "logits": torch.randn(v * b, k, generator=g).tanh(),
        "proj": torch.randn(v * b, d, generator=g),
        "views": v,
    }
    batch = {
        "label": torch.randint(0, k, (b,), generator=g),
        "labelled": torch.tensor([True, False] * (b // 2)),
    }
    return out, batch


@pytest.mark.parametrize("arm", ["euclidean", "hcl", "lhl"])
def test_labels_of_unlabelled_images_are_never_read(arm):
    out, batch = _batch()
    cfg = GcdConfig(arm=arm, topk=4, triplets=5)
    torch.manual_seed(1)
    a = gcd_loss(out, batch, cfg)
    shuffled = dict(batch, label=batch["label"].clone())
    unl = ~batch["labelled"]
    shuffled["label"][unl] = (batch["label"][unl] + 3) % 6  # every hidden label changed
    torch.manual_seed(1)
    b = gcd_loss(out, shuffled, cfg)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    changed = dict(batch, label=batch["label"].clone())
    changed["label"][batch["labelled"]] = (batch["label"][batch["labelled"]] + 1) % 6
    torch.manual_seed(1)
    assert not torch.equal(gcd_loss(out, changed, cfg)["cls_s"], a["cls_s"])  # labels do count


def test_arms_switch_terms_and_weights():
    out, batch = _batch()
    torch.manual_seed(0)
    euc = gcd_loss(out, batch, GcdConfig(arm="euclidean"))
    assert set(euc) == {"cls_s", "fea_s", "cls_u", "fea_u", "total"}
    lam = 0.35
    assert euc["total"].item() == pytest.approx(
        (lam * (euc["fea_s"] + euc["cls_s"]) + (1 - lam) * (euc["fea_u"] + euc["cls_u"])).item()
    )
    torch.manual_seed(0)
    full = gcd_loss(out, batch, GcdConfig(arm="lhl", alpha=0.3, beta=2.0, topk=4, triplets=5))
    assert full["total"].item() == pytest.approx(
        (euc["total"] + 0.3 * full["hcl"] + 2.0 * full["lhl"]).item(), rel=1e-6
    )
    assert "lhl" not in gcd_loss(out, batch, GcdConfig(arm="hcl"))


def test_one_clean_view_gives_finite_losses():
    out, batch = _batch(v=1)
    torch.manual_seed(0)
    terms = gcd_loss(out, batch, GcdConfig(arm="lhl", topk=4, triplets=5))
    assert all(torch.isfinite(t) for t in terms.values())


def test_info_nce_by_hand_and_supcon_with_unique_labels_is_simclr():
    z = F.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6], [0.6, 0.8]]), dim=-1)
    # rows: view1 of images 0, 1; view2 of images 0, 1; positives: 0<->2, 1<->3
    sim = z @ z.T / 0.5
    expected = 0.0
    for i, p in enumerate((2, 3, 0, 1)):
        others = [j for j in range(4) if j != i]
        expected += -(sim[i, p] - torch.logsumexp(sim[i, others], 0))
    assert info_nce(z, 2, 0.5).item() == pytest.approx(expected.item() / 4, rel=1e-6)
    proj = torch.randn(10, 5)
    assert supcon(proj, torch.arange(5), 2, 0.3).item() == pytest.approx(
        info_nce(proj, 2, 0.3).item(), rel=1e-5
    )
    # same labels are positives too: two images of one class pull together
    y = torch.tensor([0, 0, 1, 1, 2])
    assert supcon(proj, y, 2, 0.3).item() != pytest.approx(
        supcon(proj, torch.arange(5), 2, 0.3).item()
    )


def test_distillation_and_mean_entropy_by_hand():
    logits = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # view 1 row, view 2 row (B = 1)
    t = F.softmax(logits / 0.5, -1)
    s = F.log_softmax(logits / 0.1, -1)
    expected = ((-t[0] * s[1]).sum() + (-t[1] * s[0]).sum()) / 2
    assert distill_loss(logits, 2, 0.1, 0.5).item() == pytest.approx(expected.item())
    assert me_max(torch.zeros(4, 3), 0.1).item() == pytest.approx(0.0, abs=1e-6)  # uniform
    assert me_max(torch.tensor([[9.0, 0.0, 0.0]] * 4), 0.1).item() == pytest.approx(
        math.log(3), abs=1e-3
    )  # collapsed onto one cluster: the largest penalty


def test_hyperbolic_class_loss_by_hand_with_geoopt_distances():
    c, tau, eps = 0.5, 0.7, 0.1
    z = to_ball(torch.tensor([[0.5, 0.1], [0.6, -0.1], [-0.4, 0.3], [0.1, 0.9]]), c, 2.3)
    classes = torch.tensor([3, 3, 7, 9])  # class 3 twice; ids need not be contiguous
    ball = geoopt.PoincareBall(c=c)
    centres = [ball.weighted_midpoint(z[:2]), z[2], z[3]]  # a single sample is its own mean
    d = torch.stack([torch.stack([ball.dist(zi, m) for m in centres]) for zi in z])
    target = torch.full((4, 3), eps / 2)
    for i, k in enumerate((0, 0, 1, 2)):
        target[i, k] = 1 - eps
    expected = (-target * F.log_softmax(-d / tau, -1)).sum(-1).mean()
    got = hyperbolic_class_loss(z, classes, c, tau, eps)
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)
    # tighter classes (each point at its class mean) score lower
    tight = torch.cat([z[:1], z[:1], z[2:]])
    assert hyperbolic_class_loss(tight, classes, c, tau, eps) < got


def test_reciprocal_triplets_on_two_clusters():
    # two tight clusters of 4: with topk 4 (self + 3) the reciprocal neighbours of a point
    # are exactly its 3 cluster mates; everything else is a negative
    x = torch.cat([torch.randn(4, 3) * 0.01, torch.randn(4, 3) * 0.01 + 1.0])
    dist = torch.cdist(x, x)
    classes = torch.tensor([0] * 4 + [1] * 4)
    i, j, k = _triplets(dist, classes, topk=4, per_anchor=20)
    cluster = torch.arange(8) // 4
    assert len(i) == 8 * 20
    assert (cluster[i] == cluster[j]).all() and (i != j).all()
    assert (cluster[i] != cluster[k]).all()


def test_hard_gumbel_draws_from_the_softmax():
    torch.manual_seed(0)
    logits = torch.tensor([0.0, 1.0, 2.0]).expand(40000, 3)
    y = _hard_gumbel(logits)
    assert torch.equal(y.detach().sum(-1), torch.ones(40000))  # one-hot forward
    freq = y.detach().mean(0)
    assert torch.allclose(freq, F.softmax(logits[0], -1), atol=0.01)


def test_local_hierarchy_loss_on_the_ball_and_its_margin():
    torch.manual_seed(0)
    proj = torch.randn(32, 8, requires_grad=True)
    z = to_ball(proj, 0.1, 2.3)
    classes = torch.randint(0, 4, (32,))
    torch.manual_seed(5)
    small = local_hierarchy_loss(z, classes, 0.1, 0.01, 8, 10, 0.1)
    torch.manual_seed(5)
    large = local_hierarchy_loss(z, classes, 0.1, 1.0, 8, 10, 0.1)
    assert 0 <= small.item() < large.item()  # same triplets and ancestors, larger margin
    large.backward()
    assert torch.isfinite(proj.grad).all() and proj.grad.abs().sum() > 0
    # the distances it uses are the ball's (the write-up), not the raw projection's
    assert (poincare.pairwise_distance(z, z, 0.1) < 2 * 2.3 * 2 + 1e-3).all()
