"""Recommender shards, schema version 1: interaction rows plus three side tables.

Split files (``train``, ``val``, ``test``), one row per interaction (``INTERACTIONS``):

``interaction_id`` (int64)   unique per file.
``user`` (int32)             index into the ``users`` table, in [0, num_users).
``item`` (int32)             index into the ``items`` table, in [0, num_items).
``timestamp`` (int64)        milliseconds since the epoch (Amazon 2023's unit).
``rating`` (float32)         the review's rating (1..5; 0 when unknown).
``also_seen`` (list<int32>)  items the user interacted with before this row that are not
                             training rows (a test row: its validation item); masked in
                             full ranking like the training items.

Splits are leave-last-out per user by time (``hmgray.families.recommender.data.split``):
a user's last interaction is a test row, the one before a validation row, the rest train.

Side tables (``manifest.read_table``):

``items``       ``item`` (int32, = row number), ``item_key`` (string: parent_asin),
                ``title`` (string), ``description`` (string, nullable),
                ``image`` (binary PNG/JPEG, nullable: the image is missing).
``users``       ``user`` (int32, = row number), ``user_key`` (string: user_id),
                ``review_text`` (string: the last 5 training reviews, oldest first).
``item_edges``  ``src``, ``dst`` (int32, src < dst: undirected, each pair once),
                ``weight`` (float32 > 0: the co-occurrence count).

Optional ``gt_*`` columns (synthetic data's planted truth) are allowed in every table and
never fed to a model.

Context (manifest JSON): ``num_users``, ``num_items``, ``image_size`` [H, W], ``graph``
(where the edges come from), ``split`` (the protocol, stated).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hmgray.errors import DataError

__all__ = ["INTERACTIONS", "RecShards", "REC_SHARDS", "TABLE_SCHEMAS"]

INTERACTIONS = pa.schema(
    [
        ("interaction_id", pa.int64()),
        ("user", pa.int32()),
        ("item", pa.int32()),
        ("timestamp", pa.int64()),
        ("rating", pa.float32()),
        ("also_seen", pa.list_(pa.int32())),
    ]
)
TABLE_SCHEMAS = {
    "items": pa.schema(
        [
            ("item", pa.int32()),
            ("item_key", pa.string()),
            ("title", pa.string()),
            ("description", pa.string()),
            ("image", pa.binary()),
        ]
    ),
    "users": pa.schema(
        [("user", pa.int32()), ("user_key", pa.string()), ("review_text", pa.string())]
    ),
    "item_edges": pa.schema([("src", pa.int32()), ("dst", pa.int32()), ("weight", pa.float32())]),
}
COUNTS = {"items": "num_items", "users": "num_users"}


def _check_columns(schema: pa.Schema, wanted: pa.Schema, where: str) -> None:
    for f in wanted:
        if f.name not in schema.names:
            raise DataError(f"{where}: column {f.name!r} is missing")
        if schema.field(f.name).type != f.type:
            raise DataError(
                f"{where}: column {f.name!r} has type {schema.field(f.name).type}, expected {f.type}"
            )
    extra = [n for n in schema.names if n not in wanted.names and not n.startswith("gt_")]
    if extra:
        raise DataError(f"{where}: unknown column(s) {extra} (only gt_* may be added)")


def _in_range(values: np.ndarray, n: int, column: str, where: str) -> None:
    bad = (values < 0) | (values >= n)
    if bad.any():
        raise DataError(
            f"{where}: column {column!r} has {int(bad.sum())} value(s) outside [0, {n}), "
            f"e.g. {int(values[bad][0])}"
        )


def _no_nulls(table: pa.Table, columns, where: str) -> None:
    for c in columns:
        if table.column(c).null_count:
            raise DataError(f"{where}: column {c!r} has {table.column(c).null_count} null(s)")


class RecShards:
    """The ``ShardSchema`` of the recommender family (see the module docstring)."""

    version = 1
    key_column = "interaction_id"
    tables = tuple(TABLE_SCHEMAS)

    def order(self, table: pa.Table) -> pa.Table:
        extra = [n for n in table.column_names if n.startswith("gt_")]
        return table.select([*INTERACTIONS.names, *extra])

    def validate_schema(self, schema: pa.Schema, where: str) -> None:
        _check_columns(schema, INTERACTIONS, where)

    def validate_values(self, table: pa.Table, context: Mapping, where: str) -> None:
        _no_nulls(table, ["interaction_id", "user", "item", "timestamp", "rating"], where)
        _in_range(table.column("user").to_numpy(), context["num_users"], "user", where)
        _in_range(table.column("item").to_numpy(), context["num_items"], "item", where)
        seen = pc.list_flatten(table.column("also_seen")).to_numpy(zero_copy_only=False)
        _in_range(seen, context["num_items"], "also_seen", where)

    def validate_context(self, context: Mapping, where: str) -> None:
        for key in ("num_users", "num_items"):
            v = context.get(key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise DataError(f"{where}: field {key!r} must be a positive integer, got {v!r}")
        size = context.get("image_size")
        if not (
            isinstance(size, list)
            and len(size) == 2
            and all(isinstance(s, int) and s >= 8 for s in size)
        ):
            raise DataError(
                f"{where}: field 'image_size' must be [H, W] with H, W >= 8, got {size!r}"
            )

    def validate_table(self, name: str, table: pa.Table, context: Mapping, where: str) -> None:
        if name not in TABLE_SCHEMAS:
            raise DataError(f"{where}: unknown side table {name!r}")
        _check_columns(table.schema, TABLE_SCHEMAS[name], where)
        if name in COUNTS:
            key = name[:-1]  # items -> item, users -> user
            n = context[COUNTS[name]]
            if table.num_rows != n:
                raise DataError(
                    f"{where}: {table.num_rows} rows, context field {COUNTS[name]!r} says {n}"
                )
            _no_nulls(table, [key, f"{key}_key"], where)
            if not np.array_equal(table.column(key).to_numpy(), np.arange(n)):
                raise DataError(f"{where}: column {key!r} must be 0, 1, ..., {n - 1} in order")
        else:
            _no_nulls(table, ["src", "dst", "weight"], where)
            src, dst = table.column("src").to_numpy(), table.column("dst").to_numpy()
            for col, v in (("src", src), ("dst", dst)):
                _in_range(v, context["num_items"], col, where)
            if (src >= dst).any():
                raise DataError(f"{where}: every edge needs src < dst (each pair once)")
            if not (table.column("weight").to_numpy() > 0).all():
                raise DataError(f"{where}: column 'weight' must be > 0")


REC_SHARDS = RecShards()
