"""Text-based person search data sets, in their published annotation files.

* **CUHK-PEDES** ``reid_raw.json``: a JSON array of records ``{"split": "train" | "val" |
  "test", "captions": [str, ...], "file_path": "CUHK01/0363004.png", "processed_tokens":
  [[str, ...], ...], "id": int}``; images under ``imgs/<file_path>``.
* **ICFG-PEDES** ``ICFG-PEDES.json``: the same keys, splits ``train`` and ``test`` only,
  its own id numbering; the folder in ``file_path`` (``test/0327/...``) is not the split,
  the ``split`` key is. A validation split is drawn from the training identities
  (``records.carve_validation``).
* **RSTPReid** ``data_captions.json``: ``{"id": int, "img_path": "0000_c14_0031.jpg",
  "captions": [str, ...], "split": "train" | "val" | "test"}``; images under ``imgs/``.

``processed_tokens`` is not used: captions are tokenised by ``hmgray.data.text`` like
every other text in hmgray. A record that is not an object, lacks a key, has an id that
is not an integer, an unknown split, or no usable caption is reported with its position
in the file and dropped; so is a record whose image is missing or undecodable.
"""

from __future__ import annotations

from hmgray.data.formats.base import ConversionReport
from hmgray.families.retrieval.data.formats.records import (
    Record,
    carve_validation,
    clean_captions,
    load_json_list,
    write_records,
)

__all__ = ["FORMATS", "convert_pedes"]

# format -> (path key, splits the file may use, how validation is made)
FORMATS = {
    "cuhk-pedes": ("file_path", ("train", "val", "test"), None),
    "icfg-pedes": ("file_path", ("train", "test"), "identity"),
    "rstpreid": ("img_path", ("train", "val", "test"), None),
}


def _records(doc: list, fmt: str, where: str, report: ConversionReport) -> list[Record]:
    path_key, splits, _ = FORMATS[fmt]
    out = []
    for number, rec in enumerate(doc, start=1):
        report.read[where] += 1
        if not isinstance(rec, dict):
            report.problem(where, number, "record", f"not an object: {rec!r:.60}", "record dropped")
            continue
        missing = [k for k in ("id", "captions", path_key, "split") if k not in rec]
        if missing:
            report.problem(where, number, missing[0], "missing", "record dropped")
            continue
        pid, path, split = rec["id"], rec[path_key], rec["split"]
        if isinstance(pid, bool) or not isinstance(pid, int):
            report.problem(where, number, "id", f"not an integer: {pid!r:.40}", "record dropped")
            continue
        if not isinstance(path, str) or not path.strip():
            report.problem(where, number, path_key, f"not a path: {path!r:.60}", "record dropped")
            continue
        if split not in splits:
            report.problem(where, number, "split", f"{split!r:.40} is not one of {splits}",
                           "record dropped")  # fmt: skip
            continue
        captions = clean_captions(rec["captions"], where, number, report)
        if not captions:
            if isinstance(rec["captions"], list):
                report.problem(where, number, "captions", "no usable caption", "record dropped")
            continue
        out.append(Record(path.strip(), captions, pid, split, where, number))
    return out


def convert_pedes(
    fmt: str,
    json_uri: str,
    images_uri: str,
    out_uri: str,
    *,
    image_size: tuple[int, int] = (96, 32),
    dataset: str | None = None,
    seed: int = 0,
    val_share: float = 0.1,
):
    """Convert one person-search data set (``fmt`` in :data:`FORMATS`); return (Manifest,
    ConversionReport)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    report = ConversionReport(fmt, unit="records")
    records = _records(load_json_list(json_uri, "annotation file"), fmt, json_uri, report)
    split_note = "the file's own split field"
    if FORMATS[fmt][2] is not None:
        split_note += "; " + carve_validation(records, val_share, seed, FORMATS[fmt][2])
    manifest = write_records(
        records, images_uri, out_uri, report, dataset=dataset or fmt, converter=fmt,
        image_size=image_size, split_note=split_note, inputs=[json_uri],
    )  # fmt: skip
    return manifest, report
