"""Seeded training subsets: few-shot (k listings per item model) and long-tail (Zipf-like).

Both kinds are drawn from one seeded order of each item model's listings: for a given
``seed``, the listings of item model i are put in a random order once, and a subset takes
a prefix of that order. So the subsets of one seed are nested (its k = 5 set lies inside
its k = 20 set) and a subset depends only on (item_model_id column, seed, parameters):
same inputs, same rows, on any machine (numpy's ``default_rng``, a PCG64 stream).

Few-shot: the first ``k`` listings of every item model present in the split.

Long-tail: ``total`` listings whose item-model frequencies follow a Zipf-like law. The
item models get ranks r = 1..M by seeded draws (a stream independent of the listing
orders): rank 1, 2, ... in turn goes to an item model drawn uniformly among those not yet
ranked that have at least n_r listings (with enough listings everywhere, a uniformly
random permutation). Item model i of rank r_i gets

    n_i = min_count + apportion(total - M * min_count, w),   w_r = r^(-s)

listings, where ``apportion`` is the largest-remainder (Hamilton) rounding of
``(total - M * min_count) * w_r / sum(w)``: counts are integers that sum to exactly
``total`` and follow r^(-s) up to rounding and the floor ``min_count`` (no item model
is dropped altogether, it becomes rare). The ``tail`` is the floor(M * tail_fraction)
rarest item models, the ``head`` the others.

Rows are returned as sorted indices into the split's table (file order kept), so
``table.take(indices)`` is the subset. Pure numpy; no Ray.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from hmgray import storage
from hmgray.data.shards import Manifest
from hmgray.errors import ConfigError, DataError

__all__ = [
    "LongTail",
    "few_shot",
    "item_orders",
    "long_tail",
    "split_table",
    "zipf_counts",
]

Seed = int | Sequence[int]


def _streams(seed: Seed) -> tuple[np.random.Generator, np.random.Generator]:
    """Two independent generators of ``seed``: listing orders, item-model ranks."""
    ss = np.random.SeedSequence(list(seed) if not isinstance(seed, int) else seed)
    a, b = ss.spawn(2)
    return np.random.default_rng(a), np.random.default_rng(b)


def _item_ids(item_ids) -> np.ndarray:
    ids = np.asarray(item_ids)
    if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
        raise ConfigError(f"item_ids must be a 1-D integer array, got {ids.dtype} {ids.shape}")
    return ids.astype(np.int64)


def item_orders(item_ids, seed: Seed) -> dict[int, np.ndarray]:
    """Row indices of each item model, in the seeded random order subsets take prefixes of.

    Item models are visited in increasing id order, so the order of one item model does
    not depend on which other item models exist only through their ids.
    """
    ids = _item_ids(item_ids)
    rng, _ = _streams(seed)
    out = {}
    for item in np.unique(ids):
        rows = np.flatnonzero(ids == item)
        out[int(item)] = rows[rng.permutation(rows.size)]
    return out


def few_shot(item_ids, k: int, seed: Seed) -> np.ndarray:
    """Sorted row indices of ``k`` listings of every item model present in ``item_ids``.

    Raises:
        ConfigError: k < 1.
        DataError: an item model has fewer than k listings (named, with its count).
    """
    if not isinstance(k, int | np.integer) or k < 1:
        raise ConfigError(f"few-shot k must be an integer >= 1, got {k!r}")
    orders = item_orders(item_ids, seed)
    short = {i: o.size for i, o in orders.items() if o.size < k}
    if short:
        listed = ", ".join(f"item_model_id {i}: {n}" for i, n in sorted(short.items())[:10])
        raise DataError(
            f"few-shot k={k}: {len(short)} item model(s) have fewer than {k} training "
            f"listings ({listed})"
        )
    return np.sort(np.concatenate([o[:k] for o in orders.values()]))


def zipf_counts(n_items: int, total: int, s: float, min_count: int = 1) -> np.ndarray:
    """Listings per rank (rank 1 first) under the law in the module docstring, summing to
    ``total``; non-increasing in rank."""
    if n_items < 1:
        raise ConfigError(f"long-tail: need at least one item model, got {n_items}")
    if not (math.isfinite(s) and s >= 0):
        raise ConfigError(f"long-tail exponent s must be finite and >= 0, got {s!r}")
    if min_count < 0:
        raise ConfigError(f"long-tail min_count must be >= 0, got {min_count}")
    spare = total - n_items * min_count
    if spare < 0:
        raise ConfigError(
            f"long-tail: total={total} is less than {n_items} item models x min_count={min_count}"
        )
    w = np.arange(1, n_items + 1, dtype=np.float64) ** -s
    quota = spare * w / w.sum()
    counts = np.floor(quota).astype(np.int64)
    left = spare - int(counts.sum())
    # largest remainders first; ties to the more frequent rank (stable sort), so the
    # counts stay non-increasing in rank
    order = np.argsort(-(quota - counts), kind="stable")
    counts[order[:left]] += 1
    return counts + min_count


@dataclass(frozen=True)
class LongTail:
    """A long-tail training subset.

    ``indices``: sorted rows of the split; ``counts``: item_model_id -> listings in the
    subset; ``ranks``: item_model_id -> frequency rank (1 = most frequent); ``head`` /
    ``tail``: item_model_ids, most frequent first.
    """

    indices: np.ndarray
    counts: dict[int, int]
    ranks: dict[int, int]
    head: tuple[int, ...]
    tail: tuple[int, ...]


def long_tail(
    item_ids,
    total: int,
    s: float,
    seed: Seed,
    *,
    min_count: int = 1,
    tail_fraction: float = 0.5,
) -> LongTail:
    """A subset of ``total`` listings with Zipf-like item-model frequencies (see module doc).

    Raises:
        ConfigError: bad parameters.
        DataError: an item model has fewer listings than its rank needs (named).
    """
    if not 0.0 < tail_fraction < 1.0:
        raise ConfigError(f"long-tail tail_fraction must be in (0, 1), got {tail_fraction!r}")
    orders = item_orders(item_ids, seed)
    items = sorted(orders)
    _, rank_rng = _streams(seed)
    counts = zipf_counts(len(items), total, s, min_count)
    by_rank: list[int] = []  # rank 1 first
    left = list(items)
    for n in counts:
        able = [i for i in left if orders[i].size >= n]
        if not able:
            have = ", ".join(f"item_model_id {i}: {orders[i].size}" for i in left[:10])
            raise DataError(
                f"long-tail set of {total} listings (s={s:g}): rank {len(by_rank) + 1} needs "
                f"{n} listings of one item model, the remaining ones have fewer ({have}); "
                "lower the total or the exponent"
            )
        pick = able[int(rank_rng.integers(len(able)))]
        by_rank.append(pick)
        left.remove(pick)
    n_tail = int(math.floor(len(items) * tail_fraction))
    indices = np.sort(
        np.concatenate([orders[item][:n] for item, n in zip(by_rank, counts, strict=True)])
    )
    return LongTail(
        indices=indices,
        counts={int(i): int(n) for i, n in zip(by_rank, counts, strict=True)},
        ranks={int(i): r + 1 for r, i in enumerate(by_rank)},
        head=tuple(int(i) for i in by_rank[: len(items) - n_tail]),
        tail=tuple(int(i) for i in by_rank[len(items) - n_tail :]),
    )


def split_table(manifest: Manifest, split: str, columns: list[str] | None = None) -> pa.Table:
    """The rows of one split as one Arrow table, in file order (what subset indices index)."""
    uris = manifest.files_for(split)
    if not uris:
        raise DataError(f"{manifest.manifest_uri}: no files for split {split!r}")
    tables = [storage.read_parquet(u) for u in uris]
    if columns is not None:
        tables = [t.select(columns) for t in tables]
    return pa.concat_tables(tables)
