"""Shards -> Ray Data: ``read_parquet`` -> ``map_batches(decode)`` on CPU -> (materialize).

The decoded splits are handed to every Ray Train run of an experiment. By default they
are materialised once in the driver, before any trial starts: decoding happens once
per experiment instead of once per trial and epoch, and the trials' Ray Train workers
then stream from the object store with no read task of their own. That matters on a
small machine: a read or decode task asks for a whole CPU, and with a 1-CPU training
worker per trial on 2 CPUs it would wait forever (the worker group holds the CPU the
read needs). ``materialize=False`` keeps the lazy, fully streaming pipeline for data
sets larger than the cluster's object store: Ray Data reads and decodes while the
workers train (the usual case for image data on a GPU cluster).

``materialize="auto"`` (the runner's default, ``--data-path auto``) picks between the two
by size: :func:`choose_data_path` decodes a sample of each split in the driver, scales
its bytes per row to the split's rows (from the manifest) and materialises when the whole decoded
data fits in ``MATERIALIZE_SHARE`` of the object store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import ray

from hmgray.data.shards import Manifest
from hmgray.errors import DataError
from hmgray.task import Task

DECODE_BATCH_ROWS = 256  # rows per decode task: small enough to stream, big enough to amortise
# Materialised splits live in the object store for the whole experiment; the rest of it
# is needed for what streams through it meanwhile (each run's batches, Tune's results),
# and Ray spills to disk beyond it. Half leaves room for that.
MATERIALIZE_SHARE = 0.5
SAMPLE_ROWS = 256  # rows decoded to measure a split's decoded bytes per row
DATA_PATHS = ("auto", "materialize", "stream")


@dataclass(frozen=True)
class DataPath:
    """What :func:`choose_data_path` decided and from what (the runner prints ``why``)."""

    materialize: bool
    why: str  # the flag, or the estimated size against the object store

    @property
    def name(self) -> str:
        return "materialize" if self.materialize else "stream"


def decode(
    ds: ray.data.Dataset, task: Task, context: Mapping[str, Any], settings: Mapping[str, Any]
) -> ray.data.Dataset:
    """``ds`` (rows in the task's shard format) -> the task's decoded batches (lazy)."""
    return ds.map_batches(
        task.decoder(context, settings), batch_format="pyarrow", batch_size=DECODE_BATCH_ROWS
    )


def split_dataset(
    manifest: Manifest, split: str, task: Task, settings: Mapping[str, Any]
) -> ray.data.Dataset:
    """The decoded Ray Dataset of one split (lazy)."""
    if split not in manifest.splits:
        raise DataError(
            f"{manifest.manifest_uri}: no files for split {split!r} (has {list(manifest.splits)})"
        )
    fs, paths = manifest.filesystem_paths(split)
    return decode(ray.data.read_parquet(paths, filesystem=fs), task, manifest.context, settings)


def decoded_bytes(
    manifest: Manifest,
    task: Task,
    settings: Mapping[str, Any],
    splits: tuple[str, ...],
    sample_rows: int = SAMPLE_ROWS,
) -> int:
    """Estimated bytes of the decoded ``splits`` in the object store: the first
    ``sample_rows`` rows of each split's first file decoded here, in the driver, by the
    task's own decoder (no Ray task: it must not cost the start-up of every experiment),
    their bytes per row times the split's rows (from the manifest). Rows of one split
    share one decoded shape, so the sample's size per row is the split's, up to
    variable-length fields."""
    import pyarrow.parquet as pq

    decode_fn = task.decoder(manifest.context, settings)
    total = 0.0
    for split in splits:
        rows = manifest.rows(split)
        if rows == 0:
            continue
        fs, paths = manifest.filesystem_paths(split)
        with fs.open_input_file(paths[0]) as f:
            head = next(pq.ParquetFile(f).iter_batches(batch_size=sample_rows))
        table = pa.Table.from_batches([head])
        decoded = decode_fn(table)
        n = table.num_rows
        if n:
            total += sum(_nbytes(v) for v in decoded.values()) / n * rows
    return int(total)


def _nbytes(value: Any) -> int:
    """Bytes of one decoded column (numpy array, Arrow array or table)."""
    nbytes = getattr(value, "nbytes", None)
    return int(nbytes) if nbytes is not None else int(np.asarray(value).nbytes)


def choose_data_path(
    manifest: Manifest,
    task: Task,
    settings: Mapping[str, Any],
    splits: tuple[str, ...],
    how: str = "auto",
    object_store_bytes: int | None = None,
) -> DataPath:
    """Materialise once or stream: ``how`` is ``materialize``, ``stream`` or ``auto``
    (materialise when the estimated decoded size, :func:`decoded_bytes`, is at most
    ``MATERIALIZE_SHARE`` of ``object_store_bytes``, by default the running cluster's
    ``object_store_memory``)."""
    if how not in DATA_PATHS:
        raise DataError(f"--data-path: {how!r} is not one of {', '.join(DATA_PATHS)}")
    if how != "auto":
        return DataPath(how == "materialize", f"--data-path {how}")
    if object_store_bytes is None:
        object_store_bytes = int(ray.cluster_resources().get("object_store_memory", 0))
    size = decoded_bytes(manifest, task, settings, splits)
    fits = size <= MATERIALIZE_SHARE * object_store_bytes
    why = (
        f"decoded data ~{size / 2**20:,.0f} MiB {'within' if fits else 'over'} "
        f"{MATERIALIZE_SHARE:.0%} of the {object_store_bytes / 2**30:.1f} GiB object store"
    )
    return DataPath(fits, why)


def decoded_splits(
    manifest: Manifest,
    task: Task,
    settings: Mapping[str, Any],
    splits: tuple[str, ...] = ("train", "val", "test"),
    *,
    materialize: bool = True,
) -> dict[str, ray.data.Dataset]:
    """Decoded datasets of several splits, materialised once (``materialize``) or lazy,
    read and decoded while the workers train (:func:`choose_data_path` picks)."""
    out = {}
    for split in splits:
        ds = split_dataset(manifest, split, task, settings)
        out[split] = ds.materialize() if materialize else ds
    return out
