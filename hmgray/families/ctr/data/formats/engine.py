"""The click-through converters' engine: raw samples and behaviours -> shards, in memory
bounded by a budget, not by the input.

A format reader (``taobao``, ``userbehavior``, ``ijcai15``) streams two kinds of blocks
with raw integer keys (-1 = unknown):

* samples: ``user, time, label, item, brand, cate, split`` (0 train, 1 validation,
  2 test) and the data set's extra categorical fields;
* behaviours: ``user, time, brand, cate``.

Pass 1 (:class:`Partition`) writes both, hash-partitioned by user, into ``buckets``
Arrow IPC files on local disk, while it collects each field's vocabulary (sorted distinct
raw keys: memory grows with the number of distinct users, items, brands..., never with
rows) and the training impressions per item. Pass 2 reads one bucket at a time: all of a
user's rows are in one bucket, so its histories (``labels.histories``: behaviours
strictly before each sample, newest first) and coarse pseudo-labels (``labels.
coarse_labels``, from the *training* rows) are computed there; the long-tail flag comes
from the global training counts. Rows keep their input order within a bucket and go to
the streaming shard writer (``hmgray.data.shards.ShardWriter``), which writes a file
whenever it has ``rows_per_file`` rows of a split; histories are expanded
``chunk_rows`` samples at a time (a row holds up to 2 x max_history history values).

The bucket count is chosen from the input's size (``bucket_bytes`` of CSV per bucket), so
peak memory is about that share of the input (decoded) plus the vocabularies.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from hmgray import storage
from hmgray.data.formats.base import ConversionError
from hmgray.families.ctr.data.labels import HistoryIndex, coarse_labels, tail_mask
from hmgray.families.ctr.data.schema import CORE_FIELDS, row_schema

__all__ = ["Counts", "Partition", "Vocab", "convert", "random_split", "split_codes"]

SAMPLE_KEYS = ("user", "time", "label", "item", "brand", "cate", "split")
BEHAVIOUR_KEYS = ("user", "time", "brand", "cate")
SPLITS = ("train", "val", "test")
_MERGE_AT = 1 << 22  # pending distinct keys merged into the sorted vocabulary at this size


class Vocab:
    """Distinct raw keys (>= 0) -> indices 1..n in sorted key order; 0 = unknown."""

    def __init__(self) -> None:
        self.keys = np.zeros(0, np.int64)
        self._pending: list[np.ndarray] = []
        self._n = 0

    def add(self, raw: np.ndarray) -> None:
        part = np.unique(raw[raw >= 0])
        self._pending.append(part)
        self._n += len(part)
        if self._n >= _MERGE_AT:
            self.finish()

    def finish(self) -> Vocab:
        if self._pending:
            self.keys = np.unique(np.concatenate([self.keys, *self._pending]))
            self._pending, self._n = [], 0
        return self

    @property
    def size(self) -> int:
        """Vocabulary size including the unknown index 0."""
        return len(self.keys) + 1

    def index(self, raw: np.ndarray) -> np.ndarray:
        if not len(self.keys):
            return np.zeros(len(raw), np.int32)
        pos = np.minimum(np.searchsorted(self.keys, raw), len(self.keys) - 1)
        found = (self.keys[pos] == raw) & (raw >= 0)
        return np.where(found, pos + 1, 0).astype(np.int32)


class Counts:
    """Occurrences per raw key, accumulated block by block."""

    def __init__(self) -> None:
        self.keys = np.zeros(0, np.int64)
        self.counts = np.zeros(0, np.int64)

    def add(self, raw: np.ndarray) -> None:
        keys, counts = np.unique(raw, return_counts=True)
        allk = np.concatenate([self.keys, keys])
        allc = np.concatenate([self.counts, counts])
        self.keys, inverse = np.unique(allk, return_inverse=True)
        self.counts = np.bincount(inverse, weights=allc, minlength=len(self.keys)).astype(np.int64)


def _bucket_of(user: np.ndarray, buckets: int) -> np.ndarray:
    """A user's bucket: a multiplicative hash of the raw id (ids are often sequential)."""
    mixed = (user.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(33)
    return (mixed % np.uint64(buckets)).astype(np.int64)


class Partition:
    """Hash-partitioned spill files of samples and behaviours (Arrow IPC, local disk)."""

    def __init__(self, buckets: int, tmpdir: str):
        self.buckets = buckets
        self.dir = tmpdir
        self._writers: dict[tuple[str, int], ipc.RecordBatchStreamWriter] = {}
        self._files: dict[tuple[str, int], Any] = {}
        self.rows = {"samples": 0, "behaviours": 0}

    def _path(self, kind: str, b: int) -> str:
        return os.path.join(self.dir, f"{kind}-{b:05d}.arrow")

    def add(self, kind: str, columns: Mapping[str, np.ndarray]) -> None:
        user = columns["user"]
        if not len(user):
            return
        bucket = _bucket_of(user, self.buckets)
        order = np.argsort(bucket, kind="stable")
        table = pa.table({k: v[order] for k, v in columns.items()})
        bounds = np.searchsorted(bucket[order], np.arange(self.buckets + 1))
        for b in range(self.buckets):
            lo, hi = bounds[b], bounds[b + 1]
            if hi > lo:
                self._writer(kind, b, table.schema).write_table(table.slice(lo, hi - lo))
        self.rows[kind] += len(user)

    def _writer(self, kind: str, b: int, schema: pa.Schema):
        key = (kind, b)
        if key not in self._writers:
            f = open(self._path(kind, b), "wb")  # noqa: SIM115 - closed in close()
            self._files[key] = f
            self._writers[key] = ipc.new_stream(f, schema)
        return self._writers[key]

    def close(self) -> None:
        for w in self._writers.values():
            w.close()
        for f in self._files.values():
            f.close()
        self._writers.clear()
        self._files.clear()

    def read(self, kind: str, b: int) -> pa.Table | None:
        path = self._path(kind, b)
        if not os.path.exists(path):
            return None
        with open(path, "rb") as f:
            table = ipc.open_stream(f).read_all()
        os.remove(path)  # each bucket is read once
        return table


def _size(uri: str) -> int:
    fs, path = storage.resolve(uri)
    return int(fs.get_file_info(path).size or 0)


def random_split(seed: int, test: float, val: float) -> tuple[str, dict[str, Any]]:
    """(context description, generator params) of :func:`split_codes`'s split."""
    text = f"random by row, seeded ({seed}): {test:.0%} test, {val:.0%} validation, the rest train"
    return text, {"split_seed": seed, "split": {"test": test, "val": val}}


def split_codes(row_numbers: np.ndarray, seed: int, test: float, val: float) -> np.ndarray:
    """A seeded random split of rows by their position in the input: 2 (test) with
    probability ``test``, 1 (validation) with ``val``, else 0 (train). Each row's draw is
    splitmix64(seed, row number), so it does not depend on how the input is chunked."""
    z = row_numbers.astype(np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return np.where(u < test, 2, np.where(u < test + val, 1, 0)).astype(np.int8)


def convert(
    samples: Callable[[], Iterable[Mapping[str, np.ndarray]]],
    behaviours: Callable[[], Iterable[Mapping[str, np.ndarray]]],
    out_uri: str,
    *,
    extra_fields: tuple[str, ...],
    coarse: list[str],
    inputs: Iterable[str],
    dataset: str,
    generator: dict,
    split: str,
    max_history: int = 50,
    tail_share: float = 0.2,
    bucket_bytes: int = 256 << 20,
    rows_per_file: int = 1 << 16,
    chunk_rows: int = 1 << 17,
    report=None,
    echo: Callable[[str], None] = print,
):
    """Run both passes; return the Manifest (see the module docstring). ``report`` (a
    ``ConversionReport``) is written beside it as ``conversion_report.json``.

    ``samples`` and ``behaviours`` are called once each and stream their blocks
    (behaviours after samples); ``inputs`` are the files they read, each read once per
    pass it serves (their sizes set the bucket count). ``split`` describes the split protocol (context). The
    manifest's generator gets the split's sha256 (over the split code of every kept
    sample, in input order) under ``params.split_sha256``.
    """
    from hmgray.data.shards import ShardWriter

    buckets = max(1, math.ceil(sum(_size(uri) for uri in inputs) / bucket_bytes))
    vocab = {f: Vocab() for f in (*CORE_FIELDS, *extra_fields)}
    item_train = Counts()
    split_hash = hashlib.sha256()
    tmpdir = tempfile.mkdtemp(prefix="hmgray-ctr-")
    try:
        part = Partition(buckets, tmpdir)
        n_split = np.zeros(3, np.int64)
        for block in samples():
            for f, v in vocab.items():
                v.add(block[f])
            train = block["split"] == 0
            if train.any():
                item_train.add(block["item"][train])
            codes = block["split"].astype(np.int8)
            split_hash.update(codes.tobytes())
            n_split += np.bincount(codes, minlength=3)
            part.add("samples", block)
        if not n_split.sum():
            raise ConversionError(f"{dataset}: no sample rows left to convert", report)
        if not n_split[0]:
            raise ConversionError(f"{dataset}: no training rows (check the dates)", report)
        for block in behaviours():
            for f in ("brand", "cate"):
                vocab[f].add(block[f])
            part.add("behaviours", block)
        part.close()
        echo(
            f"pass 1: {part.rows['samples']} samples, {part.rows['behaviours']} behaviours "
            f"in {buckets} bucket(s)"
        )
        for v in vocab.values():
            v.finish()
        fields = {f: int(vocab[f].size) for f in (*CORE_FIELDS, *extra_fields)}
        counts = np.zeros(fields["item"], np.int64)
        counts[vocab["item"].index(item_train.keys)] = item_train.counts
        tail = np.concatenate([[True], tail_mask(counts[1:], tail_share)])
        context = {
            "fields": fields,
            "coarse": list(coarse),
            "max_history": int(max_history),
            "tail_share": float(tail_share),
            "split": split,
        }
        schema = row_schema(fields)
        generator = {**generator, "params": {**generator.get("params", {}),
                                             "split_sha256": split_hash.hexdigest()}}  # fmt: skip
        writer = ShardWriter(
            out_uri, task="ctr", dataset=dataset, generator=generator, context=context,
            rows_per_file=rows_per_file, row_group_rows=8192,
        )  # fmt: skip
        with writer:
            next_id = 0
            for b in range(buckets):
                s = part.read("samples", b)
                if s is None:
                    part.read("behaviours", b)
                    continue
                beh = part.read("behaviours", b)
                for rows, codes in _rows(s, beh, vocab, extra_fields, tail, max_history,
                                         schema, next_id, chunk_rows):  # fmt: skip
                    next_id += rows.num_rows
                    for k, name in enumerate(SPLITS):
                        idx = np.flatnonzero(codes == k)
                        if len(idx):
                            writer.write(name, rows.take(pa.array(idx)))
                echo(f"pass 2: bucket {b + 1}/{buckets}, {next_id} rows written")
            for name in SPLITS:
                writer.ensure(name)
        if report is not None:
            storage.atomic_write_bytes(
                storage.join(writer.manifest.uri, "conversion_report.json"),
                json.dumps(report.to_dict(), indent=2).encode(),
            )
        return writer.manifest
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _rows(s: pa.Table, beh: pa.Table | None, vocab, extra_fields, tail, max_history,
          schema: pa.Schema, first_id: int, chunk_rows: int):  # fmt: skip
    """One bucket's output rows, ``chunk_rows`` samples at a time (a history expands a
    row by up to 2 x max_history values: chunks bound that), with their split codes.
    Pseudo-labels need every training row of a user, so they are computed on the whole
    bucket first (integer arrays only)."""
    col = {k: s.column(k).to_numpy() for k in s.column_names}
    user = vocab["user"].index(col["user"])
    item = vocab["item"].index(col["item"])
    brand = vocab["brand"].index(col["brand"])
    cate = vocab["cate"].index(col["cate"])
    label = col["label"].astype(np.int8)
    train = col["split"] == 0
    y_brand = coarse_labels(user, brand, label, train)
    y_cate = coarse_labels(user, cate, label, train)
    extras = {f: vocab[f].index(col[f]) for f in extra_fields}
    index = None
    if beh is not None and beh.num_rows:
        bu = vocab["user"].index(beh.column("user").to_numpy())
        keep = bu > 0
        index = HistoryIndex(
            bu[keep],
            beh.column("time").to_numpy()[keep],
            {
                "brand": vocab["brand"].index(beh.column("brand").to_numpy()[keep]),
                "cate": vocab["cate"].index(beh.column("cate").to_numpy()[keep]),
            },
        )
    del s, beh
    for lo in range(0, len(user), chunk_rows):
        sl = slice(lo, lo + chunk_rows)
        n = len(user[sl])
        if index is not None:
            hist = index.lookup(user[sl], col["time"][sl], max_history)
        else:
            empty = pa.array([[]] * n, pa.list_(pa.int32()))
            hist = {"brand": empty, "cate": empty}
        data = {
            "sample_id": pa.array(np.arange(first_id + lo, first_id + lo + n), pa.int64()),
            "time": pa.array(col["time"][sl], pa.int64()),
            "label": pa.array(label[sl], pa.int8()),
            "user": pa.array(user[sl], pa.int32()),
            "item": pa.array(item[sl], pa.int32()),
            "brand": pa.array(brand[sl], pa.int32()),
            "cate": pa.array(cate[sl], pa.int32()),
            "hist_brand": hist["brand"],
            "hist_cate": hist["cate"],
            "y_brand": pa.array(y_brand[sl], pa.int8()),
            "y_cate": pa.array(y_cate[sl], pa.int8()),
            "tail": pa.array(tail[item[sl]]),
            **{f: pa.array(v[sl], pa.int32()) for f, v in extras.items()},
        }
        yield pa.table(data, schema=schema), col["split"][sl]
