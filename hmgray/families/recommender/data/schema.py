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

from hmgray.data.checks import (
    check_columns,
    check_image_size,
    check_in_range,
    check_no_nulls,
    check_positive_int,
)
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


class RecShards:
    """The ``ShardSchema`` of the recommender family (see the module docstring)."""

    version = 1
    key_column = "interaction_id"
    tables = tuple(TABLE_SCHEMAS)

    def order(self, table: pa.Table) -> pa.Table:
        extra = [n for n in table.column_names if n.startswith("gt_")]
        return table.select([*INTERACTIONS.names, *extra])

    def validate_schema(self, schema: pa.Schema, where: str) -> None:
        check_columns(schema, INTERACTIONS, where)

    def validate_values(self, table: pa.Table, context: Mapping, where: str) -> None:
        check_no_nulls(table, ["interaction_id", "user", "item", "timestamp", "rating"], where)
        check_in_range(table.column("user").to_numpy(), context["num_users"], "user", where)
        check_in_range(table.column("item").to_numpy(), context["num_items"], "item", where)
        seen = pc.list_flatten(table.column("also_seen")).to_numpy(zero_copy_only=False)
        check_in_range(seen, context["num_items"], "also_seen", where)

    def validate_context(self, context: Mapping, where: str) -> None:
        for key in ("num_users", "num_items"):
            check_positive_int(context, key, where)
        check_image_size(context, where)

    def validate_table(self, name: str, table: pa.Table, context: Mapping, where: str) -> None:
        if name not in TABLE_SCHEMAS:
            raise DataError(f"{where}: unknown side table {name!r}")
        check_columns(table.schema, TABLE_SCHEMAS[name], where)
        if name in COUNTS:
            key = name[:-1]  # items -> item, users -> user
            n = context[COUNTS[name]]
            if table.num_rows != n:
                raise DataError(
                    f"{where}: {table.num_rows} rows, context field {COUNTS[name]!r} says {n}"
                )
            check_no_nulls(table, [key, f"{key}_key"], where)
            if not np.array_equal(table.column(key).to_numpy(), np.arange(n)):
                raise DataError(f"{where}: column {key!r} must be 0, 1, ..., {n - 1} in order")
        else:
            check_no_nulls(table, ["src", "dst", "weight"], where)
            src, dst = table.column("src").to_numpy(), table.column("dst").to_numpy()
            for col, v in (("src", src), ("dst", dst)):
                check_in_range(v, context["num_items"], col, where)
            if (src >= dst).any():
                raise DataError(f"{where}: every edge needs src < dst (each pair once)")
            if not (table.column("weight").to_numpy() > 0).all():
                raise DataError(f"{where}: column 'weight' must be > 0")


REC_SHARDS = RecShards()
