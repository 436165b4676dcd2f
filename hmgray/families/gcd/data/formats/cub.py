"""CUB-200-2011 for generalized category discovery: the GCD class split.

Reads the published layout (``hmgray.data.formats.cub_layout``: ``images.txt``,
``image_class_labels.txt``, ``train_test_split.txt``, ``classes.txt``, ``images/``) and
writes category discovery shards (``hmgray.families.gcd.data.schema``) by the convention
of the GCD papers (GCD, SimGCD, HypGCD's ``--use_ssb_splits`` off):

* the **training images** (``is_training_image`` 1) are the GCD training set; the
  official test images are not used (the transductive protocol scores the unlabelled
  training images), which the conversion report notes;
* classes ``1 .. old_classes`` (default 100, by class id) are old, the rest new;
* a seeded ``labelled_share`` (default 0.5) of the old classes' training images is
  labelled, drawn without replacement (GCD's ``subsample_instances``); a seeded
  ``val_share`` (default 0.1) of those is held out as ``val``; the unlabelled images are
  ``test`` as well as ``train``. Shares, seed and counts are in the manifest's context.

Class ids 1..200 become labels 0..199 in id order. The semantic-shift (SSB) splits are
published as Python pickles (``cub_osr_splits.pkl``); unpickling a downloaded file runs
whatever it holds, so they are not read here.

A missing list file is an error naming it; a malformed line, an image without a class or
split, an unreadable image file: reported with file and line, the image dropped.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from hmgray import storage
from hmgray.data.formats.base import ConversionError, ConversionReport, check_input, load_resized
from hmgray.data.formats.cub_layout import CUB_LISTS, read_cub
from hmgray.families.gcd.data.schema import ROWS

__all__ = ["convert_cub_gcd"]


def convert_cub_gcd(
    root_uri: str,
    out_uri: str,
    *,
    image_size: tuple[int, int] = (64, 64),
    old_classes: int = 100,
    labelled_share: float = 0.5,
    val_share: float = 0.1,
    seed: int = 0,
    dataset: str = "cub-200-2011-gcd",
):
    """Convert the ``CUB_200_2011`` folder at ``root_uri``; return (Manifest,
    ConversionReport). ``conversion_report.json`` is written beside the manifest."""
    from hmgray.data.shards import write_shards

    if old_classes < 1:
        raise ConversionError(f"--old-classes must be >= 1, got {old_classes}")
    for name, share in (("labelled share", labelled_share), ("validation share", val_share)):
        if not 0 < share < 1:
            raise ConversionError(f"{name} must be in (0, 1), got {share}")
    report = ConversionReport("cub-gcd", unit="lines", location="line")
    images, classes = read_cub(root_uri, report)
    class_ids = sorted(classes)
    label_of = {cid: i for i, cid in enumerate(class_ids)}
    if old_classes >= len(class_ids):
        raise ConversionError(
            f"{storage.join(root_uri, 'classes.txt')}: --old-classes {old_classes} leaves no "
            f"new class of {len(class_ids)}",
            report,
        )
    images_uri = storage.join(root_uri, "images")
    check_input(images_uri, "images folder")
    kept: list[tuple[int, bytes, int]] = []  # (image_id, png, label)
    n_test = 0
    for im in images:
        if not im.train:
            n_test += 1
            continue
        png = load_resized(storage.join(images_uri, im.path), im.path, image_size, report,
                           im.where, im.number, "image dropped")  # fmt: skip
        if png is None:
            continue
        kept.append((im.image_id, png, label_of[im.class_id]))
    if not kept:
        raise ConversionError(f"cub-gcd: no training image could be read from {images_uri}",
                              report)  # fmt: skip
    if n_test:
        report.notes.append(
            f"{n_test} official test images not used (transductive protocol: the unlabelled "
            "training images are scored)"
        )
    ids = np.array([k[0] for k in kept], dtype=np.int64)
    labels = np.array([k[2] for k in kept], dtype=np.int32)
    old = labels < old_classes
    rng = np.random.default_rng(seed)
    old_idx = np.flatnonzero(old)
    labelled = np.zeros(len(kept), dtype=bool)
    labelled[rng.choice(old_idx, round(labelled_share * len(old_idx)), replace=False)] = True
    lab_idx = np.flatnonzero(labelled)
    held = np.zeros(len(kept), dtype=bool)
    held[rng.choice(lab_idx, round(val_share * len(lab_idx)), replace=False)] = True
    table = pa.table(
        {
            "sample_id": pa.array(ids),
            "image": pa.array([k[1] for k in kept], pa.binary()),
            "label": pa.array(labels),
            "labelled": pa.array(labelled),
            "old": pa.array(old),
        },
        schema=ROWS,
    )
    splits = {
        "train": table.filter(pa.array(~held)),
        "val": table.filter(pa.array(held)),
        "test": table.filter(pa.array(~labelled)),
    }
    for name, t in splits.items():
        report.kept[f"{name} images"] = t.num_rows
        if not t.num_rows:
            report.notes.append(f"split {name!r} is empty")
    context = {
        "image_size": [int(image_size[0]), int(image_size[1])],
        "num_classes": len(class_ids),
        "old_classes": list(range(old_classes)),
        "labelled_share": labelled_share,
        "val_share": val_share,
        "split": f"classes 1-{class_ids[old_classes - 1]} old, the rest new; "
        f"{labelled_share:.0%} of the old classes' training images labelled (seed {seed}), "
        f"{val_share:.0%} of those held out for validation; test = the unlabelled training "
        "images (transductive)",
    }
    generator = {
        "name": "hmgray.families.gcd.data.formats (cub-gcd)",
        "seed": seed,
        "inputs": list(CUB_LISTS) + ["images/"],
        "params": {"image_size": list(image_size), "old_classes": old_classes,
                   "labelled_share": labelled_share, "val_share": val_share},
    }  # fmt: skip
    manifest = write_shards(splits, out_uri, task="gcd", dataset=dataset, generator=generator,
                            context=context, rows_per_file=4096, row_group_rows=256)  # fmt: skip
    storage.atomic_write_bytes(
        storage.join(out_uri, "conversion_report.json"),
        json.dumps(report.to_dict(), indent=2).encode(),
    )
    return manifest, report
