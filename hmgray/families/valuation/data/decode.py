"""Listing table -> model-ready numpy batch (docs/contracts.md section 3).

Runs inside Ray Data ``map_batches(decode_batch, batch_format="pyarrow")``, so it takes an
Arrow table and returns a dict of numpy arrays. Axes: B listings, H x W pixels, L =
``max_words`` tokens, R = ``max_regions`` scene regions.

Images: PNG/JPEG bytes decoded with PIL, converted to RGB, resized (bilinear) when their
size differs from ``image_size`` = (H, W), scaled to [0, 1]. Missing images give zeros and
``has_image = 0``; undecodable bytes raise ``DataError`` naming the listing.

Text: ``tokenize`` then ``hash_tokens``; the first L tokens are kept. ``text_heads`` are
copied for the kept tokens; a head that points past the kept tokens (>= L) becomes -1, so
each truncated tree is re-rooted where it was cut. Padding: token 0, head -1.

List columns are converted with their Arrow offsets (no per-row Python loops), the only
per-row work is image decoding and tokenisation.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hmgray.data.arrow import as_array as _as_array
from hmgray.data.arrow import pad_lists as _pad_lists
from hmgray.data.images import decode_image
from hmgray.data.text import tokenize, word_hash
from hmgray.errors import ConfigError, DataError

__all__ = ["decode_batch"]


def decode_batch(
    table: pa.Table,
    *,
    image_size: tuple[int, int] = (48, 48),
    max_words: int = 32,
    max_regions: int = 8,
    vocab_size: int = 4096,
) -> dict[str, np.ndarray]:
    """Decode a listings table into the contract's numpy batch.

    Returns (B = ``table.num_rows``, H, W = ``image_size``, L = ``max_words``,
    R = ``max_regions``):

    ``image`` float32 (B, 3, H, W) in [0, 1]; ``has_image`` float32 (B,);
    ``tokens`` int64 (B, L), 0 = padding; ``text_heads`` int64 (B, L) in [0, L) or -1;
    ``scene_boxes`` float32 (B, R, 4) zero padded; ``scene_labels`` int64 (B, R);
    ``scene_mask`` float32 (B, R); ``msrp``, ``price`` float32 (B,);
    ``location_id``, ``period``, ``item_model_id`` int64 (B,); ``subtle`` float32 (B,).
    Regions beyond R are dropped.
    """
    if max_words < 1 or max_regions < 1 or vocab_size < 2:
        raise ConfigError(
            f"decode_batch: max_words={max_words}, max_regions={max_regions} must be >= 1 and "
            f"vocab_size={vocab_size} >= 2"
        )
    h, w = int(image_size[0]), int(image_size[1])
    b = table.num_rows
    ids = table.column("listing_id").to_pylist()

    # images: uint8 (B, 3, H, W) filled per listing, then one contiguous conversion
    pixels = np.zeros((b, 3, h, w), dtype=np.uint8)
    has_image = np.zeros(b, dtype=np.float32)
    for i, data in enumerate(table.column("image").to_pylist()):
        if data is None:
            continue
        pixels[i] = decode_image(data, (h, w), f"listing {ids[i]!r}").transpose(
            2, 0, 1
        )  # HWC -> CHW
        has_image[i] = 1.0
    image = pixels.astype(np.float32)
    image *= np.float32(1.0 / 255.0)  # (B, 3, H, W) in [0, 1]

    # text: hashed ids of the first L tokens; heads cut at L
    tokens = np.zeros((b, max_words), dtype=np.int64)
    n_tokens = np.zeros(b, dtype=np.int64)
    for i, text in enumerate(table.column("description").to_pylist()):
        words = tokenize(text)
        n_tokens[i] = len(words)
        kept = words[:max_words]
        tokens[i, : len(kept)] = [word_hash(x) for x in kept]
    # same ids as hash_tokens, vectorised: 1 + crc32 mod (V - 1). Positions come from the
    # token counts, not from the values: a real word may have crc32 == 0.
    valid = np.arange(max_words)[None, :] < np.minimum(n_tokens, max_words)[:, None]  # (B, L)
    tokens[valid] = 1 + tokens[valid] % (vocab_size - 1)
    heads, n_heads = _pad_lists(_as_array(table.column("text_heads")), max_words, -1, np.int64)
    bad = n_heads != n_tokens
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"listing {ids[i]!r}: column 'text_heads' has {n_heads[i]} heads for "
            f"{n_tokens[i]} tokens ({int(bad.sum())} such row(s) in the batch)"
        )
    heads[heads >= max_words] = -1  # head truncated away: the token becomes a root

    # scene graph regions: boxes via the outer offsets into the flat (n_boxes, 4) array
    outer = _as_array(table.column("scene_boxes"))
    inner = outer.values  # one 4-float list per box, across all rows
    inner_off = inner.offsets.to_numpy()
    if len(inner) and np.any(np.diff(inner_off) != 4):
        raise DataError("column 'scene_boxes' has boxes without 4 values")
    flat = inner.values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    box_of = inner_off[:-1]  # start of each box in `flat`
    starts = outer.offsets.to_numpy()
    n_regions = np.diff(starts)
    cols = np.arange(max_regions)
    mask = cols[None, :] < n_regions[:, None]  # (B, R)
    scene_boxes = np.zeros((b, max_regions, 4), dtype=np.float32)
    if mask.any():
        box_idx = (starts[:-1, None] + cols[None, :])[mask]
        scene_boxes[mask] = flat[box_of[box_idx, None] + np.arange(4)[None, :]]
    scene_labels, _ = _pad_lists(_as_array(table.column("scene_labels")), max_regions, 0, np.int64)

    if "gt_defect_subtle" in table.column_names:
        subtle = pc.fill_null(table.column("gt_defect_subtle"), False)
        subtle = subtle.to_numpy().astype(np.float32)
    else:
        subtle = np.zeros(b, dtype=np.float32)

    def num(name, dtype):
        return table.column(name).to_numpy().astype(dtype, copy=False)

    return {
        "image": image,
        "has_image": has_image,
        "tokens": tokens,
        "text_heads": heads,
        "scene_boxes": scene_boxes,
        "scene_labels": scene_labels,
        "scene_mask": mask.astype(np.float32),
        "msrp": num("msrp", np.float32),
        "price": num("price", np.float32),
        "location_id": num("location_id", np.int64),
        "period": num("period", np.int64),
        "item_model_id": num("item_model_id", np.int64),
        "subtle": subtle,
    }
