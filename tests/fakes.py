"""Small fake inputs built to the contracts, for tests across the project.

* :func:`fake_market` - a manifest ``market`` object (contracts §2).
* :func:`fake_batch`  - a decoded batch (contracts §3), torch tensors by default
  (``as_numpy=True`` gives the numpy form ``hmgray.families.valuation.data.decode.decode_batch`` returns).

The batch deliberately covers the edge cases models must survive: listing 1 has no image,
listing 2 (when B > 2) has an empty description and no regions, listing 0 fills all
``max_words`` words and ``max_regions`` regions. Text heads form a valid tree (token 0 is
the root, every other token points to an earlier one).
"""

from __future__ import annotations

import numpy as np
import torch


def fake_market(
    num_items: int = 5, num_locations: int = 3, num_periods: int = 4, seed: int = 0
) -> dict:
    """A small market object: all four edge types of contracts §2, JSON-like lists."""
    rng = np.random.default_rng(seed)
    sold_in = [[i, int(rng.integers(num_locations))] for i in range(num_items)]
    sold_at = [[i, int(rng.integers(num_periods))] for i in range(num_items)]
    sold_at += [[0, t] for t in range(num_periods)]  # item 0 every period
    near = [
        [a, b]
        for a in range(num_locations)
        for b in range(num_locations)
        if a != b and abs(a - b) == 1
    ]
    return {
        "location_names": [f"loc{i}" for i in range(num_locations)],
        "location_coords": rng.uniform([30, -120], [50, -70], (num_locations, 2)).tolist(),
        "num_periods": num_periods,
        "period_days": 30,
        "item_models": [f"model{i}" for i in range(num_items)],
        "item_model_msrp": rng.uniform(100, 2000, num_items).round(2).tolist(),
        "edges": {
            "item__sold_in__location": sold_in,
            "item__sold_at__period": sold_at,
            "location__near__location": near,
            "period__next__period": [[t, t + 1] for t in range(num_periods - 1)],
        },
    }


def fake_batch(
    batch_size: int = 4,
    image_size: tuple[int, int] = (48, 48),
    max_words: int = 32,
    max_regions: int = 4,
    vocab_size: int = 1000,
    market: dict | None = None,
    seed: int = 0,
    as_numpy: bool = False,
) -> dict:
    """A decoded batch per contracts §3 (keys, dtypes, shapes, padding conventions)."""
    rng = np.random.default_rng(seed)
    market = market or fake_market()
    b, (h, w), n_max, r = batch_size, image_size, max_words, max_regions

    has_image = np.ones(b, np.float32)
    if b > 1:
        has_image[1] = 0.0
    image = rng.uniform(0, 1, (b, 3, h, w)).astype(np.float32) * has_image[:, None, None, None]

    n_words = rng.integers(1, n_max + 1, b)
    n_words[0] = n_max
    n_regions = rng.integers(1, r + 1, b)
    n_regions[0] = r
    if b > 2:
        n_words[2], n_regions[2] = 0, 0

    tokens = np.zeros((b, n_max), np.int64)
    heads = np.full((b, n_max), -1, np.int64)
    boxes = np.zeros((b, r, 4), np.float32)
    labels = np.zeros((b, r), np.int64)
    scene_mask = np.zeros((b, r), np.float32)
    for i in range(b):
        n = n_words[i]
        tokens[i, :n] = rng.integers(1, vocab_size, n)
        for k in range(1, n):
            heads[i, k] = rng.integers(0, k)
        m = n_regions[i]
        xy0 = rng.uniform(0.0, 0.6, (m, 2))
        xy1 = xy0 + rng.uniform(0.1, 0.4, (m, 2))
        boxes[i, :m] = np.concatenate([xy0, np.minimum(xy1, 1.0)], 1)
        labels[i, :m] = np.r_[0, rng.integers(1, 6, m - 1)] if m else []
        scene_mask[i, :m] = 1.0

    msrp = rng.uniform(100, 2000, b).astype(np.float32)
    out = {
        "image": image,
        "has_image": has_image,
        "tokens": tokens,
        "text_heads": heads,
        "scene_boxes": boxes,
        "scene_labels": labels,
        "scene_mask": scene_mask,
        "msrp": msrp,
        "price": (msrp * rng.uniform(0.2, 0.9, b)).astype(np.float32),
        "location_id": rng.integers(0, len(market["location_names"]), b).astype(np.int64),
        "period": rng.integers(0, market["num_periods"], b).astype(np.int64),
        "item_model_id": rng.integers(0, len(market["item_models"]), b).astype(np.int64),
        "subtle": (rng.uniform(0, 1, b) < 0.5).astype(np.float32),
    }
    return out if as_numpy else {k: torch.from_numpy(v) for k, v in out.items()}
