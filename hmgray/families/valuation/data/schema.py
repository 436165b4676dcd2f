"""The Arrow schema of listing shards, version 1 (docs/contracts.md section 1).

One row per second-hand listing. Required columns (``LISTING_SCHEMA``), in this order:

``listing_id`` (string)
    Unique id of the listing.
``image`` (binary, nullable)
    Encoded PNG or JPEG bytes; null when the listing has no image.
``description`` (string)
    Free text. Its tokens are ``hmgray.data.text.tokenize(description)``.
``msrp`` (float64)
    Manufacturer's suggested retail price of the item model, currency units, > 0.
``price`` (float64)
    The target: observed price, currency units, finite and >= 0.
``location_id`` (int32)
    Index into the manifest's ``market.location_names``, in [0, num_locations).
``timestamp`` (timestamp[s, tz=UTC])
    When the listing was posted. Parquet stores seconds as milliseconds, so shards read
    back from disk hold timestamp[ms, tz=UTC] (whole seconds); both types are valid.
``period`` (int32)
    Time bucket of ``timestamp``, in [0, num_periods); a node of the market graph.
``item_model`` (string)
    Item model name; the MSRP is per item model.
``item_model_id`` (int32)
    Index into ``market.item_models``.
``category`` (string)
    Coarse category of the item model (phone, camera, ...).
``scene_boxes`` (list<list<float32>>, inner lists of 4)
    Detected object regions ``(x0, y0, x1, y1)`` normalised to [0, 1] by the image width
    and height (x right, y down; x1/y1 exclusive edges). Region i is node i of the visual
    scene graph.
``scene_labels`` (list<int32>)
    Detector class of each region: 0 = item body, 1.. = part kinds. Same length as
    ``scene_boxes``.
``text_heads`` (list<int32>)
    Dependency head of each token of ``tokenize(description)`` (index into the tokens), -1
    for a root. Same length as the token list; a description may hold several trees.

Optional ground-truth columns ``gt_*`` (synthetic data only, for evaluation; never fed to
a model). Any ``gt_*`` column is allowed; the ones in ``GT_FIELDS`` must have the type
given there:

``gt_delta`` (float64)
    Relative depreciation, ``price = msrp * (1 - gt_delta)`` before rounding to cents.
``gt_delta_wear``, ``gt_delta_defect``, ``gt_delta_struct``, ``gt_delta_market`` (float64)
    The additive parts of ``gt_delta`` before noise and clipping.
``gt_noise`` (float64)
    The Gaussian noise added to the depreciation.
``gt_market`` (float64)
    Market value m(location, period) in [-1, 1]; ``gt_delta_market = gamma * gt_market``.
``gt_wear`` (float64)
    Wear in [0, 1].
``gt_condition_mentioned`` (bool)
    The description states the condition word.
``gt_defect_kind`` (string, nullable)
    ``scratch`` / ``crack`` / ``dent``, null without a defect.
``gt_defect_box`` (list<float32> of 4, nullable)
    Normalised bounding box of the defect pixels, null without a defect.
``gt_defect_subtle`` (bool)
    The defect is subtle (thin, short, low contrast); false without a defect.
``gt_defect_mentioned`` (bool)
    The description mentions the defect.
``gt_detached`` (list<bool>)
    Per part (in ``scene_boxes`` order after the body): detached / misplaced.
``gt_num_detached`` (int32)
    Number of detached parts.
``gt_relation_mentioned`` (list<bool>)
    Per part: the description states whether it is attached.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hmgray.errors import DataError

__all__ = [
    "GT_FIELDS",
    "LISTING_SCHEMA",
    "NULLABLE_COLUMNS",
    "SCHEMA_VERSION",
    "listing_schema",
    "validate_table_schema",
    "validate_table_values",
]

SCHEMA_VERSION = 1

LISTING_SCHEMA = pa.schema(
    [
        pa.field("listing_id", pa.string()),
        pa.field("image", pa.binary()),
        pa.field("description", pa.string()),
        pa.field("msrp", pa.float64()),
        pa.field("price", pa.float64()),
        pa.field("location_id", pa.int32()),
        pa.field("timestamp", pa.timestamp("s", tz="UTC")),
        pa.field("period", pa.int32()),
        pa.field("item_model", pa.string()),
        pa.field("item_model_id", pa.int32()),
        pa.field("category", pa.string()),
        pa.field("scene_boxes", pa.list_(pa.list_(pa.float32()))),
        pa.field("scene_labels", pa.list_(pa.int32())),
        pa.field("text_heads", pa.list_(pa.int32())),
    ]
)

GT_FIELDS: dict[str, pa.DataType] = {
    "gt_delta": pa.float64(),
    "gt_delta_wear": pa.float64(),
    "gt_delta_defect": pa.float64(),
    "gt_delta_struct": pa.float64(),
    "gt_delta_market": pa.float64(),
    "gt_noise": pa.float64(),
    "gt_market": pa.float64(),
    "gt_wear": pa.float64(),
    "gt_condition_mentioned": pa.bool_(),
    "gt_defect_kind": pa.string(),
    "gt_defect_box": pa.list_(pa.float32()),
    "gt_defect_subtle": pa.bool_(),
    "gt_defect_mentioned": pa.bool_(),
    "gt_detached": pa.list_(pa.bool_()),
    "gt_num_detached": pa.int32(),
    "gt_relation_mentioned": pa.list_(pa.bool_()),
}

# Parquet has no seconds unit: pyarrow stores timestamp[s] as milliseconds and reads it back
# as timestamp[ms, tz=UTC] (same instants). Shards read from disk therefore carry the ms type;
# both are accepted, producers write the contract's timestamp[s, tz=UTC].
READ_BACK_TYPES: dict[str, tuple[pa.DataType, ...]] = {
    "timestamp": (pa.timestamp("ms", tz="UTC"),),
}

# Columns that may hold nulls; every other required column must be fully populated.
NULLABLE_COLUMNS = frozenset({"image", "gt_defect_kind", "gt_defect_box"})


def listing_schema(gt_columns: list[str] | tuple[str, ...] = ()) -> pa.Schema:
    """``LISTING_SCHEMA`` followed by the named ``GT_FIELDS`` columns (in the given order)."""
    fields = list(LISTING_SCHEMA)
    for name in gt_columns:
        if name not in GT_FIELDS:
            raise DataError(f"listing schema: unknown ground-truth column {name!r}")
        fields.append(pa.field(name, GT_FIELDS[name]))
    return pa.schema(fields)


def validate_table_schema(schema: pa.Schema, where: str) -> None:
    """Raise ``DataError`` unless ``schema`` is a valid listing schema.

    Checks: every required column is present with exactly its Arrow type (or its Parquet
    read-back type, ``READ_BACK_TYPES``); ``gt_*`` columns
    named in ``GT_FIELDS`` have their type; no column outside the contract. ``where``
    (a file URI or a description) starts every message.
    """
    names = schema.names
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataError(f"{where}: duplicate column(s) {dupes}")
    for want in LISTING_SCHEMA:
        if want.name not in names:
            raise DataError(f"{where}: missing required column {want.name!r} ({want.type})")
        got = schema.field(want.name).type
        if got != want.type and got not in READ_BACK_TYPES.get(want.name, ()):
            raise DataError(f"{where}: column {want.name!r} has type {got}, expected {want.type}")
    for f in schema:
        if f.name in LISTING_SCHEMA.names:
            continue
        if not f.name.startswith("gt_"):
            raise DataError(
                f"{where}: unexpected column {f.name!r} (only the contract's columns and "
                f"gt_* ground-truth columns are allowed)"
            )
        want_type = GT_FIELDS.get(f.name)
        if want_type is not None and f.type != want_type:
            raise DataError(f"{where}: column {f.name!r} has type {f.type}, expected {want_type}")


def _count(mask: np.ndarray) -> int:
    return int(np.count_nonzero(mask))


def validate_table_values(table: pa.Table, where: str) -> None:
    """Raise ``DataError`` for values the contract forbids (schema must already be valid).

    Checks: no nulls outside ``NULLABLE_COLUMNS``; ``price`` finite and >= 0; ``msrp``
    finite and > 0; ``period``, ``location_id``, ``item_model_id`` >= 0; every scene box has
    4 values and ``scene_labels`` has one label per box. Messages give the file, the field
    and how many rows fail.
    """
    for name in table.column_names:
        if name in NULLABLE_COLUMNS:
            continue
        nulls = table.column(name).null_count
        if nulls and (name in LISTING_SCHEMA.names or name in GT_FIELDS):
            raise DataError(f"{where}: column {name!r} has {nulls} null value(s)")
    price = table.column("price").to_numpy()
    bad = ~np.isfinite(price)
    if bad.any():
        raise DataError(f"{where}: column 'price' has {_count(bad)} non-finite (NaN/inf) row(s)")
    bad = price < 0
    if bad.any():
        raise DataError(f"{where}: column 'price' has {_count(bad)} negative row(s)")
    msrp = table.column("msrp").to_numpy()
    bad = ~np.isfinite(msrp) | ~(msrp > 0)
    if bad.any():
        raise DataError(
            f"{where}: column 'msrp' has {_count(bad)} row(s) that are not finite and > 0"
        )
    for name in ("location_id", "period", "item_model_id"):
        bad = table.column(name).to_numpy() < 0
        if bad.any():
            raise DataError(f"{where}: column {name!r} has {_count(bad)} negative row(s)")
    boxes = table.column("scene_boxes")
    n_boxes = pc.list_value_length(boxes).to_numpy(zero_copy_only=False)
    n_labels = pc.list_value_length(table.column("scene_labels")).to_numpy(zero_copy_only=False)
    bad = n_boxes != n_labels
    if bad.any():
        raise DataError(
            f"{where}: columns 'scene_boxes'/'scene_labels' differ in length in {_count(bad)} row(s)"
        )
    inner = pc.list_flatten(boxes)
    if len(inner):
        bad = pc.list_value_length(inner).to_numpy(zero_copy_only=False) != 4
        if bad.any():
            raise DataError(
                f"{where}: column 'scene_boxes' has {_count(bad)} box(es) without 4 values"
            )
