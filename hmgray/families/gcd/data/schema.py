"""Category discovery shards, schema version 1: one row per image.

Split files, the transductive GCD protocol (the one HypGCD and SimGCD report):

``train``  what the model trains on: the labelled images (``labelled`` true, some old
           classes' images) and the unlabelled ones (the rest of the old classes' images
           and all of the new classes'); a model sees ``label`` only where ``labelled``.
``val``    labelled images of old classes held out of ``train`` (selection: accuracy on
           them, never a test label).
``test``   the unlabelled training images again, with their labels: what is clustered
           and scored (All / Old / New, ``hmgray.families.gcd.metrics``).

Columns: ``sample_id`` (int64, unique per file; a test row has its training row's id),
``image`` (PNG or JPEG bytes), ``label`` (int32 class id in [0, num_classes)), ``labelled``
(bool), ``old`` (bool: the class is known, i.e. in the context's ``old_classes``).
Optional ``gt_*`` columns (synthetic truth) are allowed and never fed to a model.
Context (manifest JSON): ``image_size`` [H, W], ``num_classes``, ``old_classes`` (ids),
``split`` (the protocol, stated).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa

from hmgray.data.checks import (
    FixedRows,
    check_image_size,
    check_in_range,
    check_no_nulls,
    check_positive_int,
)
from hmgray.errors import DataError

__all__ = ["GCD_SHARDS", "ROWS", "GcdShards"]

ROWS = pa.schema(
    [
        ("sample_id", pa.int64()),
        ("image", pa.binary()),
        ("label", pa.int32()),
        ("labelled", pa.bool_()),
        ("old", pa.bool_()),
    ]
)


class GcdShards(FixedRows):
    """The ``ShardSchema`` of the category discovery family (see the module docstring)."""

    version = 1
    rows = ROWS

    def validate_values(self, table: pa.Table, context: Mapping, where: str) -> None:
        check_no_nulls(table, ROWS.names, where)
        labels = table.column("label").to_numpy()
        check_in_range(labels, context["num_classes"], "label", where)
        old = table.column("old").to_numpy(zero_copy_only=False)
        known = np.isin(labels, np.asarray(context["old_classes"], dtype=np.int64))
        bad = np.flatnonzero(old != known)
        if bad.size:
            raise DataError(
                f"{where}: column 'old' is {bool(old[bad[0]])} in row {int(bad[0])} but label "
                f"{int(labels[bad[0]])} is {'' if known[bad[0]] else 'not '}in the context's "
                "old_classes"
            )
        labelled = table.column("labelled").to_numpy(zero_copy_only=False)
        bad = np.flatnonzero(labelled & ~old)
        if bad.size:
            raise DataError(
                f"{where}: column 'labelled' is true in row {int(bad[0])} for new class "
                f"{int(labels[bad[0]])} (only old classes may be labelled)"
            )

    def validate_context(self, context: Mapping, where: str) -> None:
        check_positive_int(context, "num_classes", where)
        check_image_size(context, where)
        old = context.get("old_classes")
        n = context["num_classes"]
        if not (isinstance(old, list) and old and all(isinstance(c, int) for c in old)):
            raise DataError(f"{where}: context 'old_classes' must be a non-empty list of class ids")
        if min(old) < 0 or max(old) >= n or len(set(old)) != len(old):
            raise DataError(
                f"{where}: context 'old_classes' must be distinct ids in [0, {n}), got {old!r:.80}"
            )
        if len(old) >= n:
            raise DataError(f"{where}: context 'old_classes' leaves no new class of {n}")


GCD_SHARDS = GcdShards()
