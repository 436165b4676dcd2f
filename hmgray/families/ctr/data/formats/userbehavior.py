"""UserBehavior (Tianchi data set 649, Taobao user behaviour 2017) -> CTR shards.

Input: ``UserBehavior.csv``, no header, ``user_id,item_id,category_id,behavior_type,
timestamp`` (about 100 million rows). As the MGIPF authors preprocess it: ``fav`` and
``cart`` rows are removed; a ``buy`` row is a positive sample and a ``pv`` row a negative
one; there are no brands (the coarse granularity is the category alone). The documented
period is 2017-11-25 to 2017-12-03 (China time, UTC+8): a row outside it is reported and
dropped, as is an unknown ``behavior_type``.

Split: the authors split at random 80/20 without a seed; here the split is seeded and
persisted: each row's draw is splitmix64(seed, its position among the kept samples)
(``engine.split_codes``): 20 % test, 10 % validation (carved out of the authors' 80 %
training share), 70 % train; the manifest records the seed and the split's sha256.
Histories: the user's last 50 ``pv`` categories strictly before the row's time.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hmgray.data.formats.base import ConversionReport, check_input
from hmgray.families.ctr.data.formats import engine
from hmgray.families.ctr.data.formats.csv import ints, read_csv

__all__ = ["convert_userbehavior"]

COLUMNS = ("user_id", "item_id", "category_id", "behavior_type", "timestamp")
START = 1511539200  # 2017-11-25 00:00 UTC+8
END = 1512316800  # 2017-12-04 00:00 UTC+8
TEST, VAL = 0.2, 0.1
KNOWN = ("pv", "buy", "cart", "fav")


def _rows(uri: str, report: ConversionReport, block_bytes: int, samples: bool, seed: int):
    """Samples (``samples=True``) or ``pv`` behaviours of the file. The behaviours pass
    reads the file a second time with a report of its own (thrown away): its problems
    were reported by the first."""
    name = uri
    position = 0  # index of the next kept sample (the split's draw)
    for block in read_csv(uri, COLUMNS, report, names=COLUMNS, block_bytes=block_bytes):
        btype = pc.utf8_trim_whitespace(block.columns["behavior_type"])
        known = pc.is_in(btype, value_set=pa.array(KNOWN)).to_numpy(zero_copy_only=False)
        if not known.all():
            idx = np.flatnonzero(~known)
            report.problems_at(name, block.rows[idx], "behavior_type", f"not one of {KNOWN}",
                               "row dropped", btype.take(idx[:200]).to_pylist())  # fmt: skip
        user, ok = ints(block, "user_id", report, name)
        t, ok_t = ints(block, "timestamp", report, name)
        item, ok_i = ints(block, "item_id", report, name)
        cate, ok_c = ints(block, "category_id", report, name)
        ok &= ok_t & ok_i & ok_c & known
        outside = ok & ((t < START) | (t >= END))
        if outside.any():
            idx = np.flatnonzero(outside)
            report.problems_at(name, block.rows[idx], "timestamp",
                               "outside 2017-11-25..12-03 (UTC+8)", "row dropped",
                               t[idx[:200]].tolist())  # fmt: skip
        ok &= ~outside
        pv = pc.equal(btype, "pv").to_numpy(zero_copy_only=False)
        buy = pc.equal(btype, "buy").to_numpy(zero_copy_only=False)
        if samples:
            keep = np.flatnonzero(ok & (pv | buy))
            report.kept["samples"] += len(keep)
            positions = np.arange(position, position + len(keep), dtype=np.int64)
            position += len(keep)
            yield {
                "user": user[keep], "time": t[keep], "label": buy[keep].astype(np.int64),
                "item": item[keep], "brand": np.full(len(keep), -1, np.int64),
                "cate": cate[keep], "split": engine.split_codes(positions, seed, TEST, VAL),
            }  # fmt: skip
        else:
            keep = ok & pv
            yield {
                "user": user[keep], "time": t[keep],
                "brand": np.full(int(keep.sum()), -1, np.int64), "cate": cate[keep],
            }  # fmt: skip


def convert_userbehavior(
    csv_uri: str,
    out_uri: str,
    *,
    seed: int = 0,
    dataset: str = "userbehavior",
    max_history: int = 50,
    bucket_mb: int = 256,
    block_mb: int = 16,
    echo=print,
):
    """Convert ``UserBehavior.csv``; return (Manifest, ConversionReport)."""
    check_input(csv_uri, "UserBehavior.csv")
    report = ConversionReport("userbehavior")
    split, split_params = engine.random_split(seed, TEST, VAL)
    manifest = engine.convert(
        lambda: _rows(csv_uri, report, block_mb << 20, True, seed),
        lambda: _rows(csv_uri, ConversionReport("second pass"), block_mb << 20, False, seed),
        out_uri,
        extra_fields=(),
        coarse=["cate"],
        inputs=(csv_uri, csv_uri),
        dataset=dataset,
        generator={"name": "hmgray.families.ctr.data.formats.userbehavior",
                   "params": {"inputs": [os.path.basename(csv_uri)], **split_params}},
        split=split,
        max_history=max_history,
        bucket_bytes=bucket_mb << 20,
        report=report,
        echo=echo,
    )  # fmt: skip
    return manifest, report
