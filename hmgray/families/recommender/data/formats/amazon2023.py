"""Amazon Reviews 2023 (McAuley lab) -> recommender shards.

Input: the review files ``<Category>.jsonl`` and the item metadata files
``meta_<Category>.jsonl`` of one or more categories, JSON Lines, plain or gzipped
(``.gz``), local or on a storage URI, with their real keys:

* review: ``rating, title, text, images, asin, parent_asin, user_id, timestamp``
  (milliseconds), ``helpful_vote, verified_purchase``;
* meta: ``main_category, title, average_rating, rating_number, features, description,
  price, images, videos, store, categories, details, parent_asin, bought_together``.

Items are ``parent_asin``; users ``user_id``. An item's text is its title + description
(the description is a list of paragraphs, joined); a review's text is its title + text.
Images come from a local folder (``--images``): the file named after the item
(``<parent_asin>.jpg|png|...``) or, failing that, the file named like the basename of its
MAIN image's URL (``large``, then ``hi_res``, then ``thumb``); an item without one is kept
with its image marked missing. The item graph comes from ``bought_together`` when the
metadata has any pair of kept items in it, else from co-occurrence in the users'
*training* histories (``split.cooccurrence_edges``).

Problems never stop the conversion halfway; each is reported with its file and line
(``conversion_report.json`` beside the manifest; the first ``MAX_LISTED`` are listed, all
are counted): a line that is not JSON (e.g. truncated), a missing or mistyped required
key (``user_id``, ``parent_asin``, ``timestamp``: the review is dropped), a rating
that is not a number (kept as 0), a price that is null, ``"None"`` or not a number (the
price is not used: reported, item kept), a review whose item has no metadata (dropped),
a repeated metadata line (the first kept), a repeated (user, item) review (the earliest
kept). Then, optionally, the k-core filter (``--k-core K``: users and items with fewer
than K reviews are removed until none is left), and the leave-last-out split
(``split.leave_last_out``).

Memory: reviews are parsed into compact arrays (user, item, time, rating, line: 28 bytes
per review) in chunks of ``chunk_rows``; the review texts go to a temporary file on disk
and only each user's last 5 training reviews are read back; metadata is kept only for
items that have reviews. So memory grows with the number of reviews by those 28 bytes and
with the distinct users and items, never with the text.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from hmgray import storage
from hmgray.data.formats.base import ConversionError, ImageFolder, check_input
from hmgray.errors import DataError
from hmgray.families.recommender.data.formats.jsonl import (
    ConversionReport,
    json_lines,
    parse_json,
    text_of,
)
from hmgray.families.recommender.data.schema import TABLE_SCHEMAS
from hmgray.families.recommender.data.split import (
    cooccurrence_edges,
    edges_table,
    leave_last_out,
)

__all__ = ["convert_amazon2023"]


class _Reviews:
    """Parsed reviews: compact arrays in chunks, texts spilled to a temporary file."""

    def __init__(self, chunk_rows: int, spill_dir: str):
        self.chunk_rows = chunk_rows
        self.users: dict[str, int] = {}
        self.items: dict[str, int] = {}
        self.cols: dict[str, list[np.ndarray]] = {
            k: [] for k in ("user", "item", "ts", "rating", "line", "file")
        }
        self.buf: dict[str, list] = {k: [] for k in self.cols}
        self.spill = tempfile.NamedTemporaryFile("w+b", dir=spill_dir, suffix=".txt", delete=False)
        self.offsets: list[np.ndarray] = []
        self.buf_offsets: list[int] = []

    def add(
        self, user: str, item: str, ts: int, rating: float, line: int, file: int, text: str
    ) -> None:
        b = self.buf
        b["user"].append(self.users.setdefault(user, len(self.users)))
        b["item"].append(self.items.setdefault(item, len(self.items)))
        b["ts"].append(ts)
        b["rating"].append(rating)
        b["line"].append(line)
        b["file"].append(file)
        self.buf_offsets.append(self.spill.tell())
        self.spill.write(text.encode("utf-8") + b"\n")
        if len(b["user"]) >= self.chunk_rows:
            self.flush()

    def flush(self) -> None:
        dtypes = {
            "user": np.int32,
            "item": np.int32,
            "ts": np.int64,
            "rating": np.float32,
            "line": np.int64,
            "file": np.int16,
        }
        for k, dtype in dtypes.items():
            if self.buf[k]:
                self.cols[k].append(np.asarray(self.buf[k], dtype=dtype))
            self.buf[k] = []
        if self.buf_offsets:
            self.offsets.append(np.asarray(self.buf_offsets, dtype=np.int64))
        self.buf_offsets = []

    def arrays(self) -> dict[str, np.ndarray]:
        self.flush()
        self.spill.flush()
        out = {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in self.cols.items()}
        out["offset"] = np.concatenate(self.offsets) if self.offsets else np.zeros(0, np.int64)
        return out

    def text(self, offset: int) -> str:
        self.spill.seek(offset)
        return self.spill.readline().decode("utf-8").rstrip("\n")

    def close(self) -> None:
        self.spill.close()
        os.unlink(self.spill.name)


def _read_reviews(
    uris: Sequence[str], reviews: _Reviews, report: ConversionReport, max_rows: int | None
) -> None:
    for f, uri in enumerate(uris):
        for number, line in json_lines(uri):
            if max_rows is not None and report.reviews_read >= max_rows:
                return
            obj = parse_json(line, uri, number, report)
            report.reviews_read += number > 0
            if obj is None:
                continue
            bad = False
            keys = {}
            for key in ("user_id", "parent_asin"):
                v = obj.get(key)
                if not isinstance(v, str) or not v.strip():
                    report.problem(uri, number, key, f"missing or not a string ({v!r})", "dropped")
                    bad = True
                keys[key] = v
            ts = obj.get("timestamp")
            if isinstance(ts, str) and ts.strip().isdigit():
                ts = int(ts)
            if not isinstance(ts, int | float) or isinstance(ts, bool) or not math.isfinite(ts):
                report.problem(
                    uri,
                    number,
                    "timestamp",
                    f"not milliseconds since the epoch ({ts!r})",
                    "dropped",
                )
                bad = True
            if bad:
                continue
            rating = obj.get("rating")
            if (
                not isinstance(rating, int | float)
                or isinstance(rating, bool)
                or not math.isfinite(rating)
            ):
                report.problem(uri, number, "rating", f"not a number ({rating!r})", "kept as 0")
                rating = 0.0
            text = " ".join(t for t in (text_of(obj.get("title")), text_of(obj.get("text"))) if t)
            reviews.add(
                keys["user_id"], keys["parent_asin"], int(ts), float(rating), number, f, text
            )


@dataclass
class _Item:
    title: str
    description: str | None
    image_names: list[str]
    bought_together: list[str]


def _price_problem(price) -> str | None:
    """Why a raw price is unusable, or None for a number (or a '$12.99'-like string)."""
    if price is None:
        return "null"
    if isinstance(price, bool):
        return f"not a number ({price!r})"
    if isinstance(price, int | float):
        return None if math.isfinite(price) and price >= 0 else f"not a valid price ({price!r})"
    if isinstance(price, str):
        try:
            value = float(price.replace("$", "").replace(",", "").strip())
        except ValueError:
            return f"not a number ({price!r})"
        return None if math.isfinite(value) and value >= 0 else f"not a valid price ({price!r})"
    return f"not a number ({price!r})"


def _image_names(images) -> list[str]:
    """Basenames of the MAIN image's URLs (large, hi_res, thumb), then any image's."""
    if not isinstance(images, list):
        return []
    ordered = sorted(
        (im for im in images if isinstance(im, dict)), key=lambda im: im.get("variant") != "MAIN"
    )
    names = []
    for im in ordered:
        for key in ("large", "hi_res", "thumb"):
            url = im.get(key)
            if isinstance(url, str) and url:
                names.append(url.rsplit("/", 1)[-1].split("?")[0])
    return names


def _read_meta(
    uris: Sequence[str], wanted: dict[str, int], report: ConversionReport
) -> dict[int, _Item]:
    items: dict[int, _Item] = {}
    for uri in uris:
        for number, line in json_lines(uri):
            obj = parse_json(line, uri, number, report)
            report.meta_read += number > 0
            if obj is None:
                continue
            key = obj.get("parent_asin")
            if not isinstance(key, str) or not key:
                report.problem(
                    uri, number, "parent_asin", f"missing or not a string ({key!r})", "dropped"
                )
                continue
            if key not in wanted:
                continue  # an item nobody reviewed
            idx = wanted[key]
            if idx in items:
                report.problem(uri, number, "parent_asin", f"{key!r} repeated", "first kept")
                continue
            why = _price_problem(obj.get("price"))
            if why is not None:
                report.problem(uri, number, "price", why, "item kept, price unused")
            title = text_of(obj.get("title"))
            if obj.get("title") is not None and not isinstance(obj.get("title"), str):
                report.problem(uri, number, "title", "not a string", "treated as empty")
            desc = text_of(obj.get("description")) or None
            together = obj.get("bought_together")
            if together is not None and not isinstance(together, list):
                report.problem(
                    uri, number, "bought_together", f"not a list ({together!r})", "ignored"
                )
                together = None
            items[idx] = _Item(
                title,
                desc,
                _image_names(obj.get("images")),
                [t for t in (together or []) if isinstance(t, str)],
            )
    return items


def _k_core(user: np.ndarray, item: np.ndarray, k: int) -> np.ndarray:
    """Mask of the interactions left when users and items with fewer than k are removed
    repeatedly until every remaining user and item has at least k."""
    keep = np.ones(len(user), dtype=bool)
    while True:
        uc = np.bincount(user[keep], minlength=user.max() + 1 if len(user) else 0)
        ic = np.bincount(item[keep], minlength=item.max() + 1 if len(item) else 0)
        bad = keep & ((uc[user] < k) | (ic[item] < k))
        if not bad.any():
            return keep
        keep &= ~bad


def convert_amazon2023(
    reviews_uris: Sequence[str],
    meta_uris: Sequence[str],
    out_uri: str,
    *,
    images_dir: str | None = None,
    image_size: tuple[int, int] = (64, 64),
    k_core: int = 0,
    min_interactions: int = 3,
    chunk_rows: int = 100_000,
    max_rows: int | None = None,
    dataset: str | None = None,
    log=print,
):
    """Convert; returns (Manifest, ConversionReport). ``ConversionError`` (naming the
    file) for a missing input or when no review is left; nothing is written then."""
    for uri in reviews_uris:
        check_input(uri, "review file")
    for uri in meta_uris:
        check_input(uri, "metadata file")
    if chunk_rows < 1:
        raise ConversionError(f"--chunk-rows must be >= 1, got {chunk_rows}")
    folder = ImageFolder(images_dir, image_size) if images_dir else None
    report = ConversionReport()
    t0 = time.time()
    reviews = _Reviews(chunk_rows, tempfile.gettempdir())
    try:
        _read_reviews(reviews_uris, reviews, report, max_rows)
        cols = reviews.arrays()
        log(f"read {report.reviews_read} reviews in {time.time() - t0:.1f}s")
        item_keys = list(reviews.items)
        meta = _read_meta(meta_uris, reviews.items, report)
        has_meta = np.zeros(len(item_keys), dtype=bool)
        has_meta[list(meta)] = True
        for k in np.flatnonzero(~has_meta[cols["item"]]) if len(cols["item"]) else []:
            report.problem(
                reviews_uris[cols["file"][k]], int(cols["line"][k]), "parent_asin",
                f"{item_keys[cols['item'][k]]!r} has no metadata", "dropped",
            )  # fmt: skip
        keep = has_meta[cols["item"]] if len(cols["item"]) else np.zeros(0, bool)
        keep &= _first_of_pair(cols, keep, reviews_uris, report)
        if k_core > 0 and keep.any():
            core = _k_core(cols["user"][keep], cols["item"][keep], k_core)
            idx = np.flatnonzero(keep)
            report.counts[f"k-core {k_core}: removed"] += int((~core).sum())
            keep[idx[~core]] = False
        if not keep.any():
            raise ConversionError(
                f"{', '.join(reviews_uris)}: no review left to convert (see the problems)", report
            )
        opts = _Output(out_uri, dataset, tuple(reviews_uris), image_size, min_interactions, folder)
        return _write(cols, keep, reviews, meta, opts, report)
    finally:
        reviews.close()


def _first_of_pair(cols: dict, keep: np.ndarray, uris, report: ConversionReport) -> np.ndarray:
    """Mask keeping the earliest review of each (user, item) pair among ``keep``."""
    out = np.ones(len(keep), dtype=bool)
    idx = np.flatnonzero(keep)
    if not len(idx):
        return out
    key = cols["user"][idx].astype(np.int64) * (int(cols["item"].max()) + 1) + cols["item"][idx]
    order = np.lexsort((cols["ts"][idx], key))
    dup = np.zeros(len(idx), dtype=bool)
    dup[order[1:]] = key[order[1:]] == key[order[:-1]]
    for k in idx[dup]:
        report.problem(uris[cols["file"][k]], int(cols["line"][k]), "parent_asin",
                       "the user reviewed this item before", "dropped")  # fmt: skip
    out[idx[dup]] = False
    return out


@dataclass(frozen=True)
class _Output:
    """Where and how the kept reviews are written."""

    out_uri: str
    dataset: str | None
    reviews_uris: tuple[str, ...]
    image_size: tuple[int, int]
    min_interactions: int
    folder: ImageFolder | None


def _items_table(old_items, item_keys, meta, folder, report) -> pa.Table:
    """The kept items in their new order, with their images from ``folder``."""
    images, missing = [], 0
    for old in old_items:
        data = None
        name = folder.find(meta[int(old)].image_names, [item_keys[old]]) if folder else None
        if name is not None:
            try:
                data = folder.load(name)
            except DataError as e:
                report.problem(
                    folder.uri, 0, "image", f"{item_keys[old]!r}: {e}", "image marked missing"
                )
        missing += data is None
        images.append(data)
    report.notes.append(
        f"{missing} of {len(old_items)} items without an image (kept, image marked missing)"
    )
    return pa.table(
        {
            "item": pa.array(np.arange(len(old_items)), pa.int32()),
            "item_key": [item_keys[o] for o in old_items],
            "title": [meta[int(o)].title for o in old_items],
            "description": pa.array([meta[int(o)].description for o in old_items], pa.string()),
            "image": pa.array(images, pa.binary()),
        },
        schema=TABLE_SCHEMAS["items"],
    )


def _item_graph(old_items, key_index, meta, train: pa.Table):
    """(pairs (2, E), weights, source): ``bought_together`` pairs among the kept items
    (weight: how often the pair is listed, either way round), else co-purchase counts
    of the training histories."""
    new_of = {int(o): n for n, o in enumerate(old_items)}
    counts: Counter = Counter()
    for old in old_items:
        a = new_of[int(old)]
        for other in meta[int(old)].bought_together:
            b = new_of.get(key_index.get(other, -1))
            if b is not None and b != a:
                counts[(min(a, b), max(a, b))] += 1
    if counts:
        pairs = sorted(counts)
        weight = np.array([counts[p] for p in pairs], dtype=np.float32)
        return np.array(pairs).T, weight, "bought_together (metadata)"
    arr, weight = cooccurrence_edges(train, len(old_items))
    return (
        arr,
        weight,
        "co-purchase in training histories (no bought_together pairs among the items)",
    )


def _write(cols, keep, reviews: _Reviews, meta, opts: _Output, report: ConversionReport):
    from hmgray.data.shards import write_shards

    old_users, user = np.unique(cols["user"][keep], return_inverse=True)
    old_items, item = np.unique(cols["item"][keep], return_inverse=True)
    splits, review_text, split_report = leave_last_out(
        user, item, cols["ts"][keep], cols["rating"][keep],
        _LazyTexts(reviews, cols["offset"][keep]), len(old_users), opts.min_interactions,
    )  # fmt: skip
    review_text = pa.array(review_text, pa.string())  # frees the Python strings
    report.notes += split_report.lines()
    items_table = _items_table(old_items, list(reviews.items), meta, opts.folder, report)
    user_keys = list(reviews.users)
    users_table = pa.table(
        {
            "user": pa.array(np.arange(len(old_users)), pa.int32()),
            "user_key": [user_keys[o] for o in old_users],
            "review_text": review_text,
        },
        schema=TABLE_SCHEMAS["users"],
    )
    pairs, weight, graph = _item_graph(old_items, reviews.items, meta, splits["train"])
    report.notes.append(f"item graph: {pairs.shape[1]} edges from {graph}")
    context = {
        "num_users": len(old_users),
        "num_items": len(old_items),
        "image_size": [int(opts.image_size[0]), int(opts.image_size[1])],
        "graph": graph,
        "split": "leave-last-out per user by time; users with fewer than "
        f"{opts.min_interactions} interactions train only",
        "evaluated_users": split_report.evaluated_users,
    }
    report.reviews_kept = int(keep.sum())
    report.items, report.users = len(old_items), len(old_users)
    names = [os.path.basename(u.split("?")[0]).split(".")[0] for u in opts.reviews_uris]
    manifest = write_shards(
        splits,
        opts.out_uri,
        task="recommender",
        dataset=opts.dataset or "amazon2023-" + "+".join(names),
        generator={
            "name": "amazon2023",
            "reviews": list(opts.reviews_uris),
            "params": {"min_interactions": opts.min_interactions},
        },
        context=context,
        tables={
            "items": items_table,
            "users": users_table,
            "item_edges": edges_table(pairs, weight),
        },
    )
    storage.atomic_write_bytes(
        storage.join(manifest.uri, "conversion_report.json"),
        (json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
    )
    return manifest, report


class _LazyTexts:
    """``texts[k]``: the review text of kept interaction k, read from the spill file."""

    def __init__(self, reviews: _Reviews, offsets: np.ndarray):
        self.reviews, self.offsets = reviews, offsets

    def __getitem__(self, k: int) -> str:
        return self.reviews.text(int(self.offsets[k]))

    def __len__(self) -> int:
        return len(self.offsets)
