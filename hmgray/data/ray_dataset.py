"""Shards -> Ray Data: ``read_parquet`` -> ``map_batches(decode)`` on CPU -> (materialize).

The decoded splits are handed to every Ray Train run of an experiment. By default they
are materialised once in the driver, before any trial starts: decoding happens once
per experiment instead of once per trial and epoch, and the trials' Ray Train workers
then stream from the object store with no read task of their own. That matters on a
small machine: a read or decode task asks for a whole CPU, and with a 1-CPU training
worker per trial on 2 CPUs it would wait forever (the worker group holds the CPU the
read needs). ``materialize=False`` keeps the lazy, fully streaming pipeline for data
sets larger than the cluster's object store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ray

from hmgray.data.shards import Manifest
from hmgray.errors import DataError
from hmgray.task import Task

DECODE_BATCH_ROWS = 256  # rows per decode task: small enough to stream, big enough to amortise


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


def decoded_splits(
    manifest: Manifest,
    task: Task,
    settings: Mapping[str, Any],
    splits: tuple[str, ...] = ("train", "val", "test"),
    *,
    materialize: bool = True,
) -> dict[str, ray.data.Dataset]:
    """Decoded datasets of several splits, materialised once unless told otherwise."""
    out = {}
    for split in splits:
        ds = split_dataset(manifest, split, task, settings)
        out[split] = ds.materialize() if materialize else ds
    return out
