"""The MGIPF loss against its formula, the backbones' parts against their definitions."""

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from hmgray.errors import ConfigError
from hmgray.families.ctr.config import ARMS, CtrConfig
from hmgray.families.ctr.model import CtrModel
from hmgray.families.ctr.task import CtrTask, mgipf_loss, sample_weights

CONTEXT = {
    "fields": {"user": 20, "item": 30, "brand": 8, "cate": 5, "pid": 3},
    "coarse": ["brand", "cate"],
    "max_history": 6,
    "tail_share": 0.2,
}


def batch(b=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = {f: torch.randint(1, n, (b,), generator=g) for f, n in CONTEXT["fields"].items()}
    lengths = torch.randint(0, 7, (b,), generator=g)
    pad = torch.arange(6)[None, :] < lengths[:, None]
    out["hist_brand"] = torch.randint(1, 8, (b, 6), generator=g) * pad
    out["hist_cate"] = torch.randint(1, 5, (b, 6), generator=g) * pad
    out["label"] = (torch.rand(b, generator=g) < 0.4).float()
    out["y_brand"] = torch.maximum(out["label"], (torch.rand(b, generator=g) < 0.5).float())
    out["y_cate"] = torch.maximum(out["label"], (torch.rand(b, generator=g) < 0.5).float())
    out["tail"] = torch.rand(b, generator=g) < 0.3
    return out


def test_soft_weights_are_one_wpn_wnn():
    y = torch.tensor([1.0, 1.0, 0.0, 0.0])
    y_c = torch.tensor([1.0, 0.0, 1.0, 0.0])
    assert sample_weights(y, y_c, 0.2, 0.1).tolist() == pytest.approx([1.0, 1.0, 0.2, 0.1])


def bce(z: float, t: float) -> float:
    p = 1 / (1 + math.exp(-z))
    return -(t * math.log(p) + (1 - t) * math.log(1 - p))


def test_mgipf_loss_is_the_written_formula():
    cfg = CtrConfig(arm="din_mgipf", w_coarse=0.7, w_pn=0.3, w_nn=0.05, w_main=0.4, l2=0.0)
    b = batch()
    g = torch.Generator().manual_seed(3)
    out = {"logit": torch.randn(16, generator=g), "z_main": torch.randn(16, generator=g),
           "z_coarse": torch.randn(16, 2, generator=g)}  # fmt: skip
    want = 0.0
    for i in range(16):
        y = float(b["label"][i])
        term = bce(float(out["logit"][i]), y) + 0.4 * bce(float(out["z_main"][i]), y)
        for k, c in enumerate(("brand", "cate")):
            yc = float(b[f"y_{c}"][i])
            w = 1.0 if y == 1 else (0.3 if yc == 1 else 0.05)
            term += 0.7 * w * bce(float(out["z_coarse"][i, k]), yc)
        want += term / 16
    got = mgipf_loss(out, b, cfg, ("brand", "cate"))["total"]
    assert float(got) == pytest.approx(want, rel=1e-5)


def test_fine_arm_loss_is_the_backbone_bce_and_hard_arm_fixes_weights():
    b = batch()
    out = {"logit": torch.randn(16), "z_main": torch.randn(16), "z_coarse": torch.zeros(16, 0)}
    got = mgipf_loss(out, b, CtrConfig(arm="deepfm_fine", l2=0.0), ())["total"]
    assert float(got) == pytest.approx(
        float(F.binary_cross_entropy_with_logits(out["z_main"], b["label"]))
    )
    with pytest.raises(ConfigError, match="w_pn = w_nn = 1"):
        CtrConfig(arm="din_hard", w_pn=0.2, w_nn=1.0)
    assert CtrTask().arm_config("din_hard") == {"arm": "din_hard", "w_pn": 1.0, "w_nn": 1.0}


@pytest.mark.parametrize("arm", ARMS)
def test_every_arm_trains_one_step(arm):
    task = CtrTask()
    cfg = CtrConfig(
        arm=arm, dnn_hidden=(16, 8), att_hidden=(8,), coarse_hidden=(8, 4), max_history=6
    )
    torch.manual_seed(0)
    model = task.build_model(cfg, CONTEXT)
    out = model(batch())
    assert out["logit"].shape == (16,) and out["z_coarse"].shape == (
        16,
        0 if arm.endswith("fine") else 2,
    )
    loss = task.loss(out, batch(), cfg)
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_din_ignores_padding_and_deepfm_fm_is_the_pairwise_sum():
    torch.manual_seed(0)
    cfg = CtrConfig(
        arm="din_fine", embedding_dim=4, dnn_hidden=(8,), att_hidden=(8,), max_history=6
    )
    model = CtrModel(cfg, CONTEXT).eval()
    for t in model.emb.values():
        torch.nn.init.normal_(t.weight)
        t.weight.data[0].zero_()
    b = batch(4)
    for c in ("hist_brand", "hist_cate"):
        b[c][:, 3:] = 0  # at most 3 behaviours, the rest padding
    short = {k: (v[:, :3].clone() if k.startswith("hist_") else v) for k, v in b.items()}
    # the pooled interest is a sum over real behaviours: the padded width does not matter
    assert torch.allclose(model(b)["logit"], model(short)["logit"], atol=1e-6)
    b["hist_brand"][0, 0] = 7  # a real behaviour does
    assert not torch.allclose(model(b)["logit"][0], model(short)["logit"][0])
    v = torch.randn(3, 5, 4)
    fm = 0.5 * (v.sum(1).pow(2) - v.pow(2).sum(1)).sum(1)
    pairs = sum((v[:, i] * v[:, j]).sum(1) for i in range(5) for j in range(i + 1, 5))
    assert torch.allclose(fm, pairs, atol=1e-5)


def test_output_is_a_bias_free_linear_of_the_logits():
    torch.manual_seed(0)
    cfg = CtrConfig(arm="deepfm_mgipf", dnn_hidden=(8,), coarse_hidden=(8, 4))
    model = CtrModel(cfg, CONTEXT)
    assert model.combine.bias is None and model.combine.weight.shape == (1, 3)
    out = model(batch())
    z = torch.cat([out["z_main"][:, None], out["z_coarse"]], 1)
    assert torch.allclose(out["logit"], z @ model.combine.weight[0], atol=1e-6)
    assert np.isfinite(out["logit"].detach().numpy()).all()
