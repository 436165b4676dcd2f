"""HMG-Net: every arm trains, uses exactly its stages, and the heads obey their formulas."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from hmgray.families.valuation.model import ARMS, DepreciationHead, DirectHead, HMGNet, HMGNetConfig
from hmgray.families.valuation.task import loss
from tests.fakes import fake_batch, fake_market

SMALL = {"d_model": 16, "text_heads": 2, "vocab_size": 100, "max_words": 32, "max_regions": 4}
STAGE_MODULES = {"dsca": "micro", "structural": "meso", "market_gnn": "market"}
ARM_ACTIVE = {
    "global": set(),
    "micro": {"micro"},
    "meso": {"micro", "meso"},
    "full": {"micro", "meso", "market"},
}


def make(arm="full", seed=0, **kw):
    torch.manual_seed(seed)
    cfg = HMGNetConfig(arm=arm, **{**SMALL, **kw})
    return HMGNet(cfg, fake_market()), cfg


@pytest.fixture(scope="module")
def batch():
    return fake_batch(4, market=fake_market(), vocab_size=100)


@pytest.mark.parametrize("arm", ARMS)
def test_forward_backward_each_arm_uses_exactly_its_stages(arm, batch):
    net, cfg = make(arm)
    out = net(batch)
    assert out["price"].shape == (4,) and torch.isfinite(out["price"]).all()
    loss(out, batch, cfg.price_scale).backward()
    names = dict(net.named_parameters())
    for name, p in names.items():  # every built parameter is used and finite
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    for module, stage in STAGE_MODULES.items():
        built = any(n.startswith(module + ".") for n in names)
        assert built == (stage in ARM_ACTIVE[arm]), (arm, module)
    assert (out["attention"] is None) == ("micro" not in ARM_ACTIVE[arm])
    assert (out["delta"] is None) == (arm != "full")
    if out["attention"] is not None:
        assert out["attention"].shape == (4, 32, 36)


def test_attention_rows(batch):
    net, _ = make("micro")
    a = net.eval()(batch)["attention"]
    word = batch["tokens"] > 0
    has_img = batch["has_image"] > 0
    sums = a.sum(-1)  # (B, L)
    rows = word & has_img[:, None]
    torch.testing.assert_close(sums[rows], torch.ones(int(rows.sum())))
    assert (sums[~rows] == 0).all()  # padding words, missing image


def test_depreciation_formula_and_bounds(batch):
    net, _ = make("full")
    out = net.eval()(batch)
    delta, price = out["delta"], out["price"]
    assert ((delta >= 0) & (delta <= 1)).all()
    torch.testing.assert_close(price, batch["msrp"] * (1 - delta))  # P_anchor = MSRP
    assert ((price >= 0) & (price <= batch["msrp"])).all()


@pytest.mark.parametrize("scale", [1e4, -1e4, 1e8, -1e8])
def test_depreciation_head_bounds_for_extreme_inputs(scale):
    torch.manual_seed(0)
    head = DepreciationHead(8, gamma=3.0, price_scale=1000.0, market=True)
    e_entity, e_market = scale * torch.randn(64, 8), scale * torch.randn(64, 8)
    msrp = torch.tensor([1e-3, 1.0, 1e3, 1e7]).repeat(16)
    price, delta = head(e_entity, e_market, msrp)
    assert torch.isfinite(delta).all() and ((delta >= 0) & (delta <= 1)).all()
    assert ((price >= 0) & (price <= msrp)).all()


def test_direct_head_is_nonnegative_and_uses_msrp():
    torch.manual_seed(0)
    head = DirectHead(8, gamma=1.0, price_scale=1000.0, market=False)
    e = 1e4 * torch.randn(16, 8)
    price, delta = head(e, None, torch.full((16,), 500.0))
    assert delta is None and (price >= 0).all() and torch.isfinite(price).all()
    p1, _ = head(e[:2] / 1e4, None, torch.tensor([100.0, 100.0]))
    p2, _ = head(e[:2] / 1e4, None, torch.tensor([2000.0, 2000.0]))
    assert not torch.allclose(p1, p2)


def test_gamma_weights_the_market_term(batch):
    """logit(delta) = f_entity(E_entity) + gamma * f_market(E_market), so moving gamma from 0
    to 2 shifts the logit by exactly 2 * f_market(E_market)."""
    net0, _ = make("full", gamma=0.0)
    net2, _ = make("full", gamma=2.0)
    net2.load_state_dict(net0.state_dict())
    net0.eval(), net2.eval()
    d0, d2 = net0(batch)["delta"], net2(batch)["delta"]
    with torch.no_grad():
        e_market = net0.market_gnn(batch["location_id"], batch["period"], batch["item_model_id"])
        f_market = net0.head.f_market(e_market).squeeze(-1)
    torch.testing.assert_close(
        torch.logit(d2.double()) - torch.logit(d0.double()),
        2 * f_market.double(),
        atol=1e-4,
        rtol=1e-4,
    )
    moved = dict(batch, location_id=(batch["location_id"] + 1) % 3)
    torch.testing.assert_close(net0(moved)["price"], net0(batch)["price"])  # gamma = 0: no market


def test_head_and_market_switches_are_independent_of_arm(batch):
    net, _ = make("meso", head="depreciation")
    assert net.market_gnn is None and net(batch)["delta"] is not None
    net, _ = make("full", head="direct")
    assert net.market_gnn is not None and net(batch)["delta"] is None
    net, _ = make("full", market="off")
    assert net.market_gnn is None and net.head.f_market is None
    assert net(batch)["delta"] is not None
    net, _ = make("global", market="on")
    assert net.market_gnn is not None and net.dsca is None
    with pytest.raises(ValueError, match="market"):
        HMGNet(HMGNetConfig(arm="full", **SMALL), None)
    assert HMGNet(HMGNetConfig(arm="meso", **SMALL), None) is not None  # market not needed


def test_listing_prediction_independent_of_batch(batch):
    net, _ = make("full")
    net.eval()
    out = net(batch)
    perm = torch.tensor([2, 0, 3, 1])
    out_p = net({k: v[perm] for k, v in batch.items()})
    torch.testing.assert_close(out_p["price"], out["price"][perm], atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(out_p["attention"], out["attention"][perm])


def test_feature_blocks_are_normalised_separately(batch):
    """F_micro is a sum over words (its scale grows with the word count); each feature
    block has its own LayerNorm, so rescaling F_micro (W_V * 10, F_micro is linear in W_V)
    leaves the prediction unchanged, and g_img / g_txt are not shrunk by it."""
    net, _ = make("micro")
    net.eval()
    with torch.no_grad():
        p0 = net(batch)["price"]
        net.dsca.w_v.weight.mul_(10.0)
        p1 = net(batch)["price"]
    torch.testing.assert_close(p1, p0, rtol=1e-4, atol=1e-3)


def test_too_many_words_rejected():
    net, _ = make("global", max_words=16)
    with pytest.raises(ValueError, match="max_words"):
        net(fake_batch(2, max_words=32, vocab_size=100))


# ------------------------------------------------------------------ config


@pytest.mark.parametrize(
    "field,value,needle",
    [
        ("arm", "mega", "global"),
        ("attention", "relu", "sparsemax"),
        ("head", "linear", "depreciation"),
        ("market", "yes", "auto"),
        ("d_model", 0, ">= 1"),
        ("image_size", (48, 50), "divisible by patch_size=8"),
        ("image_size", (48, 48, 3), "(H, W)"),
        ("text_heads", 5, "d_model"),
        ("dropout", 1.0, "[0, 1)"),
        ("gamma", -1.0, ">= 0"),
        ("gamma", float("nan"), "finite"),
        ("price_scale", 0.0, "> 0"),
        ("vocab_size", 1, ">= 2"),
    ],
)
def test_config_validation_names_field(field, value, needle):
    with pytest.raises(ValueError) as e:
        HMGNetConfig(**{field: value})
    assert f"HMGNetConfig.{field}=" in str(e.value) and needle in str(e.value)


def test_config_dict_round_trip():
    cfg = HMGNetConfig(
        arm="micro", image_size=[32, 64], patch_size=np.int64(8), gamma=np.float32(0.5)
    )
    assert cfg.image_size == (32, 64) and type(cfg.patch_size) is int and type(cfg.gamma) is float
    d = json.loads(json.dumps(cfg.to_dict()))
    assert HMGNetConfig.from_dict(d) == cfg
    assert HMGNetConfig(image_size=48).image_size == (48, 48)
    with pytest.raises(ValueError, match="unknown fields \\['lr'\\]"):
        HMGNetConfig.from_dict({"arm": "full", "lr": 1e-3})
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.arm = "full"


def test_stages_resolution():
    assert HMGNetConfig(arm="global").stages == {
        "micro": False,
        "meso": False,
        "market": False,
        "head": "direct",
    }
    assert HMGNetConfig(arm="full").stages["head"] == "depreciation"
    s = HMGNetConfig(arm="full", head="direct", market="off").stages
    assert s == {"micro": True, "meso": True, "market": False, "head": "direct"}


def test_full_model_bounds_for_extreme_inputs(batch):
    net, _ = make("full")
    extreme = dict(batch, image=batch["image"] * 1e4, msrp=torch.tensor([1e-3, 1.0, 1e4, 1e8]))
    out = net.eval()(extreme)
    assert torch.isfinite(out["price"]).all()
    assert ((out["delta"] >= 0) & (out["delta"] <= 1)).all()
    assert ((out["price"] >= 0) & (out["price"] <= extreme["msrp"])).all()


@pytest.mark.parametrize("arm", ["micro", "full"])
def test_bf16_autocast_keeps_sensitive_parts_float32(arm, batch):
    net, cfg = make(arm)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(batch)
        value = loss(out, batch, cfg.price_scale)
    assert out["price"].dtype == torch.float32 and value.dtype == torch.float32
    assert out["attention"].dtype == torch.float32
    value.backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


@pytest.mark.parametrize("arm", ["meso", "full"])
def test_batch_with_no_word_and_no_region_anywhere(arm):
    """A batch whose only listing has no description and no scene region (e.g. a converted
    listing without image, or the last batch of an epoch) must not crash the graph stages."""
    market = fake_market()
    full = fake_batch(4, max_words=32, market=market)
    one = {k: (v[2:3] if hasattr(v, "shape") else v) for k, v in full.items()}  # listing 2: empty
    assert int((one["tokens"] > 0).sum()) == 0 and int(one["scene_mask"].sum()) == 0
    model = HMGNet(HMGNetConfig(arm=arm, vocab_size=1000), market)
    out = model(one)
    assert torch.isfinite(out["price"]).all()
