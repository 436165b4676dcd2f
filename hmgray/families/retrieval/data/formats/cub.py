"""CUB-200-2011 with the widely used 10 captions per image (Reed et al.'s ``text_c10``).

The data set folder (``CUB_200_2011/``) holds, one line per entry, space-separated:

* ``images.txt``: ``<image_id> <class folder>/<file>.jpg`` (paths under ``images/``);
* ``image_class_labels.txt``: ``<image_id> <class_id>`` (1..200);
* ``train_test_split.txt``: ``<image_id> <is_training_image>`` (1 train, 0 test);
* ``classes.txt``: ``<class_id> <class folder>``.

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
from hmgray.data.formats.base import ConversionError, ConversionReport, check_input
from hmgray.errors import HmgrayError
from hmgray.families.retrieval.data.formats.records import Record, carve_validation, write_records

__all__ = ["convert_cub"]


def _table(uri: str, report: ConversionReport, value_is_int: bool) -> dict[int, tuple]:
    """``{id: (value, line number)}`` of a two-column CUB list file (malformed lines
    reported)."""
    check_input(uri, "CUB list file")
    try:
        text = storage.read_bytes(uri).decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConversionError(f"{uri}: not UTF-8 text ({e})", report) from e
    out: dict[int, tuple] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        report.read[uri] += 1
        parts = line.split(maxsplit=1)
        try:
            key = int(parts[0])
            value = int(parts[1]) if value_is_int else parts[1].strip()
        except (ValueError, IndexError):
            report.problem(uri, number, "line", f"cannot parse {line!r:.60}", "line dropped")
            continue
        if key in out:
            report.problem(uri, number, "id", f"{key} repeated", "line dropped")
            continue
        out[key] = (value, number)
    return out


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
    paths = _table(j("images.txt"), report, False)
    labels = _table(j("image_class_labels.txt"), report, True)
    is_train = _table(j("train_test_split.txt"), report, True)
    classes = _table(j("classes.txt"), report, False)
    check_input(text_uri, "captions folder (text_c10)")
    where = j("images.txt")
    records = []
    for image_id, (path, number) in sorted(paths.items()):
        label = labels.get(image_id, (None, 0))[0]
        train = is_train.get(image_id, (None, 0))[0]
        if label is None or label not in classes:
            report.problem(where, number, "class", f"image {image_id}: no known class",
                           "image dropped")  # fmt: skip
            continue
        if train not in (0, 1):
            report.problem(where, number, "split", f"image {image_id}: is_training_image "
                           f"{train!r}", "image dropped")  # fmt: skip
            continue
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
        split = "train" if train == 1 else "test"
        records.append(Record(path, captions, label, split, where, number))
    split_note = "train_test_split.txt; " + carve_validation(records, val_share, seed, "image")
    manifest = write_records(
        records, j("images"), out_uri, report, dataset=dataset, converter="cub",
        image_size=image_size, split_note=split_note,
        inputs=[j("images.txt"), j("image_class_labels.txt"), j("train_test_split.txt"),
                j("classes.txt"), text_uri],
    )  # fmt: skip
    return manifest, report
