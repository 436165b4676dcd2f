"""Shared machinery of the real-format converters (``craigslist.py``, ``mercari.py``).

A converter turns one export file into hmgray shards (docs/contracts.md sections 1-2) in
two stages:

1. *Parse*: the format module reads the file with ``read_delimited`` and turns each input
   row into a ``Record`` (or rejects it). Problems are collected per row in a ``RowContext``:
   every bad field of the row is reported, then the row is kept (problems were repaired) or
   dropped (the first fatal problem's reason is counted).
2. *Finish* (``finish_conversion``): drop duplicate ids, join the MSRP table, look up
   images, bucket time into periods, number locations and item models, assign splits,
   build the market graph from the train split, write the shards (manifest last) and save
   ``conversion_report.json`` beside the manifest.

Robust reading. Input bytes are decoded as UTF-8 with ``errors="surrogateescape"``, so an
invalid byte never stops the ``csv`` reader: it becomes a lone surrogate in that field,
which is then reported (row, line, field, the bad bytes) and repaired to U+FFFD. A row
with the wrong number of fields, or one the ``csv`` module rejects, is reported and
dropped; reading goes on with the next row. Only problems that make the whole file
unusable are fatal (``ConversionError``): a missing input file, a header without a
required column, a malformed MSRP table, no usable row.

Row numbers. ``row`` is the 1-based index of the data record (the header is not a row);
``line`` is the physical line of the file where the record starts (the header is line 1).
They differ once a quoted field spans several lines.

Placeholders for the finer levels. Real exports carry no detector output and no parse, so
``scene_boxes`` is one whole-image box ``[0, 0, 1, 1]`` labelled 0 (item body) when the
listing has an image and empty otherwise, and ``text_heads`` is a chain over
``tokenize(description)`` (token i's head is token i - 1, token 0 is the root, -1). Both
are placeholders to be replaced by a real object detector and dependency parser. On such
data the meso level (graph matching over scene regions and text trees) degenerates: every
scene graph has one node and every text tree is a path, so the meso arm cannot add
information beyond the micro arm, and an ablation on converted data measures that.

Splits are a pure function of the listing id: ``u = sha256(id)[:8] / 2**64``; train if
``u < f_train``, val if ``u < f_train + f_val``, else test. Re-converting a file, or a
superset of it, keeps every listing in its split.

Time. ``period = floor((timestamp - t0) / period_days)`` with ``t0`` the UTC midnight
before the earliest kept listing; ``num_periods`` is the largest period + 1.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from hmgray import storage
from hmgray.data.formats.base import ConversionError, ImageFolder, check_input
from hmgray.data.shards import Manifest
from hmgray.data.text import tokenize
from hmgray.errors import ConfigError, DataError
from hmgray.families.valuation.data.listing_shards import write_listing_shards
from hmgray.families.valuation.data.market import build_market
from hmgray.families.valuation.data.schema import LISTING_SCHEMA

__all__ = [
    "MISSING_IMAGE_POLICIES",
    "REPORT_NAME",
    "ConversionError",
    "ConversionReport",
    "ImageFolder",
    "Record",
    "RowContext",
    "RowProblem",
    "assign_split",
    "chain_heads",
    "check_common_options",
    "check_input",
    "finish_conversion",
    "load_msrp_table",
    "normalise_key",
    "parse_number",
    "parse_price",
    "parse_timestamp",
    "read_delimited",
    "sha256_of",
]

REPORT_NAME = "conversion_report.json"
MISSING_IMAGE_POLICIES = ("keep", "drop")
SPLITS = ("train", "val", "test")
DAY_S = 86_400
# Per-row problems kept in the report; counts stay exact beyond it. A real export can have
# 10^5 rows without a model name, and a report that size helps nobody.
MAX_PROBLEMS_LISTED = 1000
_READ_BUFFER = 1 << 20  # bytes; the csv reader pulls text through this buffer

# Drop reasons (the keys of ``ConversionReport.dropped``).
BAD_ROW = "bad_row"  # wrong field count, csv syntax error
MISSING_FIELD = "missing_field"  # a required field is empty
BAD_VALUE = "bad_value"  # not a number / date / allowed code
PRICE_OUT_OF_RANGE = "price_out_of_range"
DUPLICATE_ID = "duplicate_id"
MSRP_UNMATCHED = "msrp_unmatched"
MISSING_IMAGE = "missing_image"


# ----------------------------------------------------------------------------- report


@dataclass(frozen=True)
class RowProblem:
    """One problem of one input row.

    ``action`` is what the converter did: ``dropped`` (the row is not in the shards),
    ``repaired`` (the value was fixed, e.g. invalid bytes replaced) or ``ignored`` (an
    optional value was left out, the row is kept).
    """

    row: int
    line: int
    field: str
    message: str
    action: str

    def __str__(self) -> str:
        return f"row {self.row} (line {self.line}) field {self.field!r}: {self.message} [{self.action}]"


@dataclass
class ConversionReport:
    """What a conversion read, kept, dropped and why (saved as ``conversion_report.json``).

    ``rows_read`` counts data records (blank lines excluded); ``rows_kept`` the listings
    written; ``dropped`` maps a reason to a count (each dropped row counted once, under its
    first fatal reason); ``problems`` lists per-row problems (the first
    ``MAX_PROBLEMS_LISTED``; ``problems_total`` counts all); ``unmatched_msrp`` maps an MSRP
    key absent from the table to the number of rows carrying it; ``missing_images`` counts
    listings without a usable image (kept with a null image or dropped, per
    ``missing_images_policy``).
    """

    converter: str
    source: str
    missing_images_policy: str = "keep"
    rows_read: int = 0
    rows_kept: int = 0
    rows_by_split: dict[str, int] = field(default_factory=dict)
    dropped: Counter = field(default_factory=Counter)
    problems: list[RowProblem] = field(default_factory=list)
    problems_total: int = 0
    unmatched_msrp: Counter = field(default_factory=Counter)
    missing_images: int = 0
    notes: list[str] = field(default_factory=list)
    dataset: dict = field(default_factory=dict)  # sizes of what was written

    @property
    def rows_dropped(self) -> int:
        return sum(self.dropped.values())

    def sorted_problems(self) -> list[RowProblem]:
        """The listed problems in file order (parsing and joining report them in two passes)."""
        return sorted(self.problems, key=lambda p: p.row)

    def add_problem(self, problem: RowProblem) -> None:
        self.problems_total += 1
        if len(self.problems) < MAX_PROBLEMS_LISTED:
            self.problems.append(problem)

    def drop(self, row: int, line: int, reason: str, field_name: str, message: str) -> None:
        """Record a row dropped after parsing (duplicate id, unmatched MSRP, missing image)."""
        self.dropped[reason] += 1
        self.add_problem(RowProblem(row, line, field_name, message, "dropped"))

    def commit(self, ctx: RowContext) -> None:
        """Record the problems of a parsed row and, if it was rejected, its drop reason."""
        for p in ctx.problems:
            self.add_problem(p)
        if ctx.drop_reason is not None:
            self.dropped[ctx.drop_reason] += 1

    def to_dict(self) -> dict:
        return {
            "converter": self.converter,
            "source": self.source,
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "rows_dropped": self.rows_dropped,
            "rows_by_split": dict(self.rows_by_split),
            "dropped": dict(sorted(self.dropped.items())),
            "missing_images": self.missing_images,
            "missing_images_policy": self.missing_images_policy,
            "unmatched_msrp": dict(
                sorted(self.unmatched_msrp.items(), key=lambda kv: (-kv[1], kv[0]))
            ),
            "problems_total": self.problems_total,
            "problems": [p.__dict__ for p in self.sorted_problems()],
            "notes": list(self.notes),
            "dataset": dict(self.dataset),
        }

    def save(self, uri: str) -> None:
        """Write the report as JSON to ``uri`` (atomically)."""
        payload = json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"
        storage.atomic_write_bytes(uri, payload.encode("utf-8"))

    def summary(self, max_problems: int = 20) -> str:
        """A few human-readable lines: counts, drop reasons, unmatched keys, first problems."""
        splits = ", ".join(f"{k} {v}" for k, v in self.rows_by_split.items())
        lines = [
            f"{self.converter} {self.source}: read {self.rows_read} rows, kept {self.rows_kept}"
            + (f" ({splits})" if splits else "")
            + f", dropped {self.rows_dropped}"
        ]
        if self.dropped:
            reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.dropped.items()))
            lines.append(f"  dropped by reason: {reasons}")
        what = "dropped" if self.missing_images_policy == "drop" else "kept, image marked missing"
        lines.append(f"  listings without an image: {self.missing_images} ({what})")
        if self.unmatched_msrp:
            keys = ", ".join(
                f"{k!r} x{n}"
                for k, n in sorted(self.unmatched_msrp.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
            )
            more = len(self.unmatched_msrp) - 10
            lines.append(
                f"  MSRP keys not in the table ({len(self.unmatched_msrp)}): {keys}"
                + (f", ... {more} more" if more > 0 else "")
            )
        for note in self.notes:
            lines.append(f"  note: {note}")
        if self.problems_total:
            shown = self.sorted_problems()[:max_problems]
            lines.append(f"  problems (first {len(shown)} of {self.problems_total}):")
            lines.extend(f"    {p}" for p in shown)
        return "\n".join(lines)


class RowContext:
    """Collects the problems of one input row while it is parsed.

    ``problem(..., drop=reason)`` marks the row rejected (the first reason is the one
    counted) but parsing goes on, so every bad field of the row is reported at once.
    """

    def __init__(self, row: int, line: int):
        self.row, self.line = row, line
        self.problems: list[RowProblem] = []
        self.drop_reason: str | None = None

    def problem(self, field_name: str, message: str, *, drop: str | None = None) -> None:
        if drop is not None and self.drop_reason is None:
            self.drop_reason = drop
        action = "dropped" if drop is not None else "ignored"
        self.problems.append(RowProblem(self.row, self.line, field_name, message, action))

    def repaired(self, field_name: str, message: str) -> None:
        self.problems.append(RowProblem(self.row, self.line, field_name, message, "repaired"))

    @property
    def ok(self) -> bool:
        return self.drop_reason is None


# ----------------------------------------------------------------------------- reading


class _HashingReader(io.RawIOBase):
    """A raw binary stream that computes the sha256 of everything read through it."""

    def __init__(self, stream):
        self._stream = stream
        self.sha256 = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._stream.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.sha256.update(data)
        return n

    def close(self) -> None:
        self._stream.close()
        super().close()


def _repair_text(value: str) -> tuple[str, bytes | None]:
    """``value`` with lone surrogates (undecodable input bytes) replaced by U+FFFD.

    Returns (text, the offending bytes or None if the text was valid).
    """
    try:
        value.encode("utf-8")
        return value, None
    except UnicodeEncodeError:
        raw = value.encode("utf-8", "surrogateescape")
        bad = bytes(ord(c) - 0xDC00 for c in value if 0xDC80 <= ord(c) <= 0xDCFF)
        return raw.decode("utf-8", "replace"), bad


@dataclass
class DelimitedFile:
    """An open delimited export: its header and, once read, the sha256 of its bytes."""

    uri: str
    header: list[str]
    _reader: _HashingReader

    @property
    def sha256(self) -> str:
        return self._reader.sha256.hexdigest()


def read_delimited(
    uri: str,
    *,
    delimiter: str,
    required_columns: Sequence[str],
    report: ConversionReport,
    what: str,
    max_rows: int | None = None,
    on_open: Callable[[DelimitedFile], None] | None = None,
    hints: Mapping[str, str] | None = None,
) -> Iterator[tuple[RowContext, dict[str, str]]]:
    """Yield ``(ctx, fields)`` for every data record of the delimited file at ``uri``.

    The file is read as a stream (any storage URI), decoded as UTF-8 (a BOM is skipped)
    with undecodable bytes kept as surrogates, and parsed by Python's ``csv`` module with
    ``delimiter`` and the default dialect otherwise (``"`` quoting with doubled quotes,
    quoted fields may span lines: what pandas ``to_csv`` writes and ``read_csv`` reads).
    Columns are matched by header name; other columns may be present and are skipped.
    ``fields`` maps each required column -> its text with invalid bytes repaired (each
    repair is a problem of ``ctx``). Records with the wrong number of fields and
    records the ``csv`` module rejects are reported and dropped here (not yielded). The
    caller must ``report.commit(ctx)`` every yielded context. ``on_open`` gets the
    ``DelimitedFile`` after the header was read (for the input's sha256 once done).
    ``hints`` maps a column name to a sentence added to the error when it is missing.

    Raises ``ConversionError`` if the file is missing or its header lacks a required column.
    """
    check_input(uri, what)
    fs, path = storage.resolve(uri)
    try:
        raw = _HashingReader(fs.open_input_stream(path))
    except (OSError, pa.ArrowException) as e:
        raise ConversionError(f"{uri}: cannot open the {what} ({e})") from e
    buffered = io.BufferedReader(raw, _READ_BUFFER)
    text = io.TextIOWrapper(buffered, encoding="utf-8-sig", errors="surrogateescape", newline="")
    try:
        reader = csv.reader(text, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise ConversionError(f"{uri}: the {what} is empty (no header line)") from None
        except csv.Error as e:
            raise ConversionError(f"{uri}: line 1: cannot parse the header ({e})") from e
        header = [_repair_text(h)[0].strip() for h in header]
        missing = [c for c in required_columns if c not in header]
        if missing:
            hint = " ".join((hints or {}).get(c, "") for c in missing).strip()
            raise ConversionError(
                f"{uri}: the {what} has no column(s) {missing} (header: {header})"
                + (f"; {hint}" if hint else "")
            )
        index = {name: header.index(name) for name in required_columns}  # first one wins
        handle = DelimitedFile(uri, header, raw)
        if on_open is not None:
            on_open(handle)
        line_end = reader.line_num
        row = 0
        while max_rows is None or row < max_rows:
            start = line_end + 1
            try:
                values = next(reader)
            except StopIteration:
                break
            except csv.Error as e:
                line_end = reader.line_num
                row += 1
                report.rows_read += 1
                ctx = RowContext(row, start)
                ctx.problem("*", f"cannot parse the record ({e})", drop=BAD_ROW)
                report.commit(ctx)
                continue
            line_end = reader.line_num
            if not values:
                continue  # a blank line is no record
            row += 1
            report.rows_read += 1
            ctx = RowContext(row, start)
            if len(values) != len(header):
                ctx.problem(
                    "*",
                    f"has {len(values)} fields, the header has {len(header)}",
                    drop=BAD_ROW,
                )
                report.commit(ctx)
                continue
            fields = {}
            for name, i in index.items():
                value, bad = _repair_text(values[i])
                if bad is not None:
                    ctx.repaired(
                        name,
                        f"invalid UTF-8 byte(s) {bad.hex(' ')} replaced by U+FFFD",
                    )
                fields[name] = value
            yield ctx, fields
        # drain the stream so the sha256 covers the whole file even when max_rows stopped early
        while buffered.read(_READ_BUFFER):
            pass
    finally:
        text.close()


# ----------------------------------------------------------------------------- field parsing


def normalise_key(parts: Iterable[str]) -> str:
    """MSRP join key: each part lower-cased with whitespace collapsed, joined by one space.

    ``normalise_key(["Ford", "  F-150 "]) == "ford f-150"``; empty parts are skipped.
    """
    words = []
    for p in parts:
        words.extend(p.lower().split())
    return " ".join(words)


def parse_number(ctx: RowContext, field_name: str, text: str, *, required: bool) -> float | None:
    """``text`` as a finite float, or None (reported: dropped if ``required``, else ignored)."""
    text = text.strip()
    drop = MISSING_FIELD if required else None
    if not text:
        if required:
            ctx.problem(field_name, "is empty", drop=drop)
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        ctx.problem(
            field_name, f"{text[:40]!r} is not a number", drop=BAD_VALUE if required else None
        )
        return None
    return value


def parse_price(
    ctx: RowContext, field_name: str, text: str, min_price: float, max_price: float
) -> float | None:
    """The price in currency units, or None (row dropped) if missing, not a number, or
    outside [``min_price``, ``max_price``]."""
    value = parse_number(ctx, field_name, text, required=True)
    if value is None:
        return None
    if not min_price <= value <= max_price:
        ctx.problem(
            field_name,
            f"{value:.15g} is outside the accepted range [{min_price:g}, {max_price:g}]",
            drop=PRICE_OUT_OF_RANGE,
        )
        return None
    return value


def parse_timestamp(text: str) -> dt.datetime:
    """An ISO-8601 date-time (``2021-05-04T12:31:18-0500``) as an aware UTC datetime.

    A time without offset is taken as UTC. Raises ``ValueError`` if unparseable.
    """
    t = dt.datetime.fromisoformat(text.strip())
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.astimezone(dt.UTC)


def chain_heads(n_tokens: int) -> list[int]:
    """Placeholder dependency heads: token i's head is i - 1, token 0 is the root (-1)."""
    return list(range(-1, n_tokens - 1))


def assign_split(listing_id: str, fractions: Sequence[float]) -> str:
    """``train``/``val``/``test`` from the sha256 of the id (stable across runs and subsets)."""
    u = int.from_bytes(hashlib.sha256(listing_id.encode("utf-8")).digest()[:8], "big") / 2**64
    if u < fractions[0]:
        return "train"
    if u < fractions[0] + fractions[1]:
        return "val"
    return "test"


# ----------------------------------------------------------------------------- MSRP table


def sha256_of(uri: str) -> str:
    """sha256 hex digest of the file at ``uri`` (provenance of small inputs)."""
    return hashlib.sha256(storage.read_bytes(uri)).hexdigest()


def load_msrp_table(uri: str) -> dict[str, float]:
    """Read a user MSRP table: CSV with header ``key,msrp``, one item model per line.

    Keys are normalised with ``normalise_key`` (so ``Ford  F-150`` matches ``ford f-150``);
    ``msrp`` is in the listings' currency units and must be a finite number > 0. A key may
    appear twice only with the same MSRP. Every problem is fatal (``ConversionError`` naming
    the file and line): a wrong MSRP table would silently corrupt every listing it touches.
    """
    check_input(uri, "MSRP table")
    data = storage.read_bytes(uri)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ConversionError(
            f"{uri}: line {line}: the MSRP table is not valid UTF-8 ({e.reason})"
        ) from e
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise ConversionError(
            f"{uri}: the MSRP table is empty (expected header 'key,msrp')"
        ) from None
    if header[:2] != ["key", "msrp"]:
        raise ConversionError(f"{uri}: line 1: header must start with 'key,msrp', got {header}")
    table: dict[str, float] = {}
    try:
        for values in reader:
            line = reader.line_num
            if not values or not any(v.strip() for v in values):
                continue
            if len(values) < 2:
                raise ConversionError(f"{uri}: line {line}: expected 'key,msrp', got {values}")
            key = normalise_key([values[0]])
            if not key:
                raise ConversionError(f"{uri}: line {line}: field 'key' is empty")
            try:
                msrp = float(values[1])
            except ValueError:
                msrp = math.nan
            if not (math.isfinite(msrp) and msrp > 0):
                raise ConversionError(
                    f"{uri}: line {line}: field 'msrp' = {values[1]!r} is not a number > 0"
                )
            if key in table and table[key] != msrp:
                raise ConversionError(
                    f"{uri}: line {line}: key {key!r} appears again with msrp {msrp:g} "
                    f"(earlier {table[key]:g})"
                )
            table[key] = msrp
    except csv.Error as e:
        raise ConversionError(f"{uri}: line {reader.line_num}: {e}") from e
    if not table:
        raise ConversionError(f"{uri}: the MSRP table has no rows")
    return table


# ----------------------------------------------------------------------------- images


# ----------------------------------------------------------------------------- finishing


@dataclass
class Record:
    """One parsed listing before the MSRP join (what a format module produces per row).

    ``msrp_key`` is already normalised; ``coords`` is (lat, lon) in degrees or None;
    ``image_names`` / ``image_stems`` are the candidates for ``ImageFolder.find``.
    """

    row: int
    line: int
    listing_id: str
    description: str
    price: float
    timestamp: dt.datetime
    location: str
    coords: tuple[float, float] | None
    category: str
    msrp_key: str
    image_names: tuple[str, ...] = ()
    image_stems: tuple[str, ...] = ()


def check_common_options(missing_images: str, period_days: int, split_fractions, where: str):
    """``ConfigError`` for an unknown missing-image policy, bad period length or splits."""
    if missing_images not in MISSING_IMAGE_POLICIES:
        raise ConfigError(
            f"{where}: missing_images must be one of {MISSING_IMAGE_POLICIES}, got {missing_images!r}"
        )
    if not (isinstance(period_days, int) and period_days >= 1):
        raise ConfigError(f"{where}: period_days must be an int >= 1, got {period_days!r}")
    f = [float(x) for x in split_fractions]
    if len(f) != 3 or min(f) < 0 or not math.isclose(sum(f), 1.0, abs_tol=1e-9):
        raise ConfigError(
            f"{where}: split_fractions must be 3 non-negative numbers summing to 1, got {split_fractions}"
        )


def _location_coords(
    names: list[str], sums: Mapping[str, list[float]], report: ConversionReport
) -> list[list[float]]:
    """Mean (lat, lon) per location; locations without any fall back to the mean of all.

    A plain mean of degrees is fine within one region (no antimeridian inside a US region).
    """
    known = [(s[0] / s[2], s[1] / s[2]) for s in sums.values() if s[2] > 0]
    fallback = list(np.mean(known, axis=0)) if known else [0.0, 0.0]
    coords, without = [], []
    for n in names:
        s = sums.get(n)
        if s is None or s[2] == 0:
            without.append(n)
            coords.append([float(fallback[0]), float(fallback[1])])
        else:
            coords.append([s[0] / s[2], s[1] / s[2]])
    if without:
        report.notes.append(
            f"{len(without)} location(s) have no valid lat/long in any listing and were placed "
            f"at the mean of the others: {without[:10]}"
        )
    return coords


def finish_conversion(
    records: Iterable[Record],
    report: ConversionReport,
    *,
    out_uri: str,
    msrp: Mapping[str, float],
    images: ImageFolder | None,
    missing_images: str,
    period_days: int,
    split_fractions: Sequence[float],
    image_size: tuple[int, int],
    dataset: str,
    generator: dict,
    id_field: str,
    key_field: str,
    location_coords: Mapping[str, tuple[float, float]] | None = None,
    rows_per_file: int = 4096,
    row_group_rows: int = 256,
) -> Manifest:
    """Join, index, split and write parsed records; save the report beside the manifest.

    Per record, in order (the first failing step drops it and is its counted reason):
    duplicate ``listing_id`` (the first occurrence is kept), MSRP key not in ``msrp``,
    no usable image when ``missing_images == "drop"``. Location coordinates are the mean
    of the records' ``coords`` per location, unless ``location_coords`` gives them.
    ``id_field`` and ``key_field`` name the input column(s) of the id and of the MSRP key in
    the problems reported here (e.g. ``"id"``, ``"manufacturer+model"``).

    Raises ``ConversionError`` (carrying the report) if no record is left; nothing is
    written then.
    """
    seen: set[str] = set()
    kept: list[tuple[Record, bytes | None]] = []
    for r in records:
        if r.listing_id in seen:
            report.drop(
                r.row, r.line, DUPLICATE_ID, id_field, f"listing id {r.listing_id!r} seen before"
            )
            continue
        seen.add(r.listing_id)
        if r.msrp_key not in msrp:
            report.unmatched_msrp[r.msrp_key] += 1
            report.drop(
                r.row,
                r.line,
                MSRP_UNMATCHED,
                key_field,
                f"MSRP key {r.msrp_key!r} is not in the MSRP table",
            )
            continue
        image, why = None, None
        name = images.find(r.image_names, r.image_stems) if images is not None else None
        if name is not None:
            try:
                image = images.load(name)
            except DataError as e:
                why = f"{e}; treated as missing"
        elif images is not None:
            wanted = [*r.image_names, *(f"{s}.*" for s in r.image_stems)]
            why = f"no file {' or '.join(wanted)} in the images folder"
        else:
            why = "no images folder given"
        if image is None:
            report.missing_images += 1
            if missing_images == "drop":
                report.drop(r.row, r.line, MISSING_IMAGE, "image", why)
                continue
            if name is not None:  # an unreadable file is worth a line; a missing one only a count
                report.add_problem(RowProblem(r.row, r.line, "image", why, "ignored"))
        kept.append((r, image))
    if not kept:
        raise ConversionError(
            f"{report.source}: no usable rows ({report.rows_read} read, all dropped); "
            "nothing was written",
            report,
        )

    # time: periods of `period_days` from the UTC midnight before the earliest listing
    secs = np.array([int(r.timestamp.timestamp()) for r, _ in kept], dtype=np.int64)
    t0 = (int(secs.min()) // DAY_S) * DAY_S
    periods = ((secs - t0) // (period_days * DAY_S)).astype(np.int32)
    num_periods = int(periods.max()) + 1

    # nodes: sorted names, so ids do not depend on row order
    location_names = sorted({r.location for r, _ in kept})
    location_index = {n: i for i, n in enumerate(location_names)}
    if location_coords is None:
        sums: dict[str, list[float]] = {}
        for r, _ in kept:
            s = sums.setdefault(r.location, [0.0, 0.0, 0])
            if r.coords is not None:
                s[0] += r.coords[0]
                s[1] += r.coords[1]
                s[2] += 1
        coords = _location_coords(location_names, sums, report)
    else:
        coords = [list(location_coords[n]) for n in location_names]
    item_models = sorted({r.msrp_key for r, _ in kept})
    item_index = {k: i for i, k in enumerate(item_models)}

    columns: dict[str, dict[str, list]] = {s: {n: [] for n in LISTING_SCHEMA.names} for s in SPLITS}
    for (r, image), period, ts in zip(kept, periods, secs, strict=True):
        c = columns[assign_split(r.listing_id, split_fractions)]
        c["listing_id"].append(r.listing_id)
        c["image"].append(image)
        c["description"].append(r.description)
        c["msrp"].append(float(msrp[r.msrp_key]))
        c["price"].append(float(r.price))
        c["location_id"].append(location_index[r.location])
        c["timestamp"].append(int(ts))
        c["period"].append(int(period))
        c["item_model"].append(r.msrp_key)
        c["item_model_id"].append(item_index[r.msrp_key])
        c["category"].append(r.category)
        # placeholders (module docstring): one whole-image body box; a chain of tokens
        c["scene_boxes"].append([[0.0, 0.0, 1.0, 1.0]] if image is not None else [])
        c["scene_labels"].append([0] if image is not None else [])
        c["text_heads"].append(chain_heads(len(tokenize(r.description))))
    tables = {s: pa.table(columns[s], schema=LISTING_SCHEMA) for s in SPLITS}

    train = tables["train"]
    market = build_market(
        location_names=location_names,
        location_coords=coords,
        num_periods=num_periods,
        period_days=period_days,
        item_models=item_models,
        item_model_msrp=[float(msrp[k]) for k in item_models],
        train_item_ids=train.column("item_model_id").to_numpy(),
        train_location_ids=train.column("location_id").to_numpy(),
        train_periods=train.column("period").to_numpy(),
    )
    report.rows_kept = len(kept)
    report.rows_by_split = {s: tables[s].num_rows for s in SPLITS}
    report.dataset = {
        "name": dataset,
        "num_locations": len(location_names),
        "num_periods": num_periods,
        "period_start": dt.datetime.fromtimestamp(t0, dt.UTC).isoformat(),
        "num_item_models": len(item_models),
    }
    if report.rows_by_split["train"] == 0:
        report.notes.append("the train split is empty: the market graph has no item edges")
    generator = {
        **generator,
        "rows_read": report.rows_read,
        "rows_kept": report.rows_kept,
        "rows_dropped": report.rows_dropped,
    }
    manifest = write_listing_shards(
        tables,
        out_uri,
        dataset=dataset,
        generator=generator,
        market=market,
        image_size=[int(image_size[0]), int(image_size[1])],
        rows_per_file=rows_per_file,
        row_group_rows=row_group_rows,
    )
    report.save(storage.join(manifest.uri, REPORT_NAME))
    return manifest
