import numpy as np
import pytest

from hmgray.errors import ConfigError
from hmgray.families.valuation.data.market import build_market, haversine_km

NAMES = ["A", "B", "C", "D"]
COORDS = [[0.0, 0.0], [0.0, 1.0], [0.0, 3.0], [0.0, 10.0]]  # on the equator, spaced in lon


def _market(**kw):
    args = dict(
        location_names=NAMES,
        location_coords=COORDS,
        num_periods=3,
        period_days=30,
        item_models=["x", "y"],
        item_model_msrp=[100.0, 200.0],
        train_item_ids=[1, 0, 1, 1],
        train_location_ids=[2, 0, 2, 3],
        train_periods=[0, 2, 0, 1],
    )
    args.update(kw)
    return build_market(**args)


def test_edges():
    m = _market(k_near=1)
    e = m["edges"]
    assert e["item__sold_in__location"] == [[0, 0], [1, 2], [1, 3]]  # deduplicated, sorted
    assert e["item__sold_at__period"] == [[0, 2], [1, 0], [1, 1]]
    # nearest: A->B, B->A, C->B, D->C; plus reverse directions
    assert e["location__near__location"] == [[0, 1], [1, 0], [1, 2], [2, 1], [2, 3], [3, 2]]
    assert e["period__next__period"] == [[0, 1], [1, 2]]
    assert m["num_periods"] == 3 and m["item_model_msrp"] == [100.0, 200.0]
    assert m["location_coords"] == COORDS


def test_k2_is_symmetric_without_self_loops():
    e = _market(k_near=2)["edges"]["location__near__location"]
    s = {tuple(x) for x in e}
    assert all((b, a) in s for a, b in s) and all(a != b for a, b in s)
    assert {b for a, b in s if a == 3} >= {1, 2}  # D's two nearest


def test_haversine_reference():
    # one degree of longitude on the equator is 2 pi R / 360
    d = haversine_km(np.array([[0.0, 0.0], [0.0, 1.0]]))
    assert d[0, 1] == pytest.approx(2 * np.pi * 6371.0 / 360, rel=1e-9)
    assert d[0, 0] == 0


def test_rejects_bad_inputs():
    with pytest.raises(ConfigError, match="train_location_ids"):
        _market(train_location_ids=[0, 0, 0, 4])
    with pytest.raises(ConfigError, match="location_coords"):
        _market(location_coords=COORDS[:3])
