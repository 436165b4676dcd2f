"""Interactions -> the recommender's shards: leave-last-out splits by time, the users'
review texts, the item graph. Shared by the synthetic generator and the converters.

Protocol (the write-up's temporal one, and RecBole's ``TO`` leave-one-out):

* each user's interactions are ordered by time (ties keep the input order); the last is
  the user's test row, the one before it the validation row, the rest training history;
* a user with fewer than ``min_interactions`` (default 3: one to train on, one to
  validate, one to test) keeps every interaction in training and is left out of
  evaluation; how many were, is returned in the report, never dropped silently;
* a test row's ``also_seen`` holds the user's validation item (masked in ranking with the
  training items: it is a known interaction, not a candidate);
* the review text of a user is their last 5 *training* reviews, oldest first (nothing of
  validation or test leaks into it), and the co-purchase graph, when it comes from
  histories, is built from training interactions only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from hmgray.families.recommender.data.schema import INTERACTIONS, TABLE_SCHEMAS

__all__ = ["SplitReport", "cooccurrence_edges", "edges_table", "leave_last_out"]

REVIEWS_PER_USER = 5
# Words kept of a user's joined reviews: 4x the longest user text the model reads
# (config.USER_TOKENS), so a converted catalogue does not carry text nothing reads.
MAX_USER_WORDS = 256
GRAPH_HISTORY = 50  # pairs among a user's last 50 training items: bounded work per user


@dataclass(frozen=True)
class SplitReport:
    users: int
    evaluated_users: int
    too_few: int  # users with fewer than min_interactions: training only
    min_interactions: int

    def lines(self) -> list[str]:
        return [
            f"{self.users} users; {self.evaluated_users} evaluated (leave-last-out by time)",
            f"{self.too_few} users with fewer than {self.min_interactions} interactions: "
            "training only, left out of validation and test",
        ]


def leave_last_out(
    user: np.ndarray,
    item: np.ndarray,
    timestamp: np.ndarray,
    rating: np.ndarray,
    reviews: Sequence[str | None],
    num_users: int,
    min_interactions: int = 3,
) -> tuple[dict[str, pa.Table], list[str], SplitReport]:
    """(tables by split, each user's review text, report) of deduplicated interactions.

    Args: parallel arrays of one interaction each; ``reviews[k]`` is the review text of
    interaction k (any indexable: only the texts that end up in a user's last 5 training
    reviews are read, so a converter can keep them on disk).
    """
    user = np.asarray(user, dtype=np.int64)
    order = np.lexsort((np.arange(len(user)), np.asarray(timestamp), user))  # user, time
    u, it = user[order], np.asarray(item, dtype=np.int64)[order]
    ts = np.asarray(timestamp, dtype=np.int64)[order]
    rt = np.asarray(rating, dtype=np.float32)[order]
    counts = np.bincount(u, minlength=num_users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(len(u)) - starts[u]  # position within the user's sequence
    n_u = counts[u]
    evaluated = n_u >= min_interactions
    split = np.where(evaluated & (pos == n_u - 1), 2, np.where(evaluated & (pos == n_u - 2), 1, 0))
    val_item = np.full(num_users, -1, dtype=np.int64)
    val_item[u[split == 1]] = it[split == 1]

    tables = {}
    for code, name in enumerate(("train", "val", "test")):
        keep = split == code
        also = [[int(val_item[x])] for x in u[keep]] if name == "test" else [[]] * int(keep.sum())
        tables[name] = pa.table(
            {
                "interaction_id": pa.array(order[keep], pa.int64()),
                "user": pa.array(u[keep], pa.int32()),
                "item": pa.array(it[keep], pa.int32()),
                "timestamp": pa.array(ts[keep], pa.int64()),
                "rating": pa.array(rt[keep], pa.float32()),
                "also_seen": pa.array(also, pa.list_(pa.int32())),
            },
            schema=INTERACTIONS,
        )
    review_text = _last_reviews(u, split == 0, order, reviews, num_users)
    n_present = int((counts > 0).sum())
    n_eval = int((counts >= min_interactions).sum())
    report = SplitReport(n_present, n_eval, n_present - n_eval, min_interactions)
    return tables, review_text, report


def _last_reviews(
    u: np.ndarray, train: np.ndarray, order: np.ndarray, reviews, num_users: int
) -> list[str]:
    """Each user's last ``REVIEWS_PER_USER`` training reviews (u sorted by user, time),
    oldest first, joined with spaces and cut after ``MAX_USER_WORDS`` words; empty
    reviews are skipped."""
    tu, tk = u[train], order[train]
    n_train = np.bincount(tu, minlength=num_users)
    start = np.concatenate([[0], np.cumsum(n_train)[:-1]])
    rank_from_end = n_train[tu] - (np.arange(len(tu)) - start[tu])  # 1 = the last
    out = [""] * num_users
    last = rank_from_end <= REVIEWS_PER_USER
    users, rows = tu[last], tk[last]
    bounds = np.flatnonzero(np.diff(users)) + 1  # users' runs (sorted by user)
    for run in np.split(np.arange(len(users)), bounds):
        if len(run):  # join each user's texts at once: the single reviews are freed
            words = " ".join(t for t in (reviews[int(rows[j])] for j in run) if t).split()
            out[int(users[run[0]])] = " ".join(words[:MAX_USER_WORDS])
    return out


def cooccurrence_edges(train: pa.Table, num_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Undirected co-purchase pairs (src < dst) of the training histories and their
    counts: how many users have both items among their last ``GRAPH_HISTORY`` training
    items."""
    u = train.column("user").to_numpy()
    order = np.lexsort((train.column("timestamp").to_numpy(), u))
    u, it = u[order], train.column("item").to_numpy().astype(np.int64)[order]
    bounds = np.flatnonzero(np.diff(u)) + 1
    keys = []
    for seq in np.split(it, bounds):
        seq = np.unique(seq[-GRAPH_HISTORY:])
        if len(seq) > 1:
            a, b = np.triu_indices(len(seq), k=1)
            keys.append(seq[a] * num_items + seq[b])  # seq sorted: src < dst
    if not keys:
        return np.zeros((2, 0), dtype=np.int64), np.zeros(0, dtype=np.float32)
    pairs, weight = np.unique(np.concatenate(keys), return_counts=True)
    return np.stack([pairs // num_items, pairs % num_items]), weight.astype(np.float32)


def edges_table(pairs: np.ndarray, weight: np.ndarray) -> pa.Table:
    return pa.table(
        {
            "src": pa.array(pairs[0], pa.int32()),
            "dst": pa.array(pairs[1], pa.int32()),
            "weight": pa.array(weight, pa.float32()),
        },
        schema=TABLE_SCHEMAS["item_edges"],
    )
