"""The manifest's ``market`` object: node lists and edges of the market graph.

Node types: item models, locations, periods. Edge types (contracts section 2), each a
sorted, duplicate-free list of ``[src, dst]`` index pairs:

* ``item__sold_in__location``: item model i was listed at location l in the TRAIN split,
* ``item__sold_at__period``: item model i was listed in period t in the TRAIN split,
* ``location__near__location``: l2 is one of the ``k_near`` nearest locations of l by
  great-circle distance, or l is one of l2's (edges in both directions, no self loops),
* ``period__next__period``: ``[t, t + 1]`` for consecutive periods.

Only the training split contributes item edges: val/test listings must not leak into the
graph the model is trained with.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hmgray.errors import ConfigError

__all__ = ["EDGE_KEYS", "MARKET_KEYS", "build_market", "haversine_km"]

MARKET_KEYS = (
    "location_names",
    "location_coords",
    "num_periods",
    "period_days",
    "item_models",
    "item_model_msrp",
    "edges",
)
EDGE_KEYS = (
    "item__sold_in__location",
    "item__sold_at__period",
    "location__near__location",
    "period__next__period",
)

EARTH_RADIUS_KM = 6371.0


def haversine_km(coords: np.ndarray) -> np.ndarray:
    """Pairwise great-circle distances (km) of ``coords`` (N, 2) as (lat, lon) degrees -> (N, N)."""
    lat, lon = np.radians(coords[:, 0]), np.radians(coords[:, 1])
    dlat = lat[:, None] - lat[None, :]
    dlon = lon[:, None] - lon[None, :]
    a = np.sin(dlat / 2) ** 2 + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin(dlon / 2) ** 2
    # clip: rounding can push a slightly above 1 for antipodal points, and arcsin needs <= 1
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def _pairs(a: np.ndarray, b: np.ndarray) -> list[list[int]]:
    """Sorted unique ``[a_i, b_i]`` pairs as plain ints (JSON-ready)."""
    if len(a) == 0:
        return []
    pairs = np.unique(np.stack([np.asarray(a, np.int64), np.asarray(b, np.int64)], axis=1), axis=0)
    return pairs.tolist()


def build_market(
    location_names: Sequence[str],
    location_coords: Sequence[Sequence[float]],
    num_periods: int,
    period_days: int,
    item_models: Sequence[str],
    item_model_msrp: Sequence[float],
    train_item_ids: Sequence[int] | np.ndarray,
    train_location_ids: Sequence[int] | np.ndarray,
    train_periods: Sequence[int] | np.ndarray,
    k_near: int = 2,
) -> dict:
    """Build the manifest ``market`` object (contracts section 2).

    Args:
        location_names, location_coords: one name and one (lat, lon) in degrees per location.
        num_periods, period_days: number and length (days) of the time buckets.
        item_models, item_model_msrp: one name and one MSRP (currency units) per item model.
        train_item_ids, train_location_ids, train_periods: per TRAIN listing, its
            item_model_id, location_id and period (the only source of item edges).
        k_near: neighbours per location in ``location__near__location``.

    Returns: a JSON-ready dict with the keys ``MARKET_KEYS``.
    """
    n_loc, n_items = len(location_names), len(item_models)
    coords = np.asarray(location_coords, dtype=np.float64).reshape(-1, 2)
    if coords.shape[0] != n_loc:
        raise ConfigError(
            f"build_market: location_coords has {coords.shape[0]} rows, location_names {n_loc}"
        )
    if len(item_model_msrp) != n_items:
        raise ConfigError(
            f"build_market: item_model_msrp has {len(item_model_msrp)} values, item_models {n_items}"
        )
    if num_periods < 1 or period_days < 1:
        raise ConfigError(
            f"build_market: num_periods={num_periods}, period_days={period_days} must be >= 1"
        )
    if not 0 <= k_near:
        raise ConfigError(f"build_market: k_near must be >= 0, got {k_near}")
    items = np.asarray(train_item_ids, dtype=np.int64)
    locs = np.asarray(train_location_ids, dtype=np.int64)
    periods = np.asarray(train_periods, dtype=np.int64)
    if not len(items) == len(locs) == len(periods):
        raise ConfigError(
            "build_market: train_item_ids, train_location_ids, train_periods differ in length"
        )
    for name, v, hi in (
        ("train_item_ids", items, n_items),
        ("train_location_ids", locs, n_loc),
        ("train_periods", periods, num_periods),
    ):
        if len(v) and (v.min() < 0 or v.max() >= hi):
            raise ConfigError(f"build_market: {name} has values outside [0, {hi})")

    near_src, near_dst = [], []
    k = min(k_near, n_loc - 1)
    if k > 0:
        dist = haversine_km(coords)
        np.fill_diagonal(dist, np.inf)  # no self loops
        # stable sort: ties go to the lower index, so the edge list is deterministic
        nearest = np.argsort(dist, axis=1, kind="stable")[:, :k]  # (n_loc, k)
        src = np.repeat(np.arange(n_loc), k)
        dst = nearest.reshape(-1)
        near_src = np.concatenate([src, dst])  # both directions: l -> l2 and l2 -> l
        near_dst = np.concatenate([dst, src])
    t = np.arange(num_periods - 1)

    return {
        "location_names": [str(x) for x in location_names],
        "location_coords": coords.tolist(),
        "num_periods": int(num_periods),
        "period_days": int(period_days),
        "item_models": [str(x) for x in item_models],
        "item_model_msrp": [float(x) for x in item_model_msrp],
        "edges": {
            "item__sold_in__location": _pairs(items, locs),
            "item__sold_at__period": _pairs(items, periods),
            "location__near__location": _pairs(np.asarray(near_src), np.asarray(near_dst)),
            "period__next__period": _pairs(t, t + 1),
        },
    }
