"""Mercari Price Suggestion Challenge listings (Kaggle ``train.tsv``) -> shards.

Input format: tab-separated, header line, UTF-8, ``"``-quoted fields with doubled quotes
where a field holds a quote or a tab (what pandas writes and ``read_csv(sep="\\t")``
reads). Columns (``COLUMNS``): ``train_id, name, item_condition_id, category_name,
brand_name, price, shipping, item_description``. ``item_condition_id`` is 1 (new) .. 5
(poor); ``category_name`` is slash-separated levels (``Electronics/Cell Phones &
Accessories/Cell Phones & Smartphones``), empty for some rows, as is ``brand_name``;
``price`` is dollars as a float (``10.0``); ``shipping`` is 1 if the seller pays, 0 if the
buyer does; ``item_description`` is ``"No description yet"`` when the seller wrote none.
``test.tsv`` (``test_id``, no ``price``) has no target and is refused with a clear error.

Mapping to the listing schema (docs/contracts.md section 1):

* ``listing_id`` = ``train_id``; ``price`` = ``price``. Missing, non-numeric and
  out-of-range prices (default range [1, 10 000]; the data has ~0.06 % zero prices, which
  the competition excluded from scoring) are reported and dropped.
* ``item_model`` = the MSRP key. Mercari has no model column and ``name`` is a free-form
  title, so the default key is ``brand_name`` + the leaf of ``category_name``, normalised
  (``"apple cell phones & smartphones"``): a reference new price per brand and product
  type, which a user can tabulate. ``msrp_key`` picks other parts from ``KEY_PARTS``
  (e.g. ``("name",)`` for a table keyed by exact title). A row with an empty key part is
  dropped (``missing_field``): a missing brand cannot be priced.
* ``description`` = ``"<name>. <condition> condition. <item_description>"`` with the
  condition word of ``item_condition_id`` (new, like new, good, fair, poor) and the
  placeholder ``No description yet`` removed. The title and the condition are the
  strongest price signals and the schema has no column for them; with
  ``structured_text=False`` the condition phrase is left out.
* ``category`` = the top level of ``category_name``, lower-cased (``"electronics"``),
  ``"unknown"`` when empty.
* Location. Mercari exports have no seller location. Default (``location="shipping"``): two
  pseudo-locations, ``"shipping: buyer pays"`` and ``"shipping: seller pays"``. Who pays
  shipping shifts the listed price (a seller-paid price includes postage) and is part of
  the terms of the market, and the schema has no other column that could carry it, so the
  market graph gets it as a location node. ``location="single"`` puts every listing at
  one node ``"mercari (us)"`` instead. Either way the coordinates are a placeholder (the
  US mean centre of population, 37.4 N 92.2 W), so ``location__near__location`` edges
  carry no geography.
* Time. Exports have no posting date: every listing gets the timestamp ``listed_at``
  (default 2017-11-01 UTC, an arbitrary date near the competition's launch in late 2017),
  so there is one period and the time part of the market graph is empty. ``period_days`` is recorded only.
* image: the file in ``images_dir`` named by the id (``<train_id>.jpg``/``.png``/...).
  The competition shipped no images; a user who collected them names them so. Nothing is
  downloaded.

Scene graph and text tree are placeholders (see ``hmgray.families.valuation.data.formats.common``): one
whole-image region, a chain of tokens. The meso level degenerates on this data.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

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

__all__ = ["COLUMNS", "DATASET_NAME", "KEY_PARTS", "LOCATION_MODES", "convert_mercari"]

DATASET_NAME = "mercari-price"
COLUMNS = (
    "train_id", "name", "item_condition_id", "category_name", "brand_name", "price",
    "shipping", "item_description",
)  # fmt: skip
KEY_PARTS = ("brand_name", "category_leaf", "category_name", "name")
LOCATION_MODES = ("shipping", "single")
CONDITION_WORDS = {1: "new", 2: "like new", 3: "good", 4: "fair", 5: "poor"}
NO_DESCRIPTION = "No description yet"  # Mercari's placeholder for an empty description
PLACEHOLDER_COORDS = (37.4, -92.2)  # US mean centre of population; no geography intended


def _location(mode: str, shipping: int) -> str:
    if mode == "single":
        return "mercari (us)"
    return "shipping: seller pays" if shipping == 1 else "shipping: buyer pays"


def _code(ctx: RowContext, field_name: str, text: str, allowed) -> int | None:
    value = parse_number(ctx, field_name, text, required=True)
    if value is None:
        return None
    if value not in allowed:
        ctx.problem(field_name, f"{text.strip()!r} is not one of {sorted(allowed)}", drop=BAD_VALUE)
        return None
    return int(value)


def _parse_row(
    ctx: RowContext,
    f: dict[str, str],
    *,
    msrp_key: Sequence[str],
    min_price: float,
    max_price: float,
    structured_text: bool,
    location: str,
    timestamp,
) -> Record | None:
    listing_id = f["train_id"].strip()
    if not listing_id:
        ctx.problem("train_id", "is empty", drop=MISSING_FIELD)
    name = f["name"].strip()
    if not name:
        ctx.problem("name", "is empty", drop=MISSING_FIELD)
    price = parse_price(ctx, "price", f["price"], min_price, max_price)
    condition = _code(ctx, "item_condition_id", f["item_condition_id"], CONDITION_WORDS)
    shipping = _code(ctx, "shipping", f["shipping"], {0, 1})
    levels = [x.strip() for x in f["category_name"].split("/") if x.strip()]
    parts = {
        "brand_name": f["brand_name"],
        "name": name,
        "category_name": f["category_name"],
        "category_leaf": levels[-1] if levels else "",
    }
    for part in msrp_key:
        if not parts[part].strip():
            source = "category_name" if part == "category_leaf" else part
            ctx.problem(source, "is empty (needed for the MSRP key)", drop=MISSING_FIELD)
    if not ctx.ok:
        return None

    text = f["item_description"].strip()
    if text == NO_DESCRIPTION:
        text = ""
    phrases = [name]
    if structured_text:
        phrases.append(f"{CONDITION_WORDS[condition]} condition")
    if text:
        phrases.append(text)
    return Record(
        row=ctx.row,
        line=ctx.line,
        listing_id=listing_id,
        description=". ".join(phrases),
        price=price,
        timestamp=timestamp,
        location=_location(location, shipping),
        coords=PLACEHOLDER_COORDS,
        category=levels[0].lower() if levels else "unknown",
        msrp_key=normalise_key(parts[p] for p in msrp_key),
        image_stems=(listing_id,),
    )


def convert_mercari(
    tsv_uri: str,
    out_uri: str,
    *,
    msrp_uri: str,
    images_dir: str | None,
    missing_images: str = "keep",
    period_days: int = 30,
    min_price: float = 1.0,
    max_price: float = 10_000.0,
    msrp_key: Sequence[str] = ("brand_name", "category_leaf"),
    location: str = "shipping",
    listed_at: str = "2017-11-01T00:00:00+00:00",
    structured_text: bool = True,
    image_size: tuple[int, int] = (48, 48),
    split_fractions: Sequence[float] = (0.7, 0.15, 0.15),
    max_rows: int | None = None,
    dataset: str = DATASET_NAME,
    rows_per_file: int = 4096,
    row_group_rows: int = 256,
) -> tuple[Manifest, ConversionReport]:
    """Convert a Mercari ``train.tsv`` into hmgray shards at ``out_uri``.

    Args: as ``convert_craigslist`` (prices in dollars), plus
        msrp_key: parts forming the MSRP key, in order (from ``KEY_PARTS``).
        location: ``"shipping"`` (two pseudo-locations by who pays shipping) or ``"single"``.
        listed_at: ISO 8601 timestamp given to every listing (the export has none).

    Returns: ``(manifest, report)``. Raises ``ConversionError`` naming the file for a
    missing input, a header without a used column (``test.tsv`` has no ``price``), a bad
    MSRP table, or no usable row (then nothing is written).
    """
    where = f"convert_mercari({tsv_uri})"
    check_common_options(missing_images, period_days, split_fractions, where)
    check_input(tsv_uri, "Mercari TSV")  # the main input first: its absence is the likeliest error
    bad = [p for p in msrp_key if p not in KEY_PARTS]
    if not msrp_key or bad:
        raise ConfigError(f"{where}: msrp_key parts must be in {KEY_PARTS}, got {list(msrp_key)}")
    if location not in LOCATION_MODES:
        raise ConfigError(f"{where}: location must be one of {LOCATION_MODES}, got {location!r}")
    try:
        timestamp = parse_timestamp(listed_at)
    except ValueError as e:
        raise ConfigError(f"{where}: listed_at={listed_at!r} is not ISO 8601 ({e})") from e
    report = ConversionReport("mercari", tsv_uri, missing_images_policy=missing_images)
    msrp = load_msrp_table(msrp_uri)
    images = ImageFolder(images_dir, image_size) if images_dir is not None else None
    opened: list[DelimitedFile] = []

    def records() -> Iterator[Record]:
        rows = read_delimited(
            tsv_uri,
            delimiter="\t",
            required_columns=COLUMNS,
            report=report,
            what="Mercari TSV",
            max_rows=max_rows,
            on_open=opened.append,
            hints={"price": "a test.tsv export has no prices and cannot be a training set."},
        )
        for ctx, fields in rows:
            record = _parse_row(
                ctx,
                fields,
                msrp_key=msrp_key,
                min_price=min_price,
                max_price=max_price,
                structured_text=structured_text,
                location=location,
                timestamp=timestamp,
            )
            report.commit(ctx)
            if record is not None:
                yield record

    parsed = list(records())  # read the whole file first: its sha256 goes into the manifest
    report.notes.append(
        "Mercari has no posting dates: every listing is at listed_at "
        f"{timestamp.isoformat()}, one period"
    )
    generator = {
        "name": "hmgray.families.valuation.data.formats.mercari",
        "inputs": {
            "tsv": tsv_uri,
            "tsv_sha256": opened[0].sha256,
            "msrp": msrp_uri,
            "msrp_sha256": sha256_of(msrp_uri),
            "images_dir": images_dir,
        },
        "params": {
            "missing_images": missing_images,
            "period_days": period_days,
            "min_price": min_price,
            "max_price": max_price,
            "msrp_key": list(msrp_key),
            "location": location,
            "listed_at": timestamp.isoformat(),
            "structured_text": structured_text,
            "image_size": list(image_size),
            "split_fractions": list(split_fractions),
            "max_rows": max_rows,
        },
    }
    locations = {_location(location, s): PLACEHOLDER_COORDS for s in (0, 1)}
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
        id_field="train_id",
        key_field="+".join(msrp_key),
        location_coords=locations,
        rows_per_file=rows_per_file,
        row_group_rows=row_group_rows,
    )
    return manifest, report
