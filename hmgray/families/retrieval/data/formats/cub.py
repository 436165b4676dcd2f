"""CUB-200-2011 with the widely used 10 captions per image (Reed et al.'s ``text_c10``).

The data set folder (``CUB_200_2011/``) is read by ``hmgray.data.formats.cub_layout``.
The captions folder holds ``text_c10/<class folder>/<file>.txt``, one caption per line
(10 per image). The identity a text query must find is the class (retrieval of the
bird species, as in MERU's and the CUB text-image literature's evaluation). A validation
split is drawn from the training images (``records.carve_validation``). A line that does
not parse, an image without a class, a split or a caption file, an unknown class id: each
is reported with its file and line and the image is dropped; so is an image that is
missing or undecodable.
"""

from __future__ import annotations

from hmgray import storage
from hmgray.data.formats.base import ConversionReport, check_input
from hmgray.data.formats.cub_layout import read_cub
from hmgray.errors import HmgrayError
from hmgray.families.retrieval.data.formats.records import Record, carve_validation, write_records

__all__ = ["convert_cub"]


def convert_cub(
    root_uri: str,
    text_uri: str,
    out_uri: str,
    *,
    image_size: tuple[int, int] = (64, 64),
    dataset: str = "cub-200-2011",
    seed: int = 0,
    val_share: float = 0.1,
):
    """Convert CUB-200-2011 (``root_uri`` = the ``CUB_200_2011`` folder) with the captions
    in ``text_uri`` (the ``text_c10`` folder); return (Manifest, ConversionReport)."""
    report = ConversionReport("cub", unit="lines")
    j = lambda name: storage.join(root_uri, name)  # noqa: E731
    images, _ = read_cub(root_uri, report)
    check_input(text_uri, "captions folder (text_c10)")
    records = []
    for im in images:
        path, label, where, number = im.path, im.class_id, im.where, im.number
        stem = path.rsplit(".", 1)[0]
        caption_uri = storage.join(text_uri, f"{stem}.txt")
        try:
            lines = storage.read_bytes(caption_uri).decode("utf-8").splitlines()
        except (HmgrayError, UnicodeDecodeError) as e:
            report.problem(where, number, "captions", f"{stem}.txt: {e}", "image dropped")
            continue
        captions = [" ".join(c.split()) for c in lines if c.strip()]
        if not captions:
            report.problem(where, number, "captions", f"{stem}.txt is empty", "image dropped")
            continue
        split = "train" if im.train else "test"
        records.append(Record(path, captions, label, split, where, number))
    split_note = "train_test_split.txt; " + carve_validation(records, val_share, seed, "image")
    manifest = write_records(
        records, j("images"), out_uri, report, dataset=dataset, converter="cub",
        image_size=image_size, split_note=split_note,
        inputs=[j("images.txt"), j("image_class_labels.txt"), j("train_test_split.txt"),
                j("classes.txt"), text_uri],
    )  # fmt: skip
    return manifest, report
