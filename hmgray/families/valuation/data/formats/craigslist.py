"""Craigslist used-vehicle listings (Kaggle "Used Cars Dataset", ``vehicles.csv``) -> shards.

Input format: comma-separated, header line, ``"``-quoted fields with doubled quotes (pandas
``to_csv``), descriptions spanning several lines inside quotes, UTF-8. Columns (``COLUMNS``):
``id,url,region,region_url,price,year,manufacturer,model,condition,cylinders,fuel,odometer,
title_status,transmission,VIN,drive,size,type,paint_color,image_url,description,county,
state,lat,long,posting_date``. ``price`` is whole dollars; ``year`` and ``odometer`` are
written as floats (``2014.0``, ``57923.0``); ``posting_date`` is ISO 8601 with a UTC
offset (``2021-05-04T12:31:18-0500``). Columns are matched by name; columns this
converter does not use may be absent, and an extra leading index column is ignored.

Mapping to the listing schema (docs/contracts.md section 1):

* ``listing_id`` = ``id``; ``price`` = ``price`` (dollars). Rows whose price is missing,
  not a number, or outside [``min_price``, ``max_price``] are dropped and reported:
  Craigslist uses 0 / 1 / 1234 for "call for price" and has typos like 3736928711, so the
  defaults keep [100, 500 000].
* ``item_model`` = the MSRP key: the ``msrp_key`` columns (default ``manufacturer``,
  ``model``) lower-cased, whitespace collapsed, joined by one space, e.g.
  ``"ford f-150"``; ``year`` may be added (``("year", "manufacturer", "model")``) for a
  table priced per model year (``2014.0`` is keyed as ``2014``). ``msrp`` comes from the
  user's table by that key; rows without a match are dropped and their keys counted.
* ``description`` = a structured prefix, then the seller's text: ``"2014 gmc sierra 1500,
  good condition, 57923 miles. <description>"``. Year, condition and mileage drive used
  car prices and the schema has no columns for them, so the prefix puts them where the
  model reads text first (before ``max_words`` truncates). ``structured_text=False`` keeps
  only the seller's text.
* ``category`` = ``type`` (pickup, sedan, SUV, ...), ``"unknown"`` when empty.
* location = ``"<region>, <state>"`` (a Craigslist site such as ``"auburn, al"``); its
  coordinates are the mean ``lat``/``long`` of the kept listings of that location (values
  outside [-90, 90] x [-180, 180] or non-numeric are reported and ignored).
* ``timestamp`` = ``posting_date`` in UTC; ``period`` buckets it by ``period_days``.
* image: the file in ``images_dir`` named like the basename of ``image_url``
  (``00R0R_lwWjXSEWNa7z_0x0ci_600x450.jpg``), else one named by the id
  (``7316814884.jpg``/``.png``). Nothing is downloaded.

Scene graph and text tree are placeholders (see ``hmgray.families.valuation.data.formats.common``): one
whole-image region, a chain of tokens. The meso level degenerates on this data.
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Iterator, Sequence
from urllib.parse import urlsplit

from hmgray.data.shards import Manifest
from hmgray.errors import ConfigError
from hmgray.families.valuation.data.formats.common import (
    BAD_VALUE,
    MISSING_FIELD,
    ConversionReport,
    DelimitedFile,
    ImageFolder,
    Record,
    RowContext,
    check_common_options,
    check_input,
    finish_conversion,
    load_msrp_table,
    normalise_key,
    parse_number,
    parse_price,
    parse_timestamp,
    read_delimited,
    sha256_of,
)

__all__ = ["COLUMNS", "DATASET_NAME", "convert_craigslist"]

DATASET_NAME = "craigslist-vehicles"
COLUMNS = (
    "id", "url", "region", "region_url", "price", "year", "manufacturer", "model",
    "condition", "cylinders", "fuel", "odometer", "title_status", "transmission", "VIN",
    "drive", "size", "type", "paint_color", "image_url", "description", "county", "state",
    "lat", "long", "posting_date",
)  # fmt: skip
USED_COLUMNS = (
    "id", "region", "price", "year", "manufacturer", "model", "condition", "odometer",
    "type", "image_url", "description", "state", "lat", "long", "posting_date",
)  # fmt: skip
KEY_COLUMNS = ("year", "manufacturer", "model", "condition", "type", "region", "state")


def _coords(ctx: RowContext, fields: dict[str, str]) -> tuple[float, float] | None:
    lat = parse_number(ctx, "lat", fields["lat"], required=False)
    lon = parse_number(ctx, "long", fields["long"], required=False)
    if lat is None or lon is None:
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        ctx.problem("lat", f"({lat:g}, {lon:g}) is not a valid (lat, long); coordinates ignored")
        return None
    return (lat, lon)


def _year(ctx: RowContext, text: str) -> str:
    """``2014.0`` -> ``"2014"``; empty or unparseable -> ``""`` (reported when unparseable)."""
    value = parse_number(ctx, "year", text, required=False)
    if value is None:
        return ""
    if value != math.floor(value) or not 1885 <= value <= 2100:  # 1885: the first automobile
        ctx.problem("year", f"{text.strip()!r} is not a model year; ignored")
        return ""
    return str(int(value))


def _parse_row(
    ctx: RowContext,
    f: dict[str, str],
    *,
    msrp_key: Sequence[str],
    min_price: float,
    max_price: float,
    structured_text: bool,
) -> Record | None:
    listing_id = f["id"].strip()
    if not listing_id:
        ctx.problem("id", "is empty", drop=MISSING_FIELD)
    price = parse_price(ctx, "price", f["price"], min_price, max_price)
    region = f["region"].strip()
    if not region:
        ctx.problem("region", "is empty", drop=MISSING_FIELD)
    timestamp = None
    text = f["posting_date"].strip()
    if not text:
        ctx.problem("posting_date", "is empty", drop=MISSING_FIELD)
    else:
        try:
            timestamp = parse_timestamp(text)
        except ValueError:
            ctx.problem(
                "posting_date", f"{text[:40]!r} is not an ISO 8601 date-time", drop=BAD_VALUE
            )
    year = _year(ctx, f["year"])
    values = {**f, "year": year}
    for col in msrp_key:
        if not values[col].strip():
            ctx.problem(col, "is empty (needed for the MSRP key)", drop=MISSING_FIELD)
    odometer = parse_number(ctx, "odometer", f["odometer"], required=False)
    coords = _coords(ctx, f)
    if not ctx.ok:
        return None

    description = f["description"].strip()
    if structured_text:
        head = " ".join(x for x in (year, f["manufacturer"].strip(), f["model"].strip()) if x)
        parts = [head] if head else []
        if f["condition"].strip():
            parts.append(f"{f['condition'].strip()} condition")
        if odometer is not None and odometer >= 0:
            parts.append(f"{int(odometer)} miles")
        if parts:
            description = ", ".join(parts) + ". " + description
    state = f["state"].strip().lower()
    image_url = f["image_url"].strip()
    basename = posixpath.basename(urlsplit(image_url).path) if image_url else ""
    return Record(
        row=ctx.row,
        line=ctx.line,
        listing_id=listing_id,
        description=description,
        price=price,
        timestamp=timestamp,
        location=f"{region.lower()}, {state}" if state else region.lower(),
        coords=coords,
        category=f["type"].strip().lower() or "unknown",
        msrp_key=normalise_key(values[c] for c in msrp_key),
        image_names=(basename,) if basename else (),
        image_stems=(listing_id,),
    )


def convert_craigslist(
    csv_uri: str,
    out_uri: str,
    *,
    msrp_uri: str,
    images_dir: str | None,
    missing_images: str = "keep",
    period_days: int = 30,
    min_price: float = 100.0,
    max_price: float = 500_000.0,
    msrp_key: Sequence[str] = ("manufacturer", "model"),
    structured_text: bool = True,
    image_size: tuple[int, int] = (48, 48),
    split_fractions: Sequence[float] = (0.7, 0.15, 0.15),
    max_rows: int | None = None,
    dataset: str = DATASET_NAME,
    rows_per_file: int = 4096,
    row_group_rows: int = 256,
) -> tuple[Manifest, ConversionReport]:
    """Convert a Craigslist ``vehicles.csv`` into hmgray shards at ``out_uri``.

    Args:
        csv_uri: the export (local path or storage URI).
        out_uri: dataset folder; gets the shards, ``manifest.json`` and
            ``conversion_report.json``.
        msrp_uri: MSRP table, CSV ``key,msrp`` (``common.load_msrp_table``).
        images_dir: folder of listing images, or None (every image missing).
        missing_images: ``"keep"`` (null image, the model masks it) or ``"drop"``.
        period_days: length of a market-graph time bucket, days.
        min_price, max_price: accepted price range, dollars (inclusive).
        msrp_key: columns forming the MSRP key, in order (from ``KEY_COLUMNS``).
        structured_text: prefix the description with year, make, model, condition, mileage.
        image_size: (height, width) images are resized to, pixels.
        split_fractions: train / val / test shares (split by hash of the id).
        max_rows: read at most this many data rows (a sample of a large export).
        dataset: dataset name in the manifest.

    Returns: ``(manifest, report)``. Raises ``ConversionError`` naming the file for a
    missing input, a header without a used column, a bad MSRP table, or no usable row
    (then nothing is written).
    """
    where = f"convert_craigslist({csv_uri})"
    check_common_options(missing_images, period_days, split_fractions, where)
    check_input(
        csv_uri, "Craigslist CSV"
    )  # the main input first: its absence is the likeliest error
    bad_key = [c for c in msrp_key if c not in KEY_COLUMNS]
    if not msrp_key or bad_key:
        raise ConfigError(
            f"{where}: msrp_key columns must be in {KEY_COLUMNS}, got {list(msrp_key)}"
        )
    report = ConversionReport("craigslist", csv_uri, missing_images_policy=missing_images)
    msrp = load_msrp_table(msrp_uri)
    images = ImageFolder(images_dir, image_size) if images_dir is not None else None
    opened: list[DelimitedFile] = []

    def records() -> Iterator[Record]:
        rows = read_delimited(
            csv_uri,
            delimiter=",",
            required_columns=USED_COLUMNS,
            report=report,
            what="Craigslist CSV",
            max_rows=max_rows,
            on_open=opened.append,
        )
        for ctx, fields in rows:
            record = _parse_row(
                ctx,
                fields,
                msrp_key=msrp_key,
                min_price=min_price,
                max_price=max_price,
                structured_text=structured_text,
            )
            report.commit(ctx)
            if record is not None:
                yield record

    generator = {
        "name": "hmgray.families.valuation.data.formats.craigslist",
        "inputs": {"csv": csv_uri, "msrp": msrp_uri, "images_dir": images_dir},
        "params": {
            "missing_images": missing_images,
            "period_days": period_days,
            "min_price": min_price,
            "max_price": max_price,
            "msrp_key": list(msrp_key),
            "structured_text": structured_text,
            "image_size": list(image_size),
            "split_fractions": list(split_fractions),
            "max_rows": max_rows,
        },
    }
    parsed = list(records())  # read the whole file first: its sha256 goes into the manifest
    generator["inputs"]["csv_sha256"] = opened[0].sha256
    generator["inputs"]["msrp_sha256"] = sha256_of(msrp_uri)
    manifest = finish_conversion(
        parsed,
        report,
        out_uri=out_uri,
        msrp=msrp,
        images=images,
        missing_images=missing_images,
        period_days=period_days,
        split_fractions=split_fractions,
        image_size=image_size,
        dataset=dataset,
        generator=generator,
        id_field="id",
        key_field="+".join(msrp_key),
        rows_per_file=rows_per_file,
        row_group_rows=row_group_rows,
    )
    return manifest, report
