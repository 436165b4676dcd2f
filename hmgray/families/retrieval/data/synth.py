"""Seeded synthetic image-text data with a planted two-level hierarchy (person search).

Tree: ``GROUPS`` coarse groups -> identities. A group fixes the **coarse traits**, the
colours of the upper and the lower garment (every group a different pair); an identity
adds **fine traits**, an accessory: its shape (``SHAPES``), colour and side (left or
right), a combination unique within its group. So the coarse traits only say the group;
the coarse and fine traits together say the identity (``tests/families/retrieval/data/
test_synth.py`` proves both).

Images (``SIZE`` x ``SIZE`` RGB, PNG): the upper half in the upper colour, the lower half
in the lower colour, the accessory glyph (``GLYPH`` pixels) on its side, each image of an
identity with its own jitter: glyph position, brightness, pixel noise.

Captions (two per image): a **full** caption names the coarse and the fine traits ("a
person in a red shirt and blue trousers carrying a green bag on the left"); with
probability ``P_ABSTRACT`` a caption is **abstract**: the coarse traits only ("a person in
a red shirt and blue trousers"), true of every identity of the group, the generic
concepts a hyperbolic model should place near the origin. Synonyms vary the wording.

Split by identity as in person search (no identity in two splits): ``SPLIT`` shares of
the identities, every group in every split, so test identities are new combinations of
traits seen in training. Ground truth (``gt_*`` columns, never fed to a model):
``gt_group``, ``gt_upper``, ``gt_lower``, ``gt_shape``, ``gt_acc_colour``, ``gt_side``,
``gt_abstract``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa

from hmgray.data.images import encode_png
from hmgray.families.retrieval.data.schema import ROWS

__all__ = ["GENERATOR", "synthetic_tables", "write_synthetic"]

GENERATOR = "hmgray.families.retrieval.data.synth"
COLOURS = {
    "red": (200, 40, 40), "green": (40, 170, 60), "blue": (40, 70, 200),
    "yellow": (220, 200, 40), "black": (25, 25, 25), "white": (235, 235, 235),
    "purple": (130, 50, 160), "orange": (235, 130, 30),
}  # fmt: skip
SHAPES = ("bag", "hat", "scarf", "umbrella")
SIDES = ("left", "right")
UPPER_WORDS = ("shirt", "top", "jacket")
LOWER_WORDS = ("trousers", "pants", "skirt")
SIZE, GLYPH = 32, 12
GROUPS = 12
IMAGES_PER_ID = 4
CAPTIONS_PER_IMAGE = 2
P_ABSTRACT = 0.3
# a 12-pixel glyph, 1 pixel of jitter, noise std 6: with an 8-pixel glyph, 3 pixels of
# jitter and std 12 the arms reached only about 30 % test R@1 in the default run's 8
# epochs (the fine traits were not learnt in budget); here CLIP reaches about 50 %
NOISE, BRIGHTNESS, JITTER = 6.0, 0.15, 1
SPLIT = {"train": 0.7, "val": 0.15, "test": 0.15}


def _glyph(shape: str) -> np.ndarray:
    """(GLYPH, GLYPH) bool mask of an accessory shape: a filled square, a bar on top, a
    diagonal band, a cross."""
    g = np.zeros((GLYPH, GLYPH), dtype=bool)
    i, j = np.indices(g.shape)
    if shape == "bag":
        g[1:-1, 1:-1] = True
    elif shape == "hat":
        g[: GLYPH // 3, :] = True
    elif shape == "scarf":
        g[np.abs(i - j) <= 1] = True
    else:  # umbrella
        g[GLYPH // 2 - 1 : GLYPH // 2 + 1, :] = True
        g[:, GLYPH // 2 - 1 : GLYPH // 2 + 1] = True
    return g


def _identities(n_ids: int, n_groups: int, rng: np.random.Generator) -> list[dict]:
    """``n_ids`` identities spread evenly over ``n_groups`` groups, fine traits unique
    within a group."""
    names = list(COLOURS)
    pairs = [(u, v) for u, v in itertools.permutations(names, 2)]
    groups = [pairs[k] for k in rng.choice(len(pairs), n_groups, replace=False)]
    fine = list(itertools.product(SHAPES, names, SIDES))
    per_group = -(-n_ids // n_groups)
    if per_group > len(fine):
        raise ValueError(f"{n_ids} identities need more than {len(fine)} per group")
    out = []
    for g, (upper, lower) in enumerate(groups):
        for k in rng.choice(len(fine), per_group, replace=False):
            shape, acc, side = fine[k]
            out.append({"group": g, "upper": upper, "lower": lower, "shape": shape,
                        "acc": acc, "side": side})  # fmt: skip
    # round robin over the groups, so that the first n_ids are spread evenly
    return [out[g * per_group + k] for k in range(per_group) for g in range(n_groups)][:n_ids]


def _image(ident: dict, rng: np.random.Generator) -> np.ndarray:
    img = np.empty((SIZE, SIZE, 3), dtype=np.float64)
    img[: SIZE // 2] = COLOURS[ident["upper"]]
    img[SIZE // 2 :] = COLOURS[ident["lower"]]
    y = SIZE // 2 - GLYPH // 2 + rng.integers(-JITTER, JITTER + 1)
    x0 = 2 if ident["side"] == "left" else SIZE - GLYPH - 2
    x = x0 + rng.integers(0, JITTER + 1) * (1 if ident["side"] == "left" else -1)
    patch = img[y : y + GLYPH, x : x + GLYPH]
    patch[_glyph(ident["shape"])] = COLOURS[ident["acc"]]
    img *= 1.0 + rng.uniform(-BRIGHTNESS, BRIGHTNESS)
    img += rng.normal(0.0, NOISE, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _caption(ident: dict, abstract: bool, rng: np.random.Generator) -> str:
    upper = rng.choice(UPPER_WORDS)
    lower = rng.choice(LOWER_WORDS)
    article = "an" if ident["upper"][0] in "aeiou" else "a"
    text = f"a person in {article} {ident['upper']} {upper} and {ident['lower']} {lower}"
    if abstract:
        return text
    verb = rng.choice(("carrying", "with"))
    article = "an" if ident["acc"][0] in "aeiou" else "a"
    return f"{text} {verb} {article} {ident['acc']} {ident['shape']} on the {ident['side']}"


def synthetic_tables(n: int, seed: int):
    """(tables by split, context) of exactly ``n`` rows: about ``n / CAPTIONS_PER_IMAGE``
    images of ``n / (CAPTIONS_PER_IMAGE * IMAGES_PER_ID)`` identities (the last image may
    have one caption fewer); fewer than ``GROUPS`` groups when there are fewer than 3
    identities per group (every split needs one of each group)."""
    per_id = IMAGES_PER_ID * CAPTIONS_PER_IMAGE
    n_ids = -(-n // per_id)
    if n_ids < 3:
        raise ValueError(f"need at least {2 * per_id + 1} rows (3 identities), got {n}")
    rng = np.random.default_rng(seed)
    n_groups = min(GROUPS, n_ids // 3)
    idents = _identities(n_ids, n_groups, rng)
    # split identities per group, so every group is in every split
    split_of = np.empty(n_ids, dtype=object)
    for g in range(n_groups):
        members = [i for i, d in enumerate(idents) if d["group"] == g]
        k_val = max(1, round(SPLIT["val"] * len(members)))
        k_test = max(1, round(SPLIT["test"] * len(members)))
        for rank, i in enumerate(members):
            split_of[i] = "test" if rank < k_test else "val" if rank < k_test + k_val else "train"
    rows: dict[str, dict[str, list]] = {s: {} for s in SPLIT}
    sample = 0
    for image_id in range(-(-n // CAPTIONS_PER_IMAGE)):
        pid = image_id // IMAGES_PER_ID
        ident = idents[pid]
        png = encode_png(_image(ident, rng))
        for _ in range(min(CAPTIONS_PER_IMAGE, n - sample)):
            abstract = bool(rng.random() < P_ABSTRACT)
            r = rows[split_of[pid]]
            for key, value in (
                ("sample_id", sample), ("image_id", image_id), ("identity", pid),
                ("image", png), ("caption", _caption(ident, abstract, rng)),
                ("gt_group", ident["group"]), ("gt_upper", ident["upper"]),
                ("gt_lower", ident["lower"]), ("gt_shape", ident["shape"]),
                ("gt_acc_colour", ident["acc"]), ("gt_side", ident["side"]),
                ("gt_abstract", abstract),
            ):  # fmt: skip
                r.setdefault(key, []).append(value)
            sample += 1
    gt = pa.schema([("gt_group", pa.int32()), ("gt_upper", pa.string()),
                    ("gt_lower", pa.string()), ("gt_shape", pa.string()),
                    ("gt_acc_colour", pa.string()), ("gt_side", pa.string()),
                    ("gt_abstract", pa.bool_())])  # fmt: skip
    full = pa.schema(list(ROWS) + list(gt))
    tables = {}
    for name, r in rows.items():  # rows in a seeded random order, not grouped by person
        t = pa.Table.from_pydict(r, schema=full)
        tables[name] = t.take(pa.array(rng.permutation(t.num_rows)))
    context = {
        "image_size": [SIZE, SIZE],
        "num_identities": n_ids,
        "groups": n_groups,
        "split": "by identity: 70/15/15 % of each group's identities to train/val/test",
    }
    return tables, context


def write_synthetic(out_uri: str, n: int, seed: int):
    """Write ``n`` synthetic (image, caption) rows as retrieval shards; return the
    Manifest."""
    from hmgray.data.shards import write_shards

    splits, context = synthetic_tables(n, seed)
    return write_shards(
        splits,
        out_uri,
        task="retrieval",
        dataset=f"synthetic-retrieval-n{n}-seed{seed}",
        generator={
            "name": GENERATOR,
            "seed": seed,
            "params": {
                "n": n,
                "max_groups": GROUPS,
                "images_per_id": IMAGES_PER_ID,
                "p_abstract": P_ABSTRACT,
                "size": SIZE,
            },
        },  # fmt: skip
        context=context,
        rows_per_file=8192,
        row_group_rows=1024,
    )
