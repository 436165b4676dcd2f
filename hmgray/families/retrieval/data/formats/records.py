"""What the retrieval converters share: a checked record, the image loader, the split of
identities, and the writer.

Every converter turns its files into :class:`Record` s (one image, its captions, its
identity key and split), reporting and dropping what is malformed; :func:`write_records`
then loads each image from the local folder (decoded, EXIF-oriented, resized to
``image_size`` and re-encoded as PNG, so shards hold small images every worker decodes
alike), drops and reports an image that is missing or undecodable, and streams one row
per caption into shards (``hmgray.data.shards.ShardWriter``: on any error nothing is left
behind). Identities are renumbered 0..K-1 in order of first appearance.

A data set without a validation split (ICFG-PEDES, CUB-200-2011) gets one from its
training split, by identity for person search (a seeded share of the training
identities: the protocol's test identities are unseen, so validation must be too) and by
image for CUB (its split shares classes between train and test).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from hmgray import storage
from hmgray.data.formats.base import ConversionError, ConversionReport, check_input, load_resized
from hmgray.families.retrieval.data.schema import ROWS

__all__ = ["Record", "carve_validation", "load_json_list", "write_records"]

SPLITS = ("train", "val", "test")


@dataclass
class Record:
    """One image of a data set: where it is (relative to the images folder), its captions,
    its identity (or class) key, its split, and where it was read (for the report)."""

    path: str
    captions: list[str]
    identity: object
    split: str
    where: str
    number: int  # the record's 1-based position in its file


def load_json_list(uri: str, what: str) -> list:
    """The JSON array in ``uri``; ``ConversionError`` naming the file otherwise."""
    check_input(uri, what)
    try:
        doc = json.loads(storage.read_bytes(uri))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConversionError(f"{uri}: not valid JSON ({e})") from e
    if not isinstance(doc, list):
        raise ConversionError(f"{uri}: expected a JSON array of records, got {type(doc).__name__}")
    return doc


def clean_captions(value, where: str, number: int, report: ConversionReport) -> list[str]:
    """The non-empty string captions of a record's ``captions`` field (others reported)."""
    if not isinstance(value, list):
        report.problem(where, number, "captions", f"not a list: {value!r:.60}", "record dropped")
        return []
    out = []
    for c in value:
        if isinstance(c, str) and c.strip():
            out.append(" ".join(c.split()))
        else:
            report.problem(where, number, "captions", f"empty or not text: {c!r:.60}",
                           "caption dropped")  # fmt: skip
    return out


def carve_validation(records: list[Record], share: float, seed: int, by: str) -> str:
    """Move a seeded ``share`` of the training records to ``val``, ``by`` identity (all of
    a drawn identity's images) or by image; returns the sentence for the manifest."""
    rng = np.random.default_rng(seed)
    train = [r for r in records if r.split == "train"]
    if by == "identity":
        keys = sorted({str(r.identity) for r in train})
        drawn = set(rng.permutation(keys)[: max(1, round(share * len(keys)))].tolist())
        for r in train:
            if str(r.identity) in drawn:
                r.split = "val"
    else:
        idx = rng.permutation(len(train))[: max(1, round(share * len(train)))]
        for i in idx:
            train[i].split = "val"
    plural = {"identity": "identities", "image": "images"}[by]
    return f"val: {share:.0%} of the training {plural}, seed {seed}"


def write_records(
    records: Sequence[Record],
    images_uri: str,
    out_uri: str,
    report: ConversionReport,
    *,
    dataset: str,
    converter: str,
    image_size: tuple[int, int],
    split_note: str,
    inputs: Iterable[str],
    rows_per_file: int = 4096,
):
    """Write ``records`` as retrieval shards (one row per caption); return the Manifest.
    ``conversion_report.json`` is written beside it."""
    from hmgray.data.shards import ShardWriter

    check_input(images_uri, "images folder")
    ids: dict[str, int] = {}
    for r in records:
        ids.setdefault(f"{r.identity}", len(ids))
    if not ids:
        raise ConversionError(f"{converter}: no usable record in {', '.join(inputs)}", report)
    context = {"image_size": [int(image_size[0]), int(image_size[1])],
               "num_identities": len(ids), "split": split_note}  # fmt: skip
    generator = {"name": f"hmgray.families.retrieval.data.formats ({converter})",
                 "inputs": [os.path.basename(str(i)) for i in inputs],
                 "params": {"image_size": list(image_size)}}  # fmt: skip
    sample = 0
    with ShardWriter(out_uri, task="retrieval", dataset=dataset, generator=generator,
                     context=context, rows_per_file=rows_per_file,
                     row_group_rows=256) as writer:  # fmt: skip
        for s in SPLITS:
            writer.ensure(s)
        buffers: dict[str, dict[str, list]] = {s: {c: [] for c in ROWS.names} for s in SPLITS}
        for image_id, r in enumerate(records):
            uri = storage.join(images_uri, r.path)
            png = load_resized(uri, r.path, image_size, report, r.where, r.number,
                               "record dropped")  # fmt: skip
            if png is None:
                continue
            b = buffers[r.split]
            for caption in r.captions:
                for key, value in (("sample_id", sample), ("image_id", image_id),
                                   ("identity", ids[f"{r.identity}"]), ("image", png),
                                   ("caption", caption)):  # fmt: skip
                    b[key].append(value)
                sample += 1
            report.kept[f"{r.split} images"] += 1
            report.kept[f"{r.split} captions"] += len(r.captions)
            if len(b["sample_id"]) >= 1024:
                writer.write(r.split, pa.Table.from_pydict(b, schema=ROWS))
                buffers[r.split] = {c: [] for c in ROWS.names}
        for s, b in buffers.items():
            if b["sample_id"]:
                writer.write(s, pa.Table.from_pydict(b, schema=ROWS))
        if sample == 0:
            raise ConversionError(f"{converter}: no image could be read from {images_uri}", report)
        for s in SPLITS:
            if not report.kept[f"{s} images"]:
                report.notes.append(f"split {s!r} is empty")
        manifest = writer.close()
    storage.atomic_write_bytes(
        storage.join(out_uri, "conversion_report.json"),
        json.dumps(report.to_dict(), indent=2).encode(),
    )
    return manifest
