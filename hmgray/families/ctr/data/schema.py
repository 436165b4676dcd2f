"""Click-through shards, schema version 1: one row per impression.

Split files (``train``, ``val``, ``test``), columns:

``sample_id`` (int64)          unique per file.
``time`` (int64)               seconds since the epoch (Taobao's unit).
``label`` (int8)               1 = click (UserBehavior: buy; IJCAI-15: purchase), else 0.
``user``, ``item``, ``brand``, ``cate`` (int32)
                               indices in [0, vocabulary); 0 means unknown (a ``NULL``
                               brand, a data set without brands). The vocabularies are the
                               context's ``fields``.
``hist_brand``, ``hist_cate`` (list<int32>)
                               the user's behaviours strictly before ``time`` (at most
                               ``context["max_history"]``, **newest first**), as
                               (brand, category) pairs; empty when there are none.
``y_brand``, ``y_cate`` (int8) the coarse pseudo-labels: 1 when the user has a click on a
                               *training* row with this row's brand (category), else 0; so
                               ``label = 1`` on a training row implies both are 1. Computed
                               from the training split only (``hmgray.families.ctr.data.
                               labels``); 0 for an unknown (0) brand or category.
``tail`` (bool)                the item is in the long tail: among the least frequent
                               items of the training split that together hold
                               ``context["tail_share"]`` of its impressions.

Further int32 columns are the data set's other categorical fields (Taobao: ``pid``,
``age_level``, ...), named with their vocabulary sizes in ``context["fields"]`` (0 =
unknown). Optional ``gt_*`` columns (synthetic data's planted truth) are never fed to a
model.

Context (manifest JSON): ``fields`` {name: vocabulary size, user/item/brand/cate first},
``coarse`` (the coarse granularities with pseudo-labels: ``["brand", "cate"]`` or
``["cate"]``), ``max_history``, ``tail_share``, ``split`` (the protocol, stated).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hmgray.data.checks import check_in_range
from hmgray.errors import DataError

__all__ = ["BASE", "COARSE", "CORE_FIELDS", "CTR_SHARDS", "CtrShards", "row_schema"]

CORE_FIELDS = ("user", "item", "brand", "cate")
COARSE = ("brand", "cate")  # the granularities a data set may give pseudo-labels for
BASE = pa.schema(
    [
        ("sample_id", pa.int64()),
        ("time", pa.int64()),
        ("label", pa.int8()),
        *((f, pa.int32()) for f in CORE_FIELDS),
        ("hist_brand", pa.list_(pa.int32())),
        ("hist_cate", pa.list_(pa.int32())),
        ("y_brand", pa.int8()),
        ("y_cate", pa.int8()),
        ("tail", pa.bool_()),
    ]
)


def row_schema(fields: Mapping[str, int]) -> pa.Schema:
    """The full row schema of a data set whose categorical fields are ``fields``."""
    extra = [f for f in fields if f not in CORE_FIELDS]
    return pa.schema([*BASE, *((f, pa.int32()) for f in extra)])


def _extra_columns(schema: pa.Schema) -> list[str]:
    return [n for n in schema.names if n not in BASE.names and not n.startswith("gt_")]


class CtrShards:
    """The ``ShardSchema`` of the click-through family (see the module docstring)."""

    version = 1
    key_column = "sample_id"

    def order(self, table: pa.Table) -> pa.Table:
        extra = sorted(_extra_columns(table.schema))
        gt = [n for n in table.column_names if n.startswith("gt_")]
        return table.select([*BASE.names, *extra, *gt])

    def validate_schema(self, schema: pa.Schema, where: str) -> None:
        for f in BASE:
            if f.name not in schema.names:
                raise DataError(f"{where}: column {f.name!r} is missing")
            if schema.field(f.name).type != f.type:
                raise DataError(
                    f"{where}: column {f.name!r} has type {schema.field(f.name).type}, "
                    f"expected {f.type}"
                )
        for name in _extra_columns(schema):
            if schema.field(name).type != pa.int32():
                raise DataError(
                    f"{where}: extra field column {name!r} has type "
                    f"{schema.field(name).type}, expected int32"
                )

    def validate_values(self, table: pa.Table, context: Mapping, where: str) -> None:
        fields = context["fields"]
        extra = _extra_columns(table.schema)
        unknown = sorted(set(extra) - set(fields))
        if unknown:
            raise DataError(f"{where}: column(s) {unknown} are not in context field 'fields'")
        missing = sorted(set(fields) - set(CORE_FIELDS) - set(extra))
        if missing:
            raise DataError(f"{where}: context 'fields' names column(s) {missing}; not present")
        for c in (*BASE.names, *extra):
            if table.column(c).null_count:
                raise DataError(f"{where}: column {c!r} has {table.column(c).null_count} null(s)")
        for c in ("label", "y_brand", "y_cate"):
            v = table.column(c).to_numpy()
            if ((v != 0) & (v != 1)).any():
                raise DataError(f"{where}: column {c!r} must hold 0 or 1")
        for name in (*CORE_FIELDS, *extra):
            check_in_range(table.column(name).to_numpy(), fields[name], name, where)
        for name in ("brand", "cate"):
            values = pc.list_flatten(table.column(f"hist_{name}")).to_numpy(zero_copy_only=False)
            check_in_range(values, fields[name], f"hist_{name}", where)
        lb = pc.list_value_length(table.column("hist_brand")).to_numpy(zero_copy_only=False)
        lc = pc.list_value_length(table.column("hist_cate")).to_numpy(zero_copy_only=False)
        if not np.array_equal(lb, lc):
            raise DataError(f"{where}: columns 'hist_brand' and 'hist_cate' differ in length")
        if len(lb) and lb.max() > context["max_history"]:
            raise DataError(
                f"{where}: a history holds {int(lb.max())} behaviours, more than context "
                f"field 'max_history' ({context['max_history']})"
            )

    def validate_context(self, context: Mapping, where: str) -> None:
        fields = context.get("fields")
        if not isinstance(fields, Mapping) or any(f not in fields for f in CORE_FIELDS):
            raise DataError(
                f"{where}: field 'fields' must map every categorical field (at least "
                f"{', '.join(CORE_FIELDS)}) to its vocabulary size, got {fields!r}"
            )
        for name, size in fields.items():
            if not isinstance(size, int) or isinstance(size, bool) or size < 1:
                raise DataError(f"{where}: field 'fields.{name}' must be an integer >= 1")
        coarse = context.get("coarse")
        if not (isinstance(coarse, list) and coarse and set(coarse) <= set(COARSE)):
            raise DataError(
                f"{where}: field 'coarse' must be a non-empty list of {list(COARSE)}, got {coarse!r}"
            )
        mh = context.get("max_history")
        if not isinstance(mh, int) or isinstance(mh, bool) or mh < 1:
            raise DataError(f"{where}: field 'max_history' must be a positive integer")
        share = context.get("tail_share")
        if not isinstance(share, float | int) or not 0 < share < 1:
            raise DataError(f"{where}: field 'tail_share' must be in (0, 1), got {share!r}")


CTR_SHARDS = CtrShards()
