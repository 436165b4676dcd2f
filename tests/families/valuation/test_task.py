"""Valuation task: arms, loss and metrics against hand-computed values."""

import math

import numpy as np
import pytest
import torch

from hmgray.families.valuation.task import (
    ARMS,
    METRICS,
    arm_switches,
    build_model,
    compute_metrics,
    loss,
)
from tests.fakes import fake_batch, fake_market


def test_arms_are_cumulative():
    assert ARMS == ("global", "micro", "meso", "full")
    on = [{k for k, v in arm_switches(a).items() if v is True} for a in ARMS]
    assert on == [set(), {"micro"}, {"micro", "meso"}, {"micro", "meso", "market"}]
    assert [arm_switches(a)["head"] for a in ARMS] == ["direct"] * 3 + ["depreciation"]
    with pytest.raises(ValueError, match="valid arms"):
        arm_switches("huge")
    arm_switches("full")["micro"] = False  # a copy: the table is not mutated
    assert arm_switches("full")["micro"] is True


def test_loss_is_relative_to_msrp():
    out = {"price": torch.tensor([100.0, 200.0])}
    batch = {"price": torch.tensor([110.0, 180.0]), "msrp": torch.tensor([200.0, 1000.0])}
    # ((100 - 110) / 200)^2 = 0.0025, ((200 - 180) / 1000)^2 = 0.0004 -> mean 0.00145
    assert loss(out, batch, price_scale=10.0).item() == pytest.approx(0.00145)
    # the same relative error weighs the same whatever the MSRP
    cheap = loss(
        {"price": torch.tensor([90.0])},
        {"price": torch.tensor([100.0]), "msrp": torch.tensor([150.0])},
        1000.0,
    )
    dear = loss(
        {"price": torch.tensor([720.0])},
        {"price": torch.tensor([800.0]), "msrp": torch.tensor([1200.0])},
        1000.0,
    )
    assert cheap.item() == pytest.approx(dear.item())


def test_loss_falls_back_to_price_scale():
    out = {"price": torch.tensor([100.0, 200.0])}
    # no msrp: ((100 - 110) / 10)^2 = 1, ((200 - 180) / 10)^2 = 4 -> mean 2.5
    assert loss(out, {"price": torch.tensor([110.0, 180.0])}, price_scale=10.0).item() == (
        pytest.approx(2.5)
    )
    # msrp <= 0 rows use price_scale too
    batch = {"price": torch.tensor([110.0, 180.0]), "msrp": torch.tensor([0.0, -1.0])}
    assert loss(out, batch, price_scale=10.0).item() == pytest.approx(2.5)


def test_metrics_by_hand():
    pred = np.array([110.0, 90.0, 50.0, 3.0])
    target = np.array([100.0, 100.0, 50.0, 0.0])
    subtle = np.array([0, 1, 0, 1])
    m = compute_metrics(pred, target, subtle)
    assert m["mse"] == pytest.approx((100 + 100 + 0 + 9) / 4)
    assert m["mae"] == pytest.approx((10 + 10 + 0 + 3) / 4)
    assert m["mape"] == pytest.approx(100 * (0.1 + 0.1 + 0.0) / 3)  # target 0 row skipped
    assert m["mse_subtle"] == pytest.approx((100 + 9) / 2)


def test_metrics_edge_cases():
    m = compute_metrics(np.array([1.0, 2.0]), np.array([1.0, 4.0]), np.zeros(2))
    assert math.isnan(m["mse_subtle"]) and m["mse"] == pytest.approx(2.0)
    assert math.isnan(compute_metrics(np.ones(1), np.zeros(1), np.ones(1))["mape"])
    with pytest.raises(ValueError, match="shape"):
        compute_metrics(np.ones(2), np.ones(3), np.ones(2))


def test_metric_table():
    assert set(METRICS) == {"mse", "mae", "mape", "mse_subtle"}
    assert all(v["direction"] == "min" and v["label"] for v in METRICS.values())


def test_build_model_from_dict():
    market = fake_market()
    net = build_model({"arm": "micro", "d_model": 16, "text_heads": 2, "vocab_size": 100}, market)
    out = net(fake_batch(2, market=market, vocab_size=100))
    assert out["price"].shape == (2,) and out["attention"] is not None
