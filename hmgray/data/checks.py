"""The checks a family's shard schema is made of, with one wording for every family.

Each raises ``hmgray.errors.DataError`` whose message starts with ``where`` (a file URI or
a description) and names the column or context field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pyarrow as pa

from hmgray.errors import DataError

__all__ = ["FixedRows", "check_columns", "check_image_size", "check_in_range",
           "check_no_nulls", "check_positive_int"]  # fmt: skip


class FixedRows:
    """The part of a ``ShardSchema`` that is the same for every family whose rows have one
    fixed set of columns (``rows``) plus optional ``gt_*`` truth, and no side table:
    column order, the schema check, the refusal of side tables. A family's schema
    subclasses it and adds ``version``, ``validate_values`` and ``validate_context``."""

    rows: pa.Schema
    key_column = "sample_id"
    tables = ()

    def order(self, table: pa.Table) -> pa.Table:
        extra = [n for n in table.column_names if n.startswith("gt_")]
        return table.select([*self.rows.names, *extra])

    def validate_schema(self, schema: pa.Schema, where: str) -> None:
        check_columns(schema, self.rows, where)

    def validate_table(self, name: str, table: pa.Table, context: Mapping, where: str) -> None:
        raise DataError(f"{where}: {type(self).__name__} has no side tables, got {name!r}")


def check_columns(schema: pa.Schema, wanted: pa.Schema, where: str) -> None:
    """Every column of ``wanted`` present with its type; no other column but ``gt_*``."""
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


def check_in_range(values: np.ndarray, n: int, column: str, where: str) -> None:
    """Every value of ``column`` in [0, n)."""
    bad = (values < 0) | (values >= n)
    if bad.any():
        raise DataError(
            f"{where}: column {column!r} has {int(bad.sum())} value(s) outside [0, {n}), "
            f"e.g. {int(values[bad][0])}"
        )


def check_no_nulls(table: pa.Table, columns: Iterable[str], where: str) -> None:
    for c in columns:
        if table.column(c).null_count:
            raise DataError(f"{where}: column {c!r} has {table.column(c).null_count} null(s)")


def check_positive_int(context: Mapping, key: str, where: str) -> None:
    """Context field ``key`` is an integer >= 1 (not a bool)."""
    v = context.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise DataError(f"{where}: field {key!r} must be a positive integer, got {v!r}")


def check_image_size(context: Mapping, where: str) -> None:
    """Context field ``image_size`` is [H, W], integers >= 8."""
    size = context.get("image_size")
    if not (
        isinstance(size, list)
        and len(size) == 2
        and all(isinstance(s, int) and s >= 8 for s in size)
    ):
        raise DataError(f"{where}: field 'image_size' must be [H, W] with H, W >= 8, got {size!r}")
