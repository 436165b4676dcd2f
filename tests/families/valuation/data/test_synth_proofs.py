"""Proofs that each granularity level carries information the coarser ones cannot recover.

Each test fits on the train split and evaluates on val + test of n = 2400 listings.
"""

import numpy as np
from scipy.ndimage import uniform_filter

from hmgray.families.valuation.data.synth import LOCATIONS, market_value

from ._stats import auc, fit_logistic, lstsq_mse


def _col(t, name):
    return np.asarray(t.column(name).to_pylist(), dtype=float)


def test_oracle_mse_decreases_per_level(proof_data):
    """Least squares on the latents each level can see: every level cuts the MSE by >= 15%."""
    t, _, train = proof_data
    y = _col(t, "gt_delta")
    latents = [
        _col(t, c)[:, None] for c in ("gt_wear", "gt_delta_defect", "gt_num_detached", "gt_market")
    ]
    mse = [lstsq_mse(np.concatenate(latents[: k + 1], 1), y, train) for k in range(4)]
    for coarse, fine in zip(mse, mse[1:], strict=False):
        assert fine < 0.85 * coarse, mse
    # the last level leaves only the noise (sd 0.015) and clipping
    assert mse[-1] < 1.2 * 0.015**2


def _patch_features(images):
    """Per 8 x 8 patch: mean and std of each colour channel -> (N, 36, 6); no positions kept."""
    n = len(images)
    p = images.reshape(n, 3, 6, 8, 6, 8).transpose(0, 2, 4, 1, 3, 5).reshape(n, 36, 3, 64)
    return np.concatenate([p.mean(-1), p.std(-1)], -1)


def test_bag_of_patches_cannot_see_detachment(proof_data):
    t, b, train = proof_data
    ok = b["has_image"] > 0
    label = (_col(t, "gt_num_detached") > 0).astype(float)
    f = _patch_features(b["image"])
    pooled = {
        "mean": f.mean(1),
        "sorted": np.sort(f, axis=1).reshape(len(f), -1),  # a permutation-invariant summary
    }
    fit, test = train & ok, ~train & ok
    base = max(label[test].mean(), 1 - label[test].mean())
    for name, x in pooled.items():
        p = fit_logistic(x[fit], label[fit], ridge=10.0)(x[test])
        acc = np.mean((p > 0.5) == label[test])
        assert acc < base + 0.03, (name, acc, base)
        assert auc(p, label[test]) < 0.58, name

    # the relative box positions give it away: distance to the attached mean of the item model
    boxes = b["scene_boxes"][:, :3] * 48
    centre = (boxes[..., :2] + boxes[..., 2:]) / 2  # (N, 3, 2) px
    rel = centre[:, 1:] - centre[:, :1]  # (N, 2, 2): part - body
    det = np.array(t.column("gt_detached").to_pylist())
    items = b["item_model_id"]
    pred = np.zeros_like(det)
    for it in np.unique(items):
        for j in range(2):
            ref = rel[train & (items == it) & ~det[:, j], j].mean(0)
            rows = items == it
            pred[rows, j] = np.abs(rel[rows, j] - ref).max(-1) > 4.0  # px
    acc = np.mean(pred.any(1)[~train] == det.any(1)[~train])
    assert acc > 0.95, acc


def _line_response(gray):
    """Local thin-feature detector, max over the image (= max over patches).

    At each pixel: the smaller of the two contrasts to the pixels 2 px away across a
    horizontal or vertical line (both sides must differ: step edges of objects give ~0),
    either polarity; then a 3 x 3 mean so that single noisy pixels do not count.
    """
    c = gray[:, 2:-2, 2:-2]
    best = None
    for sign in (1.0, -1.0):
        v = np.minimum(sign * (gray[:, :-4, 2:-2] - c), sign * (gray[:, 4:, 2:-2] - c))
        h = np.minimum(sign * (gray[:, 2:-2, :-4] - c), sign * (gray[:, 2:-2, 4:] - c))
        r = np.maximum(v, h)
        best = r if best is None else np.maximum(best, r)
    return uniform_filter(best, size=(1, 3, 3)).reshape(len(gray), -1).max(1)


def test_subtle_defects_need_a_local_detector(proof_data):
    t, b, train = proof_data
    subtle = _col(t, "gt_defect_subtle") > 0
    clean = np.array([k is None for k in t.column("gt_defect_kind").to_pylist()])
    rows = (b["has_image"] > 0) & (subtle | clean)
    y = subtle[rows].astype(float)
    img = b["image"][rows]
    fit = train[rows]
    # whole-image colour statistics (mean and std per channel)
    glob = np.c_[img.mean((2, 3)), img.std((2, 3))]
    p = fit_logistic(glob[fit], y[fit])(glob[~fit])
    auc_global = auc(p, y[~fit])
    auc_local = auc(_line_response(img.mean(1))[~fit], y[~fit])
    assert auc_global < 0.6, auc_global
    assert auc_local > 0.9, auc_local


def test_market_is_independent_and_a_function_of_location_and_period(proof_data):
    t, b, _ = proof_data
    m = _col(t, "gt_market")
    loc, per = b["location_id"], b["period"]
    ntok = np.array([len(h) for h in t.column("text_heads").to_pylist()], dtype=float)
    ok = b["has_image"] > 0
    others = {
        "wear": _col(t, "gt_wear"),
        "defect": _col(t, "gt_delta_defect"),
        "detached": _col(t, "gt_num_detached"),
        "tokens": ntok,
        "item": b["item_model_id"],
        "image_mean": np.where(ok, b["image"].mean((1, 2, 3)), np.nan),
    }
    for name, v in others.items():
        keep = np.isfinite(v)
        r = np.corrcoef(m[keep], v[keep])[0, 1]
        assert abs(r) < 0.08, (name, r)
    # a function of (location, period): constant within each cell, equal to the formula
    for key in set(zip(loc.tolist(), per.tolist(), strict=True)):
        cell = (loc == key[0]) & (per == key[1])
        assert np.ptp(m[cell]) == 0
    lon = np.array([c[1] for _, c in LOCATIONS])
    a = np.tanh((lon - lon.mean()) / lon.std())
    tau = 2 * per / 5 - 1
    np.testing.assert_allclose(m, 0.55 * a[loc] + 0.30 * tau + 0.15 * a[loc] * tau)
    np.testing.assert_allclose(m, market_value(loc, per, 6))
    assert m.min() >= -1 and m.max() <= 1 and m.std() > 0.25
