"""The dual encoder: each arm's geometry, the clamps, the BAI terms, the similarity."""

import pytest
import torch

from hmgray.errors import ConfigError
from hmgray.families.retrieval.config import ARMS, RetrievalConfig, stages
from hmgray.families.retrieval.model import RetrievalModel, similarity
from hmgray.nn.hyperbolic import lorentz

CONTEXT = {"image_size": [16, 16]}


def _batch(b=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(1, 4096, (b, 10), generator=g)
    tokens[:, 7:] = 0
    return {"image": torch.randint(0, 256, (b, 16, 16, 3), generator=g, dtype=torch.uint8),
            "tokens": tokens}  # fmt: skip


def _model(arm, **kw):
    torch.manual_seed(0)
    cfg = RetrievalConfig(arm=arm, embed_dim=16, layers=1, heads=2, max_words=10, **kw)
    return RetrievalModel(cfg, CONTEXT)


def test_the_ladder_switches_one_stage_per_arm():
    assert [len(stages(a)) for a in ARMS] == [0, 1, 2, 3, 4]
    assert stages("sms") == {"hrl", "ent", "bai", "sms"} and stages("meru") == {"hrl", "ent"}
    with pytest.raises(ConfigError, match="unknown arm"):
        RetrievalConfig(arm="gahr")
    with pytest.raises(ConfigError, match="multiple of heads"):
        RetrievalConfig(embed_dim=10, heads=4)


def test_clip_features_are_unit_vectors_and_the_similarity_is_cosine():
    out = _model("clip")(_batch())
    assert torch.allclose(out["image"].norm(dim=-1), torch.ones(6), atol=1e-5)
    assert "c" not in out
    sim = similarity(out["text"], out["image"], None)
    assert torch.allclose(sim, out["text"] @ out["image"].T)


def test_hyperbolic_features_lie_on_the_hyperboloid_and_start_small():
    model = _model("hrl", c=2.0)
    out = model(_batch())
    c = out["c"].detach()
    assert float(c) == pytest.approx(2.0)
    x = out["image"].double()
    assert torch.allclose(
        lorentz.inner(x, x, c.double()), torch.full((6,), -0.5, dtype=torch.float64), atol=1e-5
    )
    # alpha = log(D^-1/2): the scaled features start near unit norm, not sqrt(D) times it
    assert float(lorentz.log_map0(out["image"], c).norm(dim=-1).max()) < 3.0
    sim = similarity(out["text"], out["image"], c)
    assert torch.allclose(sim, -lorentz.pairwise_distance(out["text"], out["image"], c))


def test_clamps_hold_without_freezing_the_parameters():
    model = _model("hrl", c=1.0)
    with torch.no_grad():
        model.log_scale.fill_(10.0)  # exp(10) >> 100
        model.alpha_v.fill_(1.0)
        model.curvature.theta.fill_(5.0)
    out = model(_batch())
    assert float(out["logit_scale"]) == pytest.approx(100.0)
    assert float(model.alpha_v) == 0.0 and float(out["c"]) == pytest.approx(10.0)
    (out["logit_scale"] * out["c"]).backward()
    assert model.log_scale.grad is not None and model.curvature.theta.grad is not None


def test_fixed_curvature_is_not_trained():
    model = _model("meru", learn_c=False, c=0.5)
    assert not model.curvature.theta.requires_grad
    assert float(model(_batch())["c"]) == pytest.approx(0.5)


def test_bai_terms_only_in_training_and_only_for_bai_arms():
    model = _model("bai")
    out = model(_batch())
    assert {"bai_text", "bai_image"} <= set(out)
    model.eval()
    assert "bai_text" not in model(_batch())
    assert "bai_text" not in _model("meru")(_batch())


def test_text_padding_does_not_change_the_caption():
    model = _model("sms").eval()
    b = _batch()  # 7 words, 3 padding
    unpadded = {**b, "tokens": b["tokens"][:, :7]}
    assert torch.allclose(model(b)["text"], model(unpadded)["text"], atol=1e-5)
