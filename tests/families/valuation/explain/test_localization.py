"""Localisation metrics on hand-made maps, and the random-map baselines against simulation."""

import numpy as np
import pytest

from hmgray.families.valuation.explain.localization import (
    body_baseline,
    box_mask,
    box_pixels,
    localization_summary,
    mass_share,
    pointing_hit,
    random_baseline,
    random_map_baseline,
    relevance,
)

H = W = 48
BOX = [10 / 48, 12 / 48, 19 / 48, 14 / 48]  # pixel cols 10..18, rows 12..13 (a 9 x 2 scratch)


def test_box_pixels_follow_the_generators_exclusive_upper_edges():
    assert box_pixels(BOX, H, W) == (10, 12, 19, 14)
    assert box_pixels(BOX, H, W, tolerance=1) == (9, 11, 20, 15)
    assert box_pixels([0.0, 0.0, 1 / 48, 1 / 48], H, W, tolerance=2) == (0, 0, 3, 3)  # clipped
    assert box_pixels([0.5, 0.5, 0.5, 0.5], H, W) == (24, 24, 25, 25)  # never empty
    assert box_mask(BOX, (H, W)).sum() == 18


def test_mass_share_and_pointing_on_hand_made_maps():
    inside = np.zeros((H, W))
    inside[12:14, 10:19] = 1.0
    assert mass_share(inside, BOX) == 1.0 and pointing_hit(inside, BOX, 0)
    uniform = np.ones((H, W))
    assert mass_share(uniform, BOX) == pytest.approx(18 / (H * W))
    half = inside.copy()
    half[30:32, 30:39] = 1.0  # as much mass again, far away
    assert mass_share(half, BOX) == pytest.approx(0.5)
    near = np.zeros((H, W))
    near[14, 15] = 1.0  # one row below the box
    assert not pointing_hit(near, BOX, tolerance=0)
    assert pointing_hit(near, BOX, tolerance=1)
    far = np.zeros((H, W))
    far[16, 15] = 1.0
    assert not pointing_hit(far, BOX, tolerance=1)
    zero = np.zeros((H, W))
    assert mass_share(zero, BOX) == 0.0 and not pointing_hit(zero, BOX)
    with pytest.raises(ValueError, match="relevance"):
        mass_share(-uniform, BOX)


def test_relevance_modes():
    m = np.array([[-2.0, 0.5], [0.0, 3.0]])
    assert relevance(m).tolist() == [[0.0, 0.5], [0.0, 3.0]]
    assert relevance(m, "abs").tolist() == [[2.0, 0.5], [0.0, 3.0]]
    with pytest.raises(ValueError):
        relevance(m, "square")


def test_closed_form_random_baseline_agrees_with_simulated_random_maps():
    boxes = [BOX, [0.5, 0.5, 0.6, 0.7], [0.0, 0.0, 2 / 48, 2 / 48]]
    exact = np.mean([random_baseline(b, (H, W), 1) for b in boxes], axis=0)
    sim_share, sim_hit = random_map_baseline(boxes, (H, W), tolerance=1, draws=400, seed=0)
    assert sim_share == pytest.approx(exact[0], rel=0.03)
    # hit rate: 1200 Bernoulli draws with p ~ 0.04 -> se ~ 0.006
    assert sim_hit == pytest.approx(exact[1], abs=0.02)
    assert exact[1] > exact[0]  # the 1 px tolerance makes pointing easier


def test_body_baseline():
    body = [8 / 48, 8 / 48, 24 / 48, 24 / 48]  # 16 x 16 px
    share, hit = body_baseline(BOX, body, (H, W), tolerance=1)
    assert share == pytest.approx(18 / 256)
    assert hit == pytest.approx((20 - 9) * (15 - 11) / 256)  # grown box, all on the body


def test_summary_splits_obvious_and_subtle_and_reports_baselines():
    maps = np.zeros((3, H, W))
    maps[0, 12:14, 10:19] = 1.0  # perfect
    maps[1, 40, 40] = 1.0  # misses
    maps[2] = 1.0  # uniform
    s = localization_summary(maps, [BOX] * 3, [False, False, True], None)
    assert s["all"]["n"] == 3 and s["obvious"]["n"] == 2 and s["subtle"]["n"] == 1
    assert s["obvious"]["mass_share"] == pytest.approx(0.5)
    assert s["obvious"]["hit_rate"] == pytest.approx(0.5)
    assert s["subtle"]["mass_share"] == pytest.approx(18 / (H * W))
    assert s["all"]["random_mass_share"] == pytest.approx(18 / (H * W))
    assert s["obvious"]["mass_ratio"] == pytest.approx(0.5 / (18 / (H * W)))
    assert np.isnan(s["all"]["body_mass_share"])
    empty = localization_summary(maps[:1], [BOX], [False])
    assert empty["subtle"]["n"] == 0 and np.isnan(empty["subtle"]["hit_rate"])
