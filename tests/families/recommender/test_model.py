"""The recommender model: ranking, masking, negatives, missing images, the seed size."""

import dataclasses

import numpy as np
import pytest
import torch

from hmgray.families.recommender.config import SIZES, RecConfig
from hmgray.families.recommender.model import MultimodalRecommender, image_drop_mask
from hmgray.families.recommender.task import bpr_loss

SMALL = {**SIZES["cpu"], "dropout": 0.0}


def _model(ctx, arm="fusion_fm", **kw):
    torch.manual_seed(0)
    return MultimodalRecommender(RecConfig(arm=arm, **{**SMALL, **kw}), ctx)


def _users(ctx, n=6):
    offsets = np.asarray(ctx["hist_offsets"])
    return torch.as_tensor(np.flatnonzero(np.diff(offsets) > 0)[:n])


@pytest.mark.parametrize("arm", ["fusion_fm", "concat", "text"])
def test_full_ranking_equals_scoring_each_pair(rec_data, arm):
    _, _, ctx = rec_data
    model = _model(ctx, arm).eval()
    users = _users(ctx, 3)
    with torch.no_grad():
        full = model.scores(users)
        every = torch.arange(model.n_items)
        raw = model._raw_items(every)
        for b, u in enumerate(users):
            uu, items = model._vectors(
                raw, every, every, u.repeat(model.n_items), model.item_has_image
            )
            torch.testing.assert_close(full[b], model._score_pairs(uu, items), rtol=1e-4, atol=1e-4)


def test_seen_items_are_masked_and_the_held_out_item_is_not(rec_data):
    _, _, ctx = rec_data
    model = _model(ctx).eval()
    users = _users(ctx, 4)
    offsets, hist = np.asarray(ctx["hist_offsets"]), np.asarray(ctx["hist_items"])
    target = torch.as_tensor([int(hist[offsets[u]]) for u in users])  # a training item
    also = torch.full((4, 4), -1)
    also[0, 0] = (int(target[0]) + 1) % model.n_items
    with torch.no_grad():
        out = model({"user": users, "item": target, "also_seen": also})
    scores = out["scores"]
    for b, u in enumerate(users.tolist()):
        seen = set(hist[offsets[u] : offsets[u + 1]].tolist()) - {int(target[b])}
        if b == 0:
            seen.add(int(also[0, 0]))
        inf = set(torch.nonzero(torch.isinf(scores[b])).flatten().tolist())
        assert inf == seen
        assert torch.isfinite(scores[b, target[b]])


def test_negatives_are_never_training_items(rec_data):
    _, _, ctx = rec_data
    model = _model(ctx)
    users = torch.as_tensor(np.repeat(np.arange(ctx["num_users"]), 20))
    neg = model.sample_negatives(users)
    assert not model.seen(users, neg).any()
    offsets, hist = np.asarray(ctx["hist_offsets"]), np.asarray(ctx["hist_items"])
    u = int(users[0])
    assert set(hist[offsets[u] : offsets[u + 1]].tolist()).isdisjoint(neg[:20].tolist())


def test_bpr_output_trains(rec_data):
    _, _, ctx = rec_data
    model = _model(ctx).train()
    users = _users(ctx)
    out = model({"user": users, "item": torch.as_tensor(np.asarray(ctx["hist_items"])[:6])})
    loss = bpr_loss(out, 1e-4)
    manual = -torch.log(torch.sigmoid(out["pos"] - out["neg"])).mean() + 1e-4 * out["reg"]
    torch.testing.assert_close(loss, manual)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_mean_imputation_fills_missing_images_with_the_mean_feature(rec_data):
    _, _, ctx = rec_data
    model = _model(ctx, "fusion", missing_image="mean").eval()
    feats = torch.randn(5, 3)
    ok = torch.tensor([True, False, True, True, False])
    filled, present = model._image_rows(feats, ok)
    torch.testing.assert_close(filled[1], feats[ok].mean(0))
    torch.testing.assert_close(filled[~ok][1], feats[ok].mean(0))
    assert present.all()
    masked = dataclasses.replace(model.cfg, missing_image="mask")
    model.cfg = masked
    zeroed, present = model._image_rows(feats, ok)
    assert torch.all(zeroed[~ok] == 0) and torch.equal(present, ok)


def test_removed_images_are_nested_paired_and_change_only_image_arms(rec_data):
    _, _, ctx = rec_data
    has = np.asarray(ctx["item_has_image"])
    d25, d50 = image_drop_mask(has, 0.25), image_drop_mask(has, 0.5)
    assert not d50[~has].any() and np.all(d50[d25])  # only images that exist; nested
    assert d25.sum() == round(0.25 * has.sum()) and d50.sum() == round(0.5 * has.sum())
    users = _users(ctx, 3)
    batch = {"user": users, "item": torch.zeros(3, dtype=torch.long)}
    with torch.no_grad():
        for arm, changes in (("fusion", True), ("graph", False)):
            out = _model(ctx, arm).eval()(batch)
            torch.testing.assert_close(out["rescore"](0.0), out["scores"])
            assert (not torch.equal(out["rescore"](0.5), out["scores"])) == changes


def test_item_features_are_cached_within_an_evaluation_only(rec_data):
    _, _, ctx = rec_data
    model = _model(ctx).eval()
    users = _users(ctx, 2)
    with torch.no_grad():
        first = model.scores(users)
        assert model._cache is not None
        model.train()
        assert model._cache is None
        with torch.no_grad():
            for p in model.proj.parameters():
                p.add_(0.5)
        model.eval()
        assert not torch.allclose(model.scores(users), first)


def test_the_write_ups_size_builds_and_takes_an_optimiser_step(rec_data):
    _, _, ctx = rec_data
    cfg = RecConfig()  # the defaults are the write-up's: 768, 2048, 128, 128, 64
    assert (cfg.text_dim, cfg.graph_dim, cfg.d, cfg.fm_k) == (768, 128, 128, 64)
    torch.manual_seed(0)
    model = MultimodalRecommender(cfg, ctx).train()
    assert model.image.out_dim == 2048 and model.graph.emb.embedding_dim == 128
    assert model.fm.v.shape == (2 * 128, 64)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    users = _users(ctx, 2)
    batch = {"user": users, "item": torch.as_tensor(np.asarray(ctx["hist_items"])[:2])}
    before = model.fm.v.detach().clone()
    loss = bpr_loss(model(batch), cfg.reg_lambda)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss) and not torch.equal(model.fm.v, before)
