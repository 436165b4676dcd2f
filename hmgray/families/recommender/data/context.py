"""The recommender's side tables -> the arrays its model holds (``Task.load_context``).

Read once in the driver; the arrays travel to every Ray Train worker with the trial
(Tune's ``with_parameters`` puts them in the object store once). Axes: N items, U users,
E training interactions.

* ``item_tokens`` (N, ITEM_TOKENS) int32: hashed ids of ``title + " " + description``
  (title only when the description is missing), 0-padded; ``item_has_text`` (N,) bool.
* ``user_tokens`` (U, USER_TOKENS) int32 of ``review_text``; ``user_has_text`` (U,).
* ``item_images`` (N, 3, H, W) uint8 at the context's ``image_size``; ``item_has_image``.
* ``hist_offsets`` (U + 1,) int64, ``hist_items`` (E,) int64: each user's training items
  in time order (CSR).
* ``edge_index`` (2, 2 * edges) int64 (both directions), ``edge_weight`` float32.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from hmgray import storage
from hmgray.data.images import decode_image
from hmgray.data.text import hash_tokens, tokenize
from hmgray.families.recommender.config import ITEM_TOKENS, USER_TOKENS, VOCAB_SIZE

__all__ = ["load_context", "token_matrix"]


def token_matrix(texts: list[str | None], width: int, vocab_size: int = VOCAB_SIZE):
    """(len(texts), width) int32 hashed token ids (0-padded) and (len,) has-text flags."""
    out = np.zeros((len(texts), width), dtype=np.int32)
    for k, text in enumerate(texts):
        ids = hash_tokens(tokenize(text or "")[:width], vocab_size)
        out[k, : len(ids)] = ids
    return out, out[:, 0] > 0


def _item_texts(items: pa.Table) -> list[str]:
    titles = items.column("title").to_pylist()
    descs = items.column("description").to_pylist()
    return [f"{t or ''} {d}" if d else (t or "") for t, d in zip(titles, descs, strict=True)]


def load_context(manifest) -> dict[str, Any]:
    ctx = dict(manifest.context)
    n_items, n_users = ctx["num_items"], ctx["num_users"]
    h, w = ctx["image_size"]
    items = manifest.read_table("items")
    users = manifest.read_table("users")
    edges = manifest.read_table("item_edges")

    item_tokens, item_has_text = token_matrix(_item_texts(items), ITEM_TOKENS)
    user_tokens, user_has_text = token_matrix(users.column("review_text").to_pylist(), USER_TOKENS)
    images = np.zeros((n_items, 3, h, w), dtype=np.uint8)
    has_image = np.zeros(n_items, dtype=bool)
    keys = items.column("item_key").to_pylist()
    for k, data in enumerate(items.column("image").to_pylist()):
        if data is not None:
            images[k] = decode_image(data, (h, w), f"item {keys[k]!r}").transpose(2, 0, 1)
            has_image[k] = True

    parts = [
        storage.read_parquet(uri).select(["user", "item", "timestamp"])
        for uri in manifest.files_for("train")
    ]
    train = pa.concat_tables(parts)
    u = train.column("user").to_numpy().astype(np.int64)
    order = np.lexsort((train.column("timestamp").to_numpy(), u))
    hist_items = train.column("item").to_numpy().astype(np.int64)[order]
    offsets = np.concatenate([[0], np.cumsum(np.bincount(u, minlength=n_users))]).astype(np.int64)

    src = edges.column("src").to_numpy().astype(np.int64)
    dst = edges.column("dst").to_numpy().astype(np.int64)
    weight = edges.column("weight").to_numpy().astype(np.float32)
    ctx.update(
        item_tokens=item_tokens,
        item_has_text=item_has_text,
        user_tokens=user_tokens,
        user_has_text=user_has_text,
        item_images=images,
        item_has_image=has_image,
        hist_offsets=offsets,
        hist_items=hist_items,
        edge_index=np.stack([np.concatenate([src, dst]), np.concatenate([dst, src])]),
        edge_weight=np.concatenate([weight, weight]),
    )
    return ctx
