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

from hmgray.data.checks import (
    FixedRows,
    check_image_size,
    check_in_range,
    check_no_nulls,
    check_positive_int,
)
from hmgray.errors import DataError

__all__ = ["ROWS", "RetrievalShards", "RETRIEVAL_SHARDS"]

ROWS = pa.schema(
    [
        ("sample_id", pa.int64()),
        ("image_id", pa.int64()),
        ("identity", pa.int32()),
        ("image", pa.binary()),
        ("caption", pa.string()),
    ]
)


class RetrievalShards(FixedRows):
    """The ``ShardSchema`` of the retrieval family (see the module docstring)."""

    version = 1
    rows = ROWS

    def validate_values(self, table: pa.Table, context: Mapping, where: str) -> None:
        check_no_nulls(table, ROWS.names, where)
        ids = table.column("identity").to_numpy()
        check_in_range(ids, context["num_identities"], "identity", where)
        empty = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(table.column("caption"))), 0)
        if pc.any(empty).as_py():
            row = int(np.flatnonzero(empty.to_numpy(zero_copy_only=False))[0])
            raise DataError(f"{where}: column 'caption' is empty in row {row}")

    def validate_context(self, context: Mapping, where: str) -> None:
        check_positive_int(context, "num_identities", where)
        check_image_size(context, where)


RETRIEVAL_SHARDS = RetrievalShards()
