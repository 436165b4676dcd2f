"""Streaming CSV input for the click-through converters (Tianchi's plain CSV files).

:func:`read_csv` yields blocks of a CSV file (``block_bytes`` at a time) as columns of
strings; :func:`ints` parses one of them. Nothing here ever stops a conversion halfway: a
row with the wrong number of fields (reported with its text), or a field that is not the
integer it should be (reported with its row number and value), is a reported problem and
the row is dropped. Row numbers count the well-formed data rows from 1 (the header, blank
lines and malformed rows are not counted: the CSV parser does not know physical line
numbers while it streams).

Headers: the real files' headers are matched after stripping whitespace (Taobao's
``user_profile.csv`` ends its header with ``new_user_class_level `` with a trailing
space), by name, so the column order does not matter; a missing column is a fatal
``ConversionError`` naming the file and the column.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from hmgray import storage
from hmgray.data.formats.base import MAX_LISTED, ConversionError, ConversionReport, check_input

__all__ = ["Block", "ints", "read_csv"]

NULLS = ("", "NULL", "null", "None", "nan", "NaN", "\\N")


@dataclass
class Block:
    """A block of CSV rows: string columns by name and each row's number (1-based, among
    the well-formed data rows)."""

    columns: dict[str, pa.Array]
    rows: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, mask: np.ndarray) -> Block:
        idx = pa.array(np.flatnonzero(mask))
        return Block({k: v.take(idx) for k, v in self.columns.items()}, self.rows[mask])


def _header(uri: str) -> list[str]:
    fs, path = storage.resolve(uri)
    with fs.open_input_stream(path) as f:
        first = f.read(1 << 16)
    text = first.split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r")
    return [name.strip() for name in text.split(",")]


def read_csv(
    uri: str,
    wanted: Sequence[str],
    report: ConversionReport,
    *,
    names: Sequence[str] | None = None,
    block_bytes: int = 16 << 20,
) -> Iterator[Block]:
    """Blocks of the columns ``wanted`` of the CSV at ``uri``.

    ``names``: the file has no header and these are its columns (UserBehavior.csv); else
    the first line is the header. A row with too few or too many fields is reported
    (its data row number when the parser knows it) and skipped.
    """
    where = storage.join(uri) if "://" in uri else uri
    check_input(uri, "CSV file")
    has_header = names is None
    columns = list(names) if names is not None else _header(uri)
    missing = [c for c in wanted if c not in columns]
    if missing:
        raise ConversionError(
            f"{where}: column(s) {', '.join(map(repr, missing))} missing from the header "
            f"(found {', '.join(map(repr, columns))})"
        )
    seen = 0

    def invalid(row) -> str:
        report.problem(
            where, seen, "row",
            f"{row.actual_columns} fields, expected {row.expected_columns}: {row.text[:200]!r}"
            f" (in the block after well-formed row {seen})", "row dropped",
        )  # fmt: skip
        return "skip"

    fs, path = storage.resolve(uri)
    try:
        stream = fs.open_input_stream(path)
        reader = pcsv.open_csv(
            stream,
            read_options=pcsv.ReadOptions(
                column_names=columns, skip_rows=1 if has_header else 0, block_size=block_bytes
            ),
            parse_options=pcsv.ParseOptions(invalid_row_handler=invalid, newlines_in_values=False),
            convert_options=pcsv.ConvertOptions(
                column_types={c: pa.string() for c in columns},
                include_columns=list(wanted),
                strings_can_be_null=False,
            ),
        )
    except (OSError, pa.ArrowInvalid) as e:
        raise ConversionError(f"{where}: cannot read as CSV ({e})") from e
    with stream:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except (OSError, pa.ArrowInvalid) as e:
                raise ConversionError(f"{where}: unreadable after data row {seen} ({e})") from e
            n = batch.num_rows
            rows = np.arange(seen + 1, seen + n + 1, dtype=np.int64)
            seen += n
            report.read[where.rsplit("/", 1)[-1]] += n
            yield Block({c: batch.column(c) for c in wanted}, rows)


def ints(
    block: Block, column: str, report: ConversionReport, where: str, *, nullable: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(int64 values, ok mask) of a string column (``12``, or ``12.0``). Null markers
    (empty, ``NULL``) give -1
    when ``nullable``; otherwise they, and anything that is not an integer, are reported
    and their rows marked not ok."""
    s = pc.utf8_trim_whitespace(block.columns[column])
    null = pc.is_in(s, value_set=pa.array(NULLS)).to_numpy(zero_copy_only=False)
    # an integral float ("2661.0", as files written by pandas hold) is an integer too
    good = pc.match_substring_regex(s, r"^-?[0-9]{1,18}(\.0*)?$").to_numpy(zero_copy_only=False)
    digits = pc.replace_substring_regex(s, r"\.0*$", "")
    values = pc.cast(pc.if_else(pa.array(good), digits, "0"), pa.int64()).to_numpy()
    values = np.where(good, values, -1)
    ok = good | (null & nullable)
    bad = np.flatnonzero(~ok)
    if len(bad):
        report.problems_at(
            where, block.rows[bad], column, "not an integer", "row dropped",
            s.take(pa.array(bad[:MAX_LISTED])).to_pylist(),
        )  # fmt: skip
    return values, ok
