"""What every source of click-through rows shares (the synthetic generator and the three
converters): behaviour histories, coarse pseudo-labels and the long-tail flag, vectorised
over numpy arrays.

* :func:`histories`: each sample's last ``max_len`` behaviours of its user *strictly
  before* the sample's time, newest first (never one at or after it);
* :func:`coarse_labels`: ``y_c = 1`` for a row when its user has a click on a *training*
  row with the same coarse value (brand or category); only training rows are read, so
  validation and test labels never leak into them;
* :func:`tail_mask`: which items are the long tail of the training impressions.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["HistoryIndex", "coarse_labels", "histories", "tail_mask"]


class HistoryIndex:
    """Behaviours sorted once by (user, time), for history lookups of many sample chunks.

    Behaviours at the same second keep their input order (a stable sort)."""

    def __init__(self, beh_user: np.ndarray, beh_time: np.ndarray,
                 beh_values: dict[str, np.ndarray]):  # fmt: skip
        order = np.lexsort((beh_time, beh_user))  # by user, then time (stable)
        self.user = beh_user[order]
        self.key = _pair_key(self.user, beh_time[order])
        self.values = {k: v[order].astype(np.int32) for k, v in beh_values.items()}

    def lookup(self, user: np.ndarray, time: np.ndarray, max_len: int) -> dict[str, pa.ListArray]:
        """Per sample, the ``max_len`` latest behaviours of its user with time < its time,
        newest first, as list<int32> arrays (one per value column)."""
        # the first behaviour of the sample's user at or after its time ends its history;
        # the user's first behaviour bounds its start
        end = np.searchsorted(self.key, _pair_key(user, time), side="left")
        first = np.searchsorted(self.user, user, side="left")
        start = np.maximum(first, end - max_len)
        lengths = np.maximum(end - start, 0)
        offsets = np.zeros(len(user) + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])
        # newest first: position end-1, end-2, ..., start
        within = np.arange(offsets[-1], dtype=np.int64) - np.repeat(offsets[:-1], lengths)
        idx = np.repeat(end - 1, lengths) - within
        return {
            name: pa.ListArray.from_arrays(pa.array(offsets), pa.array(v[idx], pa.int32()))
            for name, v in self.values.items()
        }


def histories(
    beh_user: np.ndarray,
    beh_time: np.ndarray,
    beh_values: dict[str, np.ndarray],
    user: np.ndarray,
    time: np.ndarray,
    max_len: int,
) -> dict[str, pa.ListArray]:
    """Per sample, the ``max_len`` latest behaviours of its user with time < its time.

    Args: the behaviours (user, time, and their value columns, e.g. brand and category),
    in any order; the samples' user and time. Returns, per value column, a list<int32>
    array aligned with the samples, newest first (:class:`HistoryIndex`).
    """
    return HistoryIndex(beh_user, beh_time, beh_values).lookup(user, time, max_len)


def _pair_key(user: np.ndarray, time: np.ndarray) -> np.ndarray:
    """One sortable int64 per (user, time): user in the high bits (time must be < 2^36 s,
    i.e. before the year 4147, and user < 2^27)."""
    u = user.astype(np.int64)
    t = time.astype(np.int64)
    if len(u) and (u.max() >= 2**27 or t.max() >= 2**36 or t.min() < 0 or u.min() < 0):
        raise ValueError("histories: user ids must be < 2^27 and times in [0, 2^36)")
    return (u << 36) | t


def coarse_labels(
    user: np.ndarray, value: np.ndarray, label: np.ndarray, train: np.ndarray
) -> np.ndarray:
    """int8 y_c per row: 1 when (user, value) has a click among the ``train`` rows.

    ``value`` 0 (unknown) never gets a pseudo-label of 1."""
    key = user.astype(np.int64) * (int(value.max(initial=0)) + 1) + value.astype(np.int64)
    positive = np.unique(key[train & (label == 1) & (value > 0)])
    return (np.isin(key, positive) & (value > 0)).astype(np.int8)


def tail_mask(counts: np.ndarray, share: float) -> np.ndarray:
    """bool per item: the least frequent items that together hold at most ``share`` of
    the impressions ``counts`` (training impressions per item); an item never seen in
    training is in the tail. Ties are broken by item index, so the split is exact."""
    order = np.lexsort((np.arange(len(counts)), counts))  # rarest first
    cum = np.cumsum(counts[order], dtype=np.float64)
    total = cum[-1] if len(cum) else 0.0
    tail = np.zeros(len(counts), dtype=bool)
    tail[order[cum <= share * total]] = True
    tail[counts == 0] = True
    return tail
