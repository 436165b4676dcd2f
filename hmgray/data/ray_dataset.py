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

from dataclasses import dataclass

import pyarrow as pa
import ray

from hmgray.data.shards import Manifest
from hmgray.errors import DataError
from hmgray.families.valuation.data.decode import decode_batch


@dataclass(frozen=True)
class DecodeOptions:
    """Shapes the decoder pads to; they must match the model config."""

    max_words: int = 32
    max_regions: int = 4
    vocab_size: int = 4096


def _decode(table: pa.Table, image_size: tuple[int, int], opts: DecodeOptions) -> dict:
    return decode_batch(
        table,
        image_size=image_size,
        max_words=opts.max_words,
        max_regions=opts.max_regions,
        vocab_size=opts.vocab_size,
    )


def split_dataset(
    manifest: Manifest,
    split: str,
    opts: DecodeOptions = DecodeOptions(),
    *,
    batch_size: int = 256,
) -> ray.data.Dataset:
    """The decoded Ray Dataset of one split (lazy)."""
    if split not in manifest.splits:
        raise DataError(
            f"{manifest.manifest_uri}: no files for split {split!r} (has {list(manifest.splits)})"
        )
    fs, paths = manifest.filesystem_paths(split)
    ds = ray.data.read_parquet(paths, filesystem=fs)
    return ds.map_batches(
        _decode,
        batch_format="pyarrow",
        batch_size=batch_size,
        fn_kwargs={"image_size": tuple(manifest.image_size), "opts": opts},
    )


def decoded_splits(
    manifest: Manifest,
    splits: tuple[str, ...] = ("train", "val", "test"),
    opts: DecodeOptions = DecodeOptions(),
    *,
    materialize: bool = True,
) -> dict[str, ray.data.Dataset]:
    """Decoded datasets of several splits, materialised once unless told otherwise."""
    out = {}
    for split in splits:
        ds = split_dataset(manifest, split, opts)
        out[split] = ds.materialize() if materialize else ds
    return out
