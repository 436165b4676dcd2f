"""The published CUB-200-2011 layout, read once for every family that converts it.

The data set folder (``CUB_200_2011/``) holds, one line per entry, space-separated:

* ``images.txt``: ``<image_id> <class folder>/<file>.jpg`` (paths under ``images/``);
* ``image_class_labels.txt``: ``<image_id> <class_id>`` (1..200);
* ``train_test_split.txt``: ``<image_id> <is_training_image>`` (1 train, 0 test);
* ``classes.txt``: ``<class_id> <class folder>``.

A line that does not parse or repeats an id, an image without a known class or without a
0/1 split: each is reported with its file and line and the image is dropped.
Used by the retrieval converter (with ``text_c10`` captions) and the category discovery
converter (the GCD class split).
"""

from __future__ import annotations

import dataclasses

from hmgray import storage
from hmgray.data.formats.base import ConversionError, ConversionReport, check_input

__all__ = ["CUB_LISTS", "CubImage", "read_cub"]

CUB_LISTS = ("images.txt", "image_class_labels.txt", "train_test_split.txt", "classes.txt")


@dataclasses.dataclass(frozen=True)
class CubImage:
    image_id: int
    path: str  # under images/
    class_id: int  # 1..200 as published
    train: bool
    where: str  # images.txt's URI
    number: int  # its line in images.txt


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


def read_cub(root_uri: str, report: ConversionReport) -> tuple[list[CubImage], dict[int, str]]:
    """(the usable images in id order, ``{class_id: class folder}``) of the ``CUB_200_2011``
    folder at ``root_uri``."""
    j = lambda name: storage.join(root_uri, name)  # noqa: E731
    paths = _table(j("images.txt"), report, False)
    labels = _table(j("image_class_labels.txt"), report, True)
    is_train = _table(j("train_test_split.txt"), report, True)
    classes = _table(j("classes.txt"), report, False)
    where = j("images.txt")
    out = []
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
        out.append(CubImage(image_id, path, label, train == 1, where, number))
    return out, {k: v for k, (v, _) in classes.items()}
