"""Histories, coarse pseudo-labels and the long-tail flag against brute force."""

import numpy as np
import pytest

from hmgray.families.ctr.data.labels import coarse_labels, histories, tail_mask


def brute_history(bu, bt, bv, u, t, max_len):
    rows = [(bt[k], k) for k in range(len(bu)) if bu[k] == u and bt[k] < t]
    rows.sort()  # by time, then input order (the stable sort's tie rule)
    return [int(bv[k]) for _, k in rows[::-1][:max_len]]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_histories_are_the_latest_behaviours_strictly_before(seed):
    rng = np.random.default_rng(seed)
    bu = rng.integers(0, 6, 300)
    bt = rng.integers(0, 50, 300)  # many equal times: ties and "at the sample's time"
    bv = rng.integers(1, 1000, 300)
    u = rng.integers(0, 8, 80)  # users 6 and 7 have no behaviour
    t = rng.integers(0, 60, 80)
    out = histories(bu, bt, {"v": bv}, u, t, max_len=7)["v"].to_pylist()
    for k in range(len(u)):
        assert out[k] == brute_history(bu, bt, bv, u[k], t[k], 7), k


def test_histories_never_include_the_sample_time_or_later():
    out = histories(
        np.array([1, 1, 1]), np.array([10, 20, 30]), {"v": np.array([5, 6, 7])},
        np.array([1, 1, 1]), np.array([10, 21, 100]), max_len=50,
    )["v"].to_pylist()  # fmt: skip
    assert out == [[], [6, 5], [7, 6, 5]]


def test_coarse_labels_come_from_training_clicks_only():
    user = np.array([1, 1, 1, 2, 2, 1])
    brand = np.array([5, 5, 6, 5, 0, 6])
    label = np.array([1, 0, 0, 0, 1, 1])
    train = np.array([True, True, True, True, True, False])  # the click on brand 6: test
    y = coarse_labels(user, brand, label, train)
    # (1, 5) clicked in training; (1, 6) only in test; user 2 clicked brand 0 (unknown)
    assert y.tolist() == [1, 1, 0, 0, 0, 0]
    assert (y[train & (label == 1) & (brand > 0)] == 1).all()  # y = 1 implies y_c = 1


def test_tail_is_the_rarest_share_of_impressions():
    counts = np.array([50, 30, 10, 5, 5, 0])  # 100 impressions
    tail = tail_mask(counts, 0.2)
    assert tail.tolist() == [False, False, True, True, True, True]  # 10 + 5 + 5 = 20
    assert tail_mask(counts, 0.05).tolist() == [False, False, False, True, False, True]
