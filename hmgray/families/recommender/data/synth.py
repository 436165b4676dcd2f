"""Seeded synthetic recommender data with planted, documented structure.

Every item has three independent latent attributes, each visible through one modality:

* a **topic** a_i in [K): visible only in the *text*: the description holds topic words
  of a_i (the title one of them, half of the time); users' reviews name the topic words
  of what they bought;
* a **style** b_i in [K): visible only in the *image*: the image is a pattern in the
  style's colour (K distinct hues) over noise;
* a **community** c_i in [K): visible only through *co-purchase*: nothing in the text or
  the image depends on it, but users buy along it, so it shapes the item graph.

Every user u has a favourite topic, style and community (f_T, f_I, f_G, drawn
uniformly) and a utility for item i::

    s(u, i) = BETA_T [a_i = f_T(u)] + BETA_I [b_i = f_I(u)] + BETA_G [c_i = f_G(u)]
              + log pop_i,          pop_i ~ LogNormal(0, POP_SIGMA)

Users pick their items one after another without replacement, with probability
proportional to exp(s(u, i)), at increasing timestamps; the sequence length is
``MIN_LEN`` + Poisson. So each attribute carries information the others cannot recover
(they are drawn independently), and a recommender that sees all three can rank best:
``tests/families/recommender/data/test_synth.py`` checks that the oracle ranking by
s(u, i) beats the oracle without any one of its three terms.

Missing modalities: ``P_NO_IMAGE`` of the items have no image, ``P_NO_DESCRIPTION`` no
description (their text is the title alone). Ground truth (``gt_*`` columns, never fed to
a model): items' ``gt_topic``, ``gt_style``, ``gt_community``, ``gt_pop``; users'
``gt_fav_topic``, ``gt_fav_style``, ``gt_fav_community``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from hmgray.data.images import encode_png
from hmgray.families.recommender.data.schema import TABLE_SCHEMAS
from hmgray.families.recommender.data.split import cooccurrence_edges, edges_table, leave_last_out

__all__ = ["GENERATOR", "synthetic_tables", "write_synthetic"]

GENERATOR = "hmgray.families.recommender.data.synth"
K = 6  # values of each attribute
BETA_T, BETA_I, BETA_G = 1.6, 1.6, 1.6
POP_SIGMA = 0.5
MIN_LEN, MEAN_EXTRA = 5, 8  # interactions per user: 5 + Poisson(8), mean 13
ITEMS_PER_INTERACTION = 1 / 40  # catalogue size: n / 40 items (at least MIN_ITEMS)
MIN_ITEMS = 60
P_NO_IMAGE, P_NO_DESCRIPTION = 0.25, 0.2
IMAGE_SIZE = 16
TOPIC_WORDS = [[f"topic{t}word{w}" for w in range(8)] for t in range(K)]
FILLER = [f"filler{w}" for w in range(40)]
SENTIMENT = ["great", "fine", "ok", "love", "works", "nice", "good", "solid"]
HUES = np.array(
    [[220, 40, 40], [40, 180, 60], [50, 80, 220], [230, 200, 40], [180, 60, 200], [40, 200, 210]]
)


def _image(rng: np.random.Generator, style: int) -> np.ndarray:
    """A (H, W, 3) uint8 image: stripes in the style's hue over grey noise; the stripe
    direction and phase are random, so the colour (not a pixel position) is the signal."""
    s = IMAGE_SIZE
    yy, xx = np.mgrid[0:s, 0:s]
    coord = xx if rng.random() < 0.5 else yy
    stripes = ((coord + rng.integers(4)) // 2) % 2 == 0
    img = rng.normal(128, 30, (s, s, 3))
    img[stripes] = HUES[style] + rng.normal(0, 20, (int(stripes.sum()), 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _sequence_lengths(rng: np.random.Generator, n: int) -> np.ndarray:
    """Per-user lengths (each >= MIN_LEN) summing to exactly n."""
    lengths = []
    total = 0
    while total + MIN_LEN <= n:
        k = MIN_LEN + int(rng.poisson(MEAN_EXTRA))
        k = min(k, n - total)
        lengths.append(k)
        total += k
    if total < n:  # the rest goes to the last user
        lengths[-1] += n - total
    return np.asarray(lengths, dtype=np.int64)


def synthetic_tables(n: int, seed: int):
    """(tables by split, side tables, context, report) of ``n`` synthetic interactions."""
    if n < 3 * MIN_LEN:
        raise ValueError(f"need at least {3 * MIN_LEN} interactions, got {n}")
    rng = np.random.default_rng(seed)
    n_items = max(MIN_ITEMS, int(n * ITEMS_PER_INTERACTION))
    topic, style, comm = (rng.integers(K, size=n_items) for _ in range(3))
    pop = rng.lognormal(0.0, POP_SIGMA, n_items)
    lengths = _sequence_lengths(rng, n)
    n_users = len(lengths)
    if lengths.max() >= n_items:
        raise ValueError(f"{n} interactions: a user would need more than all {n_items} items")
    fav = rng.integers(K, size=(n_users, 3))

    users, items, times, reviews = [], [], [], []
    for u in range(n_users):
        s = (
            BETA_T * (topic == fav[u, 0])
            + BETA_I * (style == fav[u, 1])
            + BETA_G * (comm == fav[u, 2])
            + np.log(pop)
        )
        p = np.exp(s - s.max())
        chosen = rng.choice(n_items, size=lengths[u], replace=False, p=p / p.sum())
        t0 = 1_600_000_000_000 + int(rng.integers(10**9))
        gaps = np.cumsum(rng.integers(3_600_000, 30 * 86_400_000, size=lengths[u]))
        for i, t in zip(chosen, t0 + gaps, strict=True):
            words = rng.choice(TOPIC_WORDS[topic[i]], 2, replace=False).tolist()
            reviews.append(" ".join([*words, *rng.choice(SENTIMENT, 2).tolist()]))
            users.append(u)
            items.append(int(i))
            times.append(int(t))
    ratings = rng.integers(3, 6, size=len(users)).astype(np.float32)
    splits, review_text, report = leave_last_out(
        np.array(users), np.array(items), np.array(times), ratings, reviews, n_users
    )

    titles, descs, images = [], [], []
    for i in range(n_items):
        title = ["item", *rng.choice(FILLER, 2).tolist()]
        if rng.random() < 0.5:
            title.append(str(rng.choice(TOPIC_WORDS[topic[i]])))
        titles.append(" ".join(title))
        desc = [*rng.choice(TOPIC_WORDS[topic[i]], 4, replace=False), *rng.choice(FILLER, 6)]
        descs.append(None if rng.random() < P_NO_DESCRIPTION else " ".join(rng.permutation(desc)))
        images.append(None if rng.random() < P_NO_IMAGE else encode_png(_image(rng, style[i])))
    items_table = pa.table(
        {
            "item": pa.array(np.arange(n_items), pa.int32()),
            "item_key": [f"I{i:06d}" for i in range(n_items)],
            "title": titles,
            "description": pa.array(descs, pa.string()),
            "image": pa.array(images, pa.binary()),
        },
        schema=TABLE_SCHEMAS["items"],
    )
    for name, values in (("topic", topic), ("style", style), ("community", comm)):
        items_table = items_table.append_column(f"gt_{name}", pa.array(values, pa.int32()))
    items_table = items_table.append_column("gt_pop", pa.array(pop, pa.float64()))
    users_table = pa.table(
        {
            "user": pa.array(np.arange(n_users), pa.int32()),
            "user_key": [f"U{u:06d}" for u in range(n_users)],
            "review_text": review_text,
        },
        schema=TABLE_SCHEMAS["users"],
    )
    for k, name in enumerate(("topic", "style", "community")):
        users_table = users_table.append_column(f"gt_fav_{name}", pa.array(fav[:, k], pa.int32()))
    pairs, weight = cooccurrence_edges(splits["train"], n_items)
    side = {"items": items_table, "users": users_table, "item_edges": edges_table(pairs, weight)}
    context = {
        "num_users": n_users,
        "num_items": n_items,
        "image_size": [IMAGE_SIZE, IMAGE_SIZE],
        "graph": "co-purchase in training histories",
        "split": "leave-last-out per user by time",
        "evaluated_users": report.evaluated_users,
    }
    return splits, side, context, report


def write_synthetic(out_uri: str, n: int, seed: int):
    """Write ``n`` synthetic interactions as recommender shards; return the Manifest."""
    from hmgray.data.shards import write_shards

    splits, side, context, _ = synthetic_tables(n, seed)
    return write_shards(
        splits,
        out_uri,
        task="recommender",
        dataset=f"synthetic-recommender-n{n}-seed{seed}",
        generator={
            "name": GENERATOR,
            "seed": seed,
            "params": {"n": n, "K": K, "beta": [BETA_T, BETA_I, BETA_G]},
        },
        context=context,
        tables=side,
    )
