"""Seeded synthetic click-through data with a planted, documented process.

Catalogue: ``C`` categories, ``B`` brands (each brand sells in one category), items with
one brand each (the brand's category is the item's), ``n / ROWS_PER_ITEM`` items with
popularity Zipf-distributed (``ZIPF``), so most items are rarely shown: the long tail.
(At 12 impressions per item the tail's items were seen often enough in training for
their own embeddings to learn, and coarse supervision did not help there more than
elsewhere; at 4 a tail item is seen once or twice in training.) Users: each has a true
interest in ``K_BRANDS`` brands and ``K_CATES`` categories (drawn at random), and
belongs to one of ``GROUPS`` user groups (the ``group`` field, as Taobao's
``cms_group_id``; present only when ``P_GROUP_INTEREST`` > 0); each of its brand
interests is, with probability ``P_GROUP_INTEREST``, its group's brand in that slot
instead (each group has ``K_BRANDS`` brands of its own). Interests drawn per user are
learnable only from that user's own few clicks, which a field-embedding DNN does not
manage within a few hundred steps (``benchmarks/ctr_planted.py`` and the README);
interests shared by a group are learnable from the group field, across all the group's
users.

Impressions (the rows) fall over ``DAYS`` days, uniformly within a day; the validation
and test days each hold ``EVAL_DAY_WEIGHT`` times the impressions of a training day, so
that selection and report rank a few hundred clicks rather than a few dozen (at weight 1
the 50,000-row default had about 80 test clicks, and which arm led on test changed with
the data seed: ``benchmarks/ctr_planted.py --data-seed``). The item shown is drawn by
popularity, or, with probability ``P_TARGETED``, from the user's interest categories (ad
targeting). A click happens with probability::

    p = sigmoid(B0 + BETA_BRAND [brand in interests] + BETA_CATE [cate in interests]
                + q_item + PID_EFFECT[pid])

with ``q_item ~ N(0, Q_SIGMA)`` the item's own appeal and ``pid`` the placement (the
second placement is clicked less: interested users often do not click). Clicks are rare
(``B0``), so a long-tail item has a handful of impressions and almost no click in
training: what its fine labels teach is slow, while the coarse pseudo-labels (the user
clicked *some* item of this brand / category in training) carry the user's interest over
to it. ``tests/families/ctr/data/test_synth.py`` proves it with an oracle test: on test
rows of long-tail items, the pseudo-labels rank clicks far better than the item's and the
user's training click rates.

Behaviours (the history): each user views ``VIEWS`` items over the period and the
``PRE_DAYS`` days before it, each from the user's interests with probability
``P_VIEW_INTEREST``, else at random; a row's history is its user's views strictly before
the row's time (``hmgray.families.ctr.data.labels.histories``).

Split by time as on Taobao: days 0..DAYS-3 train, DAYS-2 validation, DAYS-1 test.
Ground truth (``gt_*`` columns, never fed to a model): ``gt_p`` (the click probability),
``gt_brand_interest``, ``gt_cate_interest``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from hmgray.families.ctr.data.labels import coarse_labels, histories, tail_mask
from hmgray.families.ctr.data.schema import row_schema

__all__ = ["GENERATOR", "synthetic_tables", "write_synthetic"]

GENERATOR = "hmgray.families.ctr.data.synth"
C, B = 12, 60
K_BRANDS, K_CATES = 3, 2
ZIPF = 1.1
ROWS_PER_USER = 200
ROWS_PER_ITEM = 4  # impressions per item on average: a long tail of items seen once or twice
B0, BETA_BRAND, BETA_CATE, Q_SIGMA = -4.5, 3.0, 1.5, 0.5
PID_EFFECT = (0.0, 0.0, -1.5)  # index 0 = unknown; placements 1 and 2
P_TARGETED = 0.3
VIEWS, P_VIEW_INTEREST = 30, 0.5
DAYS, PRE_DAYS = 8, 3
EVAL_DAY_WEIGHT = 3.0  # impressions on the validation and test days, relative to a training day
DAY = 86_400
GROUPS, P_GROUP_INTEREST = 12, 0.0  # 0: interests drawn per user, no group field
T0 = 1_494_028_800  # 2017-05-06 00:00 UTC, Taobao's first sample day
MAX_HISTORY = 50
TAIL_SHARE = 0.2


def synthetic_tables(n: int, seed: int):
    """(tables by split, context) of ``n`` synthetic impressions (exactly ``n`` rows)."""
    if n < 100:
        raise ValueError(f"need at least 100 impressions, got {n}")
    rng = np.random.default_rng(seed)
    n_users = max(20, n // ROWS_PER_USER)
    n_items = max(100, n // ROWS_PER_ITEM)
    brand_cate = rng.integers(1, C + 1, size=B + 1)
    brand_cate[0] = 0
    item_brand = rng.integers(1, B + 1, size=n_items + 1)
    item_brand[0] = 0
    item_cate = brand_cate[item_brand]
    pop = 1.0 / np.arange(1, n_items + 1) ** ZIPF
    pop = rng.permutation(pop)
    q = rng.normal(0.0, Q_SIGMA, size=n_items + 1)
    # user groups (as Taobao's cms_group_id) from a stream of their own, so that the
    # other draws do not depend on them
    grng = np.random.default_rng([seed, 1])
    group_of = grng.integers(1, GROUPS + 1, size=n_users + 1)
    group_brands = np.stack(
        [grng.choice(np.arange(1, B + 1), K_BRANDS, replace=False) for _ in range(GROUPS + 1)]
    )
    like_brand = np.zeros((n_users + 1, B + 1), dtype=bool)
    like_cate = np.zeros((n_users + 1, C + 1), dtype=bool)
    for u in range(1, n_users + 1):
        brands = rng.choice(np.arange(1, B + 1), K_BRANDS, replace=False)
        shared = grng.random(K_BRANDS) < P_GROUP_INTEREST
        if shared.any():  # the group's brands in the shared slots, own ones in the rest
            common = group_brands[group_of[u], shared]
            own = [b for b in brands if b not in common][: K_BRANDS - len(common)]
            brands = np.concatenate([common, own]).astype(brands.dtype)
        like_brand[u, brands] = True
        like_cate[u, rng.choice(np.arange(1, C + 1), K_CATES, replace=False)] = True
    items_of_cate = [np.flatnonzero(item_cate[1:] == c) + 1 for c in range(C + 1)]

    # impressions
    user = rng.integers(1, n_users + 1, size=n)
    item = rng.choice(np.arange(1, n_items + 1), size=n, p=pop / pop.sum())
    targeted = np.flatnonzero(rng.random(n) < P_TARGETED)
    for r in targeted:
        cates = np.flatnonzero(like_cate[user[r]])
        pool = items_of_cate[rng.choice(cates)]
        if len(pool):
            item[r] = rng.choice(pool)
    brand, cate = item_brand[item], item_cate[item]
    pid = rng.integers(1, 3, size=n)
    gender = rng.integers(1, 3, size=n_users + 1)[user]
    b_int, c_int = like_brand[user, brand], like_cate[user, cate]
    logit = B0 + BETA_BRAND * b_int + BETA_CATE * c_int + q[item] + np.take(PID_EFFECT, pid)
    p = 1.0 / (1.0 + np.exp(-logit))
    label = (rng.random(n) < p).astype(np.int8)
    day_weight = np.ones(DAYS)
    day_weight[DAYS - 2 :] = EVAL_DAY_WEIGHT
    time = T0 + rng.choice(DAYS, size=n, p=day_weight / day_weight.sum()) * DAY
    time = time + rng.integers(0, DAY, size=n)

    # behaviours: views, from the interests or at random
    v_user = np.repeat(np.arange(1, n_users + 1), VIEWS)
    v_time = T0 - PRE_DAYS * DAY + rng.integers(0, (DAYS + PRE_DAYS) * DAY, size=len(v_user))
    v_item = rng.integers(1, n_items + 1, size=len(v_user))
    liked = np.flatnonzero(rng.random(len(v_user)) < P_VIEW_INTEREST)
    for r in liked:
        u = v_user[r]
        if rng.random() < 0.5:
            b = rng.choice(np.flatnonzero(like_brand[u]))
            pool = np.flatnonzero(item_brand == b)
        else:
            pool = items_of_cate[rng.choice(np.flatnonzero(like_cate[u]))]
        if len(pool):
            v_item[r] = rng.choice(pool)
    hist = histories(
        v_user,
        v_time,
        {"brand": item_brand[v_item], "cate": item_cate[v_item]},
        user,
        time,
        MAX_HISTORY,
    )

    day = (time - T0) // DAY
    split = np.where(day < DAYS - 2, "train", np.where(day == DAYS - 2, "val", "test"))
    train = split == "train"
    y_brand = coarse_labels(user, brand, label, train)
    y_cate = coarse_labels(user, cate, label, train)
    counts = np.bincount(item[train], minlength=n_items + 1)
    tail = tail_mask(counts[1:], TAIL_SHARE)
    fields = {
        "user": n_users + 1, "item": n_items + 1, "brand": B + 1, "cate": C + 1,
        "pid": 3, "gender": 3,
    }  # fmt: skip
    if P_GROUP_INTEREST > 0:
        fields["group"] = GROUPS + 1
    table = pa.table(
        {
            "sample_id": pa.array(np.arange(n), pa.int64()),
            "time": pa.array(time, pa.int64()),
            "label": pa.array(label, pa.int8()),
            "user": pa.array(user, pa.int32()),
            "item": pa.array(item, pa.int32()),
            "brand": pa.array(brand, pa.int32()),
            "cate": pa.array(cate, pa.int32()),
            "hist_brand": hist["brand"],
            "hist_cate": hist["cate"],
            "y_brand": pa.array(y_brand, pa.int8()),
            "y_cate": pa.array(y_cate, pa.int8()),
            "tail": pa.array(tail[item - 1]),
            "pid": pa.array(pid, pa.int32()),
            "gender": pa.array(gender, pa.int32()),
            **({"group": pa.array(group_of[user], pa.int32())} if "group" in fields else {}),
        },
        schema=row_schema(fields),
    )
    table = table.append_column("gt_p", pa.array(p, pa.float32()))
    table = table.append_column("gt_brand_interest", pa.array(b_int))
    table = table.append_column("gt_cate_interest", pa.array(c_int))
    order = np.argsort(time, kind="stable")
    splits = {}
    for name in ("train", "val", "test"):
        rows = order[split[order] == name]
        splits[name] = table.take(pa.array(rows))
    context = {
        "fields": fields,
        "coarse": ["brand", "cate"],
        "max_history": MAX_HISTORY,
        "tail_share": TAIL_SHARE,
        "split": (
            f"by time: days 0-{DAYS - 3} train, day {DAYS - 2} validation, day {DAYS - 1} test"
        ),
    }
    return splits, context


def write_synthetic(out_uri: str, n: int, seed: int):
    """Write ``n`` synthetic impressions as click-through shards; return the Manifest."""
    from hmgray.data.shards import write_shards

    splits, context = synthetic_tables(n, seed)
    return write_shards(
        splits,
        out_uri,
        task="ctr",
        dataset=f"synthetic-ctr-n{n}-seed{seed}",
        generator={
            "name": GENERATOR,
            "seed": seed,
            "params": {
                "n": n,
                "C": C,
                "B": B,
                "zipf": ZIPF,
                "b0": B0,
                "beta_brand": BETA_BRAND,
                "beta_cate": BETA_CATE,
                "q_sigma": Q_SIGMA,
                "rows_per_item": ROWS_PER_ITEM,
                "rows_per_user": ROWS_PER_USER,
                "groups": GROUPS,
                "p_group_interest": P_GROUP_INTEREST,
                "eval_day_weight": EVAL_DAY_WEIGHT,
            },
        },  # fmt: skip
        context=context,
        rows_per_file=16384,
        row_group_rows=4096,
    )
