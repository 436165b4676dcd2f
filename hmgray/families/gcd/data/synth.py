"""Seeded synthetic images with a planted class hierarchy for category discovery (GCD).

Tree: ``SUPER`` super-classes -> ``PER_SUPER`` classes each. A super-class fixes the
image's **background** colour and the **shape** drawn on it (a filled square, a bar, a
diagonal band, a cross); a class adds its own **foreground colour** and the shape's
**position** (one of four quadrants) within its super-class, a combination unique in the
super-class. So images of one super-class share what is coarse (background, shape) and
differ in what is fine (colour, place): a model that groups by the coarse traits finds
super-classes, one that sees the fine ones finds classes.

Old and new classes: in every super-class the first ``PER_SUPER // 2`` classes are old
(known), the rest new, so **every new class shares its super-class with old ones**, the
situation a hierarchy-aware loss exploits (``tests/families/gcd/data/test_synth.py``
proves it). The GCD split: a seeded ``LABELLED`` share of the old classes' training images
is labelled; the unlabelled training images (the rest of the old, all of the new) are what
is clustered and scored (All / Old / New, ``hmgray.families.gcd.metrics``). A seeded
``HELD_OUT`` share of the labelled images is held out for validation (accuracy on known
classes, never a test label). Each image: jitter of the shape's position, brightness,
pixel noise.

Splits and columns: ``hmgray.families.gcd.data.schema`` (``train``: labelled and
unlabelled images; ``val``: held-out labelled; ``test``: the unlabelled training images
again), plus the truth ``gt_super``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from hmgray.data.images import encode_png

__all__ = ["GENERATOR", "synthetic_tables", "write_synthetic"]

GENERATOR = "hmgray.families.gcd.data.synth"
SUPER, PER_SUPER = 4, 6
# noise, jitter and brightness set so that the Euclidean base does not reach 100 %: at
# (1, 6, 0.15) it clustered the test images perfectly in 8 epochs and no arm could differ
SIZE, GLYPH, JITTER, NOISE, BRIGHTNESS = 32, 12, 3, 40.0, 0.3
LABELLED, HELD_OUT = 0.5, 0.2
BACKGROUNDS = ((60, 60, 60), (200, 200, 200), (40, 60, 120), (120, 80, 40))
SHAPES = ("square", "bar", "band", "cross")
COLOURS = ((220, 40, 40), (40, 190, 60), (40, 90, 230), (230, 210, 40), (160, 50, 180),
           (240, 140, 30), (30, 200, 200), (250, 250, 250))  # fmt: skip
QUADRANTS = ((2, 2), (2, 18), (18, 2), (18, 18))  # (top, left) of the glyph


def _mask(shape: str) -> np.ndarray:
    i, j = np.indices((GLYPH, GLYPH))
    if shape == "square":
        return np.ones((GLYPH, GLYPH), dtype=bool)
    if shape == "bar":
        return i < GLYPH // 3
    if shape == "band":
        return np.abs(i - j) <= 1
    return (np.abs(i - GLYPH // 2) <= 1) | (np.abs(j - GLYPH // 2) <= 1)  # cross


def class_tree(seed: int) -> list[dict]:
    """Every class: its super-class, whether it is old, its foreground colour and quadrant
    (unique within the super-class)."""
    rng = np.random.default_rng(seed)
    combos = [(c, q) for c in range(len(COLOURS)) for q in range(len(QUADRANTS))]
    out = []
    for s in range(SUPER):
        for k, idx in enumerate(rng.choice(len(combos), PER_SUPER, replace=False)):
            colour, quadrant = combos[idx]
            out.append({"super": s, "old": k < PER_SUPER // 2, "colour": colour,
                        "quadrant": quadrant})  # fmt: skip
    return out


def _image(cls: dict, rng: np.random.Generator) -> np.ndarray:
    img = np.empty((SIZE, SIZE, 3), dtype=np.float64)
    img[:] = BACKGROUNDS[cls["super"]]
    top, left = QUADRANTS[cls["quadrant"]]
    top += int(rng.integers(-JITTER, JITTER + 1))
    left += int(rng.integers(-JITTER, JITTER + 1))
    top, left = min(max(top, 0), SIZE - GLYPH), min(max(left, 0), SIZE - GLYPH)
    patch = img[top : top + GLYPH, left : left + GLYPH]
    patch[_mask(SHAPES[cls["super"]])] = COLOURS[cls["colour"]]
    img *= 1.0 + rng.uniform(-BRIGHTNESS, BRIGHTNESS)
    img += rng.normal(0.0, NOISE, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def synthetic_tables(n: int, seed: int) -> tuple[dict[str, pa.Table], dict]:
    """(tables by split, context) of ``n`` images: classes drawn uniformly (every class at
    least once), the GCD split seeded. ``train`` holds the labelled and unlabelled
    images, ``val`` the held-out labelled ones, ``test`` the unlabelled training images
    again (``hmgray.families.gcd.data.schema``)."""
    n_classes = SUPER * PER_SUPER
    if n < 4 * n_classes:
        raise ValueError(f"need at least {4 * n_classes} images ({n_classes} classes), got {n}")
    rng = np.random.default_rng(seed)
    tree = class_tree(seed)
    labels = np.concatenate([np.arange(n_classes), rng.integers(0, n_classes, n - n_classes)])
    labels = rng.permutation(labels)  # every class at least once
    old = np.array([tree[c]["old"] for c in labels])
    labelled = old & (rng.random(n) < LABELLED)
    held = labelled & (rng.random(n) < HELD_OUT)
    images = [encode_png(_image(tree[c], rng)) for c in labels]
    table = pa.table(
        {
            "sample_id": pa.array(np.arange(n), pa.int64()),
            "image": pa.array(images, pa.binary()),
            "label": pa.array(labels, pa.int32()),
            "labelled": pa.array(labelled),
            "old": pa.array(old),
            "gt_super": pa.array([tree[c]["super"] for c in labels], pa.int32()),
        }
    )
    splits = {
        "train": table.filter(pa.array(~held)),
        "val": table.filter(pa.array(held)),
        "test": table.filter(pa.array(~labelled)),
    }
    context = {
        "image_size": [SIZE, SIZE],
        "num_classes": n_classes,
        "old_classes": [c for c in range(n_classes) if tree[c]["old"]],
        "split": f"{LABELLED:.0%} of the old classes' images labelled (seed {seed}), "
        f"{HELD_OUT:.0%} of those held out for validation; test = the unlabelled training "
        "images (transductive)",
    }
    return splits, context


def write_synthetic(out_uri: str, n: int, seed: int):
    """Write ``n`` synthetic images as category discovery shards; return the Manifest."""
    from hmgray.data.shards import write_shards

    splits, context = synthetic_tables(n, seed)
    return write_shards(
        splits,
        out_uri,
        task="gcd",
        dataset=f"synthetic-gcd-n{n}-seed{seed}",
        generator={
            "name": GENERATOR,
            "seed": seed,
            "params": {
                "n": n,
                "super": SUPER,
                "per_super": PER_SUPER,
                "size": SIZE,
                "labelled": LABELLED,
                "held_out": HELD_OUT,
            },
        },  # fmt: skip
        context=context,
        rows_per_file=8192,
        row_group_rows=1024,
    )
