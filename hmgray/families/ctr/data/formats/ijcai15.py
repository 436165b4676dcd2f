"""IJCAI-15 repeat buyers (Tianchi data set 42), ``data_format1`` -> CTR shards.

Input, with the real headers:

* ``user_log_format1.csv``: ``user_id,item_id,cat_id,seller_id,brand_id,time_stamp,
  action_type`` (``time_stamp`` is the day as ``mmdd`` in 2015, e.g. ``1111``; the shop
  column is ``seller_id``; ``brand_id`` may be empty: unknown, index 0; ``action_type``
  0 click, 1 add-to-cart, 2 purchase, 3 add-to-favourite);
* ``user_info_format1.csv``: ``user_id,age_range,gender`` (either may be empty or
  ``NULL``; a user missing from it has both unknown).

As the MGIPF authors preprocess it: action types 1 and 3 are dropped, and the label is
``action_type // 2`` (purchase 1, click 0). Coarse granularities: brand and category;
further fields: ``seller_id``, ``age_range``, ``gender``. A day is a timestamp at 00:00
China time (UTC+8); a history holds the user's last 50 clicks (brand, category) on days
strictly before the row's day (the log has no time within a day, so a same-day click
cannot be known to come first). An invalid ``mmdd`` or an unknown action type is reported
and the row dropped.

Split: the authors split at random 90/10 without a seed; here it is seeded and persisted
(``engine.split_codes`` on each kept sample's position): 10 % test, 10 % validation
(carved out of the authors' 90 % training share), 80 % train; the manifest records the
seed and the split's sha256.
"""

from __future__ import annotations

import os

import numpy as np

from hmgray.data.formats.base import ConversionReport, check_input
from hmgray.families.ctr.data.formats import engine
from hmgray.families.ctr.data.formats.csv import ints, read_csv
from hmgray.families.ctr.data.formats.taobao import _read_keyed

__all__ = ["convert_ijcai15", "mmdd_to_time"]

LOG_COLUMNS = ("user_id", "item_id", "cat_id", "seller_id", "brand_id", "time_stamp",
               "action_type")  # fmt: skip
YEAR_START = 1420041600  # 2015-01-01 00:00 UTC+8
MONTH_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])  # 2015: no leap day
MONTH_START = np.concatenate([[0], np.cumsum(MONTH_DAYS)[:-1]])
TEST, VAL = 0.1, 0.1
EXTRA = ("seller_id", "age_range", "gender")


def mmdd_to_time(mmdd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(seconds since the epoch of 00:00 UTC+8 on that day of 2015, valid mask)."""
    month, day = mmdd // 100, mmdd % 100
    valid = (month >= 1) & (month <= 12)
    m = np.clip(month, 1, 12) - 1
    valid &= (day >= 1) & (day <= MONTH_DAYS[m])
    t = YEAR_START + (MONTH_START[m] + day - 1) * 86_400
    return np.where(valid, t, -1), valid


def _rows(uri, users, report: ConversionReport, block_bytes: int, samples: bool, seed: int):
    name = uri
    position = 0
    for block in read_csv(uri, LOG_COLUMNS, report, block_bytes=block_bytes):
        user, ok = ints(block, "user_id", report, name)
        item, ok_i = ints(block, "item_id", report, name)
        cate, ok_c = ints(block, "cat_id", report, name)
        seller, ok_s = ints(block, "seller_id", report, name)
        brand, ok_b = ints(block, "brand_id", report, name, nullable=True)
        mmdd, ok_t = ints(block, "time_stamp", report, name)
        action, ok_a = ints(block, "action_type", report, name)
        ok &= ok_i & ok_c & ok_s & ok_b & ok_t & ok_a
        t, valid = mmdd_to_time(mmdd)
        bad = ok & ~valid
        if bad.any():
            idx = np.flatnonzero(bad)
            report.problems_at(name, block.rows[idx], "time_stamp", "not a day of 2015 as mmdd",
                               "row dropped", mmdd[idx[:200]].tolist())  # fmt: skip
        ok &= valid
        unknown = ok & ~np.isin(action, (0, 1, 2, 3))
        if unknown.any():
            idx = np.flatnonzero(unknown)
            report.problems_at(name, block.rows[idx], "action_type", "not 0, 1, 2 or 3",
                               "row dropped", action[idx[:200]].tolist())  # fmt: skip
        ok &= ~unknown
        if samples:
            keep = np.flatnonzero(ok & ((action == 0) | (action == 2)))
            report.kept["samples"] += len(keep)
            positions = np.arange(position, position + len(keep), dtype=np.int64)
            position += len(keep)
            _, info = users.lookup(user[keep])
            yield {
                "user": user[keep], "time": t[keep], "label": action[keep] // 2,
                "item": item[keep], "brand": brand[keep], "cate": cate[keep],
                "split": engine.split_codes(positions, seed, TEST, VAL),
                "seller_id": seller[keep], **info,
            }  # fmt: skip
        else:
            keep = ok & (action == 0)
            yield {"user": user[keep], "time": t[keep], "brand": brand[keep], "cate": cate[keep]}


def convert_ijcai15(
    user_log: str,
    user_info: str,
    out_uri: str,
    *,
    seed: int = 0,
    dataset: str = "ijcai15",
    max_history: int = 50,
    bucket_mb: int = 256,
    block_mb: int = 16,
    echo=print,
):
    """Convert ``user_log_format1.csv`` + ``user_info_format1.csv``; return (Manifest,
    ConversionReport)."""
    check_input(user_log, "user_log_format1.csv")
    check_input(user_info, "user_info_format1.csv")
    report = ConversionReport("ijcai15")
    users = _read_keyed(user_info, "user_id", ("age_range", "gender"), ("age_range", "gender"),
                        report)  # fmt: skip
    block_bytes = block_mb << 20
    split, split_params = engine.random_split(seed, TEST, VAL)
    manifest = engine.convert(
        lambda: _rows(user_log, users, report, block_bytes, True, seed),
        lambda: _rows(user_log, users, ConversionReport("second pass"), block_bytes, False, seed),
        out_uri,
        extra_fields=EXTRA,
        coarse=["brand", "cate"],
        inputs=(user_log, user_log),
        dataset=dataset,
        generator={"name": "hmgray.families.ctr.data.formats.ijcai15",
                   "params": {"inputs": [os.path.basename(user_log), os.path.basename(user_info)],
                              **split_params}},
        split=split,
        max_history=max_history,
        bucket_bytes=bucket_mb << 20,
        report=report,
        echo=echo,
    )  # fmt: skip
    return manifest, report
