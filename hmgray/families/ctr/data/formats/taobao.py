"""Taobao display advertising (Tianchi data set 56, "Ali_Display_Ad_Click") -> CTR shards.

Input, the four published CSV files with their real headers:

* ``raw_sample.csv``: ``user,time_stamp,adgroup_id,pid,nonclk,clk`` (26 million rows;
  ``pid`` is a placement string such as ``430548_1007``; ``clk`` is the label and
  ``nonclk = 1 - clk``);
* ``ad_feature.csv``: ``adgroup_id,cate_id,campaign_id,customer,brand,price`` (``brand``
  may be ``NULL``: the brand is unknown, index 0; ``price`` is not used);
* ``user_profile.csv``: ``userid,cms_segid,cms_group_id,final_gender_code,age_level,
  pvalue_level,shopping_level,occupation,new_user_class_level `` (the last header field
  has a trailing space in the real file; ``pvalue_level`` and ``new_user_class_level``
  may be empty; a sample's user may be missing from it: every profile field unknown);
* ``behavior_log.csv``: ``user,time_stamp,btag,cate,brand`` (``btag`` in pv, cart, fav,
  buy; only ``pv`` is kept, as the MGIPF and DIN preprocessing do).

Samples are 2017-05-06 to 05-13 (UTC). The split is by time as the authors' and BARS's:
train before 2017-05-13 00:00 UTC (1494633600), test on 05-13; validation is the last
training day (05-12), carved out of the training rows (the authors validate on test;
hmgray never selects on test). A sample outside 05-06..05-13 is reported and dropped.
Histories: the user's last 50 ``pv`` (brand, category) pairs strictly before the
sample's time, newest first. Coarse granularities: brand and category.

Reported and dropped: malformed rows, non-integer ids, ``clk`` not 0/1 or ``nonclk`` not
``1 - clk``, a sample whose ad is not in ``ad_feature.csv``, a repeated ad or profile
line (the first is kept).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pyarrow.compute as pc

from hmgray.data.formats.base import ConversionError, ConversionReport, check_input
from hmgray.families.ctr.data.formats import engine
from hmgray.families.ctr.data.formats.csv import ints, read_csv

__all__ = ["PROFILE_FIELDS", "convert_taobao"]

DAY = 86_400
FIRST_DAY = 1494028800  # 2017-05-06 00:00 UTC
TEST_DAY = 1494633600  # 2017-05-13 00:00 UTC
END = TEST_DAY + DAY
VAL_DAY = TEST_DAY - DAY
PROFILE_FIELDS = (
    "cms_segid", "cms_group_id", "final_gender_code", "age_level", "pvalue_level",
    "shopping_level", "occupation", "new_user_class_level",
)  # fmt: skip
AD_FIELDS = ("campaign_id", "customer")
EXTRA = ("pid", *AD_FIELDS, *PROFILE_FIELDS)


class _Table:
    """A small keyed table read whole (ads, profiles): sorted keys + int64 columns."""

    def __init__(self, keys: np.ndarray, columns: dict[str, np.ndarray]):
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        first = np.ones(len(keys), bool)
        first[1:] = keys[1:] != keys[:-1]
        self.repeated = int((~first).sum())
        self.keys = keys[first]
        self.columns = {k: v[order][first] for k, v in columns.items()}

    def lookup(self, raw: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        if not len(self.keys):
            found = np.zeros(len(raw), bool)
            return found, {k: np.full(len(raw), -1) for k in self.columns}
        pos = np.minimum(np.searchsorted(self.keys, raw), len(self.keys) - 1)
        found = self.keys[pos] == raw
        return found, {k: np.where(found, v[pos], -1) for k, v in self.columns.items()}


def _read_keyed(uri, key, fields, nullable, report) -> _Table:
    keys, cols = [], {f: [] for f in fields}
    name = uri
    for block in read_csv(uri, (key, *fields), report):
        k, ok = ints(block, key, report, name)
        parsed = {}
        for f in fields:
            v, okf = ints(block, f, report, name, nullable=f in nullable)
            parsed[f] = v
            ok &= okf
        keys.append(k[ok])
        for f in fields:
            cols[f].append(parsed[f][ok])
    table = _Table(
        np.concatenate(keys) if keys else np.zeros(0, np.int64),
        {f: np.concatenate(v) if v else np.zeros(0, np.int64) for f, v in cols.items()},
    )
    if table.repeated:
        report.notes.append(f"{name}: {table.repeated} repeated {key} line(s), the first kept")
    return table


def _samples(raw_sample, ads: _Table, profiles: _Table, report: ConversionReport, block_bytes):
    name = raw_sample
    pids: dict[str, int] = {}
    missing_profile = 0
    cols = ("user", "time_stamp", "adgroup_id", "pid", "nonclk", "clk")
    for block in read_csv(raw_sample, cols, report, block_bytes=block_bytes):
        user, ok = ints(block, "user", report, name)
        t, ok_t = ints(block, "time_stamp", report, name)
        ad, ok_a = ints(block, "adgroup_id", report, name)
        clk, ok_c = ints(block, "clk", report, name)
        nonclk, ok_n = ints(block, "nonclk", report, name)
        ok &= ok_t & ok_a & ok_c & ok_n
        bad_label = ok & ~(((clk == 0) | (clk == 1)) & (nonclk == 1 - clk))
        if bad_label.any():
            idx = np.flatnonzero(bad_label)
            report.problems_at(name, block.rows[idx], "clk", "clk must be 0 or 1 and nonclk = 1 - clk",
                               "row dropped", [f"clk={clk[i]} nonclk={nonclk[i]}" for i in idx[:200]])  # fmt: skip
        ok &= ~bad_label
        out_of_range = ok & ((t < FIRST_DAY) | (t >= END))
        if out_of_range.any():
            idx = np.flatnonzero(out_of_range)
            report.problems_at(name, block.rows[idx], "time_stamp",
                               "outside the sample days 2017-05-06..05-13 (UTC)", "row dropped",
                               t[idx[:200]].tolist())  # fmt: skip
        ok &= ~out_of_range
        found, ad_cols = ads.lookup(ad)
        no_ad = ok & ~found
        if no_ad.any():
            idx = np.flatnonzero(no_ad)
            report.problems_at(name, block.rows[idx], "adgroup_id", "not in ad_feature.csv",
                               "row dropped", ad[idx[:200]].tolist())  # fmt: skip
        ok &= found
        has_profile, prof = profiles.lookup(user)
        missing_profile += int((ok & ~has_profile).sum())
        pid_text = pc.utf8_trim_whitespace(block.columns["pid"]).to_pylist()
        pid = np.array([pids.setdefault(p, len(pids)) if p else -1 for p in pid_text], np.int64)
        split = np.where(t >= TEST_DAY, 2, np.where(t >= VAL_DAY, 1, 0)).astype(np.int8)
        keep = np.flatnonzero(ok)
        rows = {
            "user": user, "time": t, "label": clk, "item": ad, "brand": ad_cols["brand"],
            "cate": ad_cols["cate_id"], "split": split, "pid": pid,
            **{f: ad_cols[f] for f in AD_FIELDS}, **prof,
        }  # fmt: skip
        report.kept["samples"] += len(keep)
        yield {k: v[keep] for k, v in rows.items()}
    if missing_profile:
        report.notes.append(
            f"{missing_profile} kept sample(s) of users missing from user_profile.csv: "
            "their profile fields are unknown (index 0)"
        )


def _behaviours(behavior_log, report: ConversionReport, block_bytes) -> Iterator[dict]:
    name = behavior_log
    for block in read_csv(
        behavior_log, ("user", "time_stamp", "btag", "cate", "brand"), report,
        block_bytes=block_bytes,
    ):  # fmt: skip
        pv = pc.equal(pc.utf8_trim_whitespace(block.columns["btag"]), "pv").to_numpy(
            zero_copy_only=False
        )
        block = block.take(pv)
        user, ok = ints(block, "user", report, name)
        t, ok_t = ints(block, "time_stamp", report, name)
        cate, ok_c = ints(block, "cate", report, name, nullable=True)
        brand, ok_b = ints(block, "brand", report, name, nullable=True)
        ok &= ok_t & ok_c & ok_b & (t < END)  # a view after the last sample is never used
        report.kept["pv behaviours"] += int(ok.sum())
        yield {"user": user[ok], "time": t[ok], "brand": brand[ok], "cate": cate[ok]}


def convert_taobao(
    raw_sample: str,
    ad_feature: str,
    user_profile: str,
    behavior_log: str,
    out_uri: str,
    *,
    dataset: str = "taobao-ad",
    max_history: int = 50,
    bucket_mb: int = 256,
    block_mb: int = 16,
    echo=print,
):
    """Convert the four files; return (Manifest, ConversionReport). ``conversion_report.json``
    is written beside the manifest (``engine.convert``)."""
    report = ConversionReport("taobao")
    paths = (raw_sample, ad_feature, user_profile, behavior_log)
    for uri, what in zip(paths, ("raw_sample.csv", "ad_feature.csv", "user_profile.csv",
                                 "behavior_log.csv"), strict=True):  # fmt: skip
        check_input(uri, what)
    block_bytes = block_mb << 20
    ads = _read_keyed(
        ad_feature, "adgroup_id", ("cate_id", "brand", *AD_FIELDS), ("brand",), report
    )
    if not len(ads.keys):
        raise ConversionError(f"{ad_feature}: no ad could be read", report)
    profiles = _read_keyed(user_profile, "userid", PROFILE_FIELDS, PROFILE_FIELDS, report)
    manifest = engine.convert(
        lambda: _samples(raw_sample, ads, profiles, report, block_bytes),
        lambda: _behaviours(behavior_log, report, block_bytes),
        out_uri,
        extra_fields=EXTRA,
        coarse=["brand", "cate"],
        inputs=(raw_sample, behavior_log),
        dataset=dataset,
        generator={"name": "hmgray.families.ctr.data.formats.taobao",
                   "params": {"inputs": [os.path.basename(p) for p in paths]}},
        split=(
            "by time: train 2017-05-06..05-11, validation 05-12 (the last training day, "
            "carved out), test 05-13 (UTC)"
        ),
        max_history=max_history,
        bucket_bytes=bucket_mb << 20,
        report=report,
        echo=echo,
    )  # fmt: skip
    return manifest, report
