"""Image-text retrieval shards, schema version 1: one row per (image, caption) pair.

Split files (``train``, ``val``, ``test``):

``sample_id`` (int64)   unique per file.
``image_id`` (int64)    the image; its rows (one per caption) carry the same bytes. The
                        evaluation gallery is a split's distinct images.
``identity`` (int32)    the person (or class) shown, >= 0; a query's correct images are
                        the gallery images of its identity.
``image`` (binary)      PNG or JPEG bytes.
``caption`` (string)    the text, tokenised by ``hmgray.data.text.tokenize``.

Optional ``gt_*`` columns (synthetic data's planted truth) are allowed and never fed to a
model. Context (manifest JSON): ``image_size`` [H, W] (what the decoder resizes to),
``num_identities`` (ids are in [0, num_identities)), ``split`` (the protocol, stated).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hmgray.errors import DataError

__all__ = ["ROWS", "RetrievalShards", "RETRIEVAL_SHARDS", "row_schema"]

ROWS = pa.schema(
    [
        ("sample_id", pa.int64()),
        ("image_id", pa.int64()),
        ("identity", pa.int32()),
        ("image", pa.binary()),
        ("caption", pa.string()),
    ]
)


def row_schema() -> pa.Schema:
    """The row schema (without ``gt_*`` columns)."""
    return ROWS


class RetrievalShards:
    """The ``ShardSchema`` of the retrieval family (see the module docstring)."""

    version = 1
    key_column = "sample_id"
    tables = ()

    def order(self, table: pa.Table) -> pa.Table:
        extra = [n for n in table.column_names if n.startswith("gt_")]
        return table.select([*ROWS.names, *extra])

    def validate_schema(self, schema: pa.Schema, where: str) -> None:
        for f in ROWS:
            if f.name not in schema.names:
                raise DataError(f"{where}: column {f.name!r} is missing")
            if schema.field(f.name).type != f.type:
                raise DataError(f"{where}: column {f.name!r} has type "
                                f"{schema.field(f.name).type}, expected {f.type}")  # fmt: skip
        extra = [n for n in schema.names if n not in ROWS.names and not n.startswith("gt_")]
        if extra:
            raise DataError(f"{where}: unknown column(s) {extra} (only gt_* may be added)")

    def validate_values(self, table: pa.Table, context: Mapping, where: str) -> None:
        for c in ROWS.names:
            if table.column(c).null_count:
                raise DataError(f"{where}: column {c!r} has {table.column(c).null_count} null(s)")
        ids = table.column("identity").to_numpy()
        n = context["num_identities"]
        bad = (ids < 0) | (ids >= n)
        if bad.any():
            raise DataError(f"{where}: column 'identity' has {int(bad.sum())} value(s) outside "
                            f"[0, {n}), e.g. {int(ids[bad][0])}")  # fmt: skip
        empty = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(table.column("caption"))), 0)
        if pc.any(empty).as_py():
            row = int(np.flatnonzero(empty.to_numpy(zero_copy_only=False))[0])
            raise DataError(f"{where}: column 'caption' is empty in row {row}")

    def validate_context(self, context: Mapping, where: str) -> None:
        v = context.get("num_identities")
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise DataError(
                f"{where}: field 'num_identities' must be a positive integer, got {v!r}"
            )
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
        raise DataError(f"{where}: the retrieval shards have no side tables, got {name!r}")


RETRIEVAL_SHARDS = RetrievalShards()
