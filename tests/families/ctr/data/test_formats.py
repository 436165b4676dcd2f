"""The three click-through converters on fixtures in the exact published formats
(``tests/families/ctr/fixtures``, written by its ``make_fixtures.py``), edge rows
included: what they keep, drop and report, and an independent brute-force rebuild of
every output row, its history included, from the raw CSV files (so a history can never
belong to another row)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from hmgray.data.formats.__main__ import main as formats_main
from hmgray.data.shards import load_manifest
from hmgray.families.ctr.config import CtrConfig
from hmgray.families.ctr.data.formats.engine import split_codes
from hmgray.families.ctr.data.formats.ijcai15 import mmdd_to_time
from hmgray.families.ctr.task import CtrTask

FIX = Path(__file__).resolve().parents[1] / "fixtures"
TEST_DAY, DAY = 1494633600, 86400


def convert(fmt, out, *args):
    assert formats_main([fmt, *args, "--out", str(out)]) == 0
    m = load_manifest(str(out), verify=True, task="ctr")
    frames = {s: pd.concat([pd.read_parquet(f) for f in m.files_for(s)]) for s in m.splits}
    return m, frames


@pytest.fixture(scope="module")
def taobao(tmp_path_factory):
    d = FIX / "taobao"
    return convert(
        "taobao", tmp_path_factory.mktemp("tb") / "out",
        "--raw-sample", str(d / "raw_sample.csv"), "--ad-feature", str(d / "ad_feature.csv"),
        "--user-profile", str(d / "user_profile.csv"),
        "--behavior-log", str(d / "behavior_log.csv"),
    )  # fmt: skip


def _index(values):
    """Raw key -> index as the converters number them: sorted distinct keys from 1."""
    keys = sorted({int(v) for v in values if v >= 0})
    return {k: i + 1 for i, k in enumerate(keys)}


def _brute_history(beh, user, t, bmap, cmap):
    rows = beh[(beh.user == user) & (beh.time < t)]
    rows = rows.sort_values("time", kind="stable").iloc[::-1][:50]
    return [bmap.get(b, 0) for b in rows.brand], [cmap.get(c, 0) for c in rows.cate]


def test_taobao_rows_and_histories_match_the_raw_files(taobao):
    manifest, frames = taobao
    d = FIX / "taobao"
    raw = pd.read_csv(d / "raw_sample.csv", dtype=str, on_bad_lines="skip")
    ok = raw.apply(
        lambda r: all(
            str(v).isdigit() for v in r[["user", "time_stamp", "adgroup_id", "clk", "nonclk"]]
        ),
        axis=1,
    )  # noqa: E501
    raw = raw[ok].astype({"user": int, "time_stamp": int, "adgroup_id": int, "clk": int})
    ads = pd.read_csv(d / "ad_feature.csv", na_values=["NULL"])
    raw = raw[raw.clk.isin([0, 1]) & raw.time_stamp.between(TEST_DAY - 7 * DAY, TEST_DAY + DAY - 1)]
    raw = raw.merge(ads, on="adgroup_id", how="inner")
    beh = pd.read_csv(d / "behavior_log.csv", na_values=["NULL"])
    beh = beh[beh.btag == "pv"].rename(columns={"time_stamp": "time"})
    beh["brand"] = beh.brand.fillna(-1).astype(int)
    out = pd.concat(frames.values())
    assert len(out) == len(raw) == 71  # 77 lines: header + 76 rows, 5 edge rows dropped
    umap = _index(raw.user)
    imap = _index(pd.concat([raw.adgroup_id, ads.adgroup_id]))
    bmap = _index(pd.concat([raw.brand.fillna(-1).astype(int), beh.brand]))
    cmap = _index(pd.concat([raw.cate_id, beh.cate]))
    inv_user = {v: k for k, v in umap.items()}
    inv_item = {v: k for k, v in imap.items()}
    for r in out.itertuples():
        match = raw[(raw.user == inv_user[r.user]) & (raw.time_stamp == r.time)
                    & (raw.adgroup_id == inv_item[r.item])]  # fmt: skip
        assert len(match) >= 1, r
        src = match.iloc[0]
        assert r.label == src.clk
        assert r.brand == (0 if pd.isna(src.brand) else bmap[int(src.brand)])
        hb, hc = _brute_history(beh, src.user, r.time, bmap, cmap)
        assert list(r.hist_brand) == hb and list(r.hist_cate) == hc, r.sample_id
    assert (frames["test"].time >= TEST_DAY).all()
    assert ((frames["val"].time >= TEST_DAY - DAY) & (frames["val"].time < TEST_DAY)).all()
    assert (frames["train"].time < TEST_DAY - DAY).all()
    assert manifest.context["coarse"] == ["brand", "cate"]
    assert {"pid", "age_level", "new_user_class_level"} <= set(manifest.context["fields"])


def test_taobao_pseudo_labels_use_training_clicks_only(taobao):
    _, frames = taobao
    train = frames["train"]
    clicked = set(zip(train.user[train.label == 1], train.brand[train.label == 1], strict=True))
    for f in frames.values():
        want = [int(b > 0 and (u, b) in clicked) for u, b in zip(f.user, f.brand, strict=True)]
        assert f.y_brand.tolist() == want


def test_taobao_report_names_every_dropped_row(taobao):
    import json

    manifest, _ = taobao
    report = json.loads(Path(manifest.uri, "conversion_report.json").read_text())
    counts = report["problem_counts"]
    assert counts == {
        "adgroup_id: row dropped": 2, "clk: row dropped": 1, "row: row dropped": 1,
        "time_stamp: row dropped": 1,
    }  # fmt: skip
    assert any("missing from user_profile.csv" in n for n in report["notes"])


def test_userbehavior_split_is_seeded_and_persisted(tmp_path):
    csv = str(FIX / "userbehavior" / "UserBehavior.csv")
    m0, f0 = convert("userbehavior", tmp_path / "a", "--csv", csv, "--seed", "0")
    m0b, _ = convert("userbehavior", tmp_path / "b", "--csv", csv, "--seed", "0")
    m1, _ = convert("userbehavior", tmp_path / "c", "--csv", csv, "--seed", "1")
    h = lambda m: m.raw["generator"]["params"]["split_sha256"]  # noqa: E731
    assert h(m0) == h(m0b) != h(m1)
    assert [f.sha256 for f in m0.files] == [f.sha256 for f in m0b.files]
    out = pd.concat(f0.values())
    raw = pd.read_csv(
        csv, header=None, names=["u", "i", "c", "b", "t"], dtype=str, on_bad_lines="skip"
    )
    raw = raw[raw.t.notna() & raw.i.str.isdigit() & raw.b.isin(["pv", "buy"])].astype({"t": int})
    raw = raw[raw.t.between(1511539200, 1512316799)]
    assert len(out) == len(raw) and out.label.sum() == (raw.b == "buy").sum()
    assert (out.brand == 0).all() and m0.context["coarse"] == ["cate"]
    codes = split_codes(np.arange(len(out)), 0, 0.2, 0.1)
    assert len(f0["test"]) == (codes == 2).sum() and len(f0["val"]) == (codes == 1).sum()


def test_ijcai15_labels_days_and_click_histories(tmp_path):
    d = FIX / "ijcai15"
    m, frames = convert("ijcai15", tmp_path / "o", "--user-log", str(d / "user_log_format1.csv"),
                        "--user-info", str(d / "user_info_format1.csv"))  # fmt: skip
    log = pd.read_csv(d / "user_log_format1.csv", dtype=str, on_bad_lines="skip").dropna(
        subset=["action_type"]
    )
    log = log.astype({"action_type": int, "time_stamp": int, "user_id": int})
    t, valid = mmdd_to_time(log.time_stamp.to_numpy())
    log = log.assign(time=t)[valid & log.action_type.isin([0, 1, 2, 3]).to_numpy()]
    samples = log[log.action_type.isin([0, 2])]
    out = pd.concat(frames.values())
    assert len(out) == len(samples) and out.label.sum() == (samples.action_type == 2).sum()
    clicks = log[log.action_type == 0]
    bmap = _index(pd.concat([samples.brand_id, clicks.brand_id]).dropna().astype(int))
    cmap = _index(pd.concat([samples.cat_id, clicks.cat_id]).astype(int))
    umap = _index(samples.user_id)
    inv_user = {v: k for k, v in umap.items()}
    beh = clicks.rename(columns={"user_id": "user", "brand_id": "brand", "cat_id": "cate"})
    beh = beh.assign(
        brand=pd.to_numeric(beh.brand).fillna(-1).astype(int), cate=beh.cate.astype(int)
    )
    for r in out.itertuples():
        hb, hc = _brute_history(beh, inv_user[r.user], r.time, bmap, cmap)
        assert list(r.hist_brand) == hb and list(r.hist_cate) == hc
    assert {"seller_id", "age_range", "gender"} <= set(m.context["fields"])


def test_missing_column_fails_naming_the_file_and_nothing_is_written(tmp_path, capsys):
    bad = tmp_path / "raw_sample.csv"
    bad.write_text("user,time_stamp,adgroup_id,pid,nonclk\n1,1494028800,5,430548_1007,1\n")
    d = FIX / "taobao"
    rc = formats_main(["taobao", "--raw-sample", str(bad), "--ad-feature", str(d / "ad_feature.csv"),
                       "--user-profile", str(d / "user_profile.csv"),
                       "--behavior-log", str(d / "behavior_log.csv"), "--out", str(tmp_path / "o")])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 1 and str(bad) in err and "'clk'" in err
    assert not (tmp_path / "o" / "manifest.json").exists()
    assert not list((tmp_path / "o").glob("*.parquet")) if (tmp_path / "o").exists() else True


def test_converted_shards_train_every_backbone(taobao):
    manifest, _ = taobao
    task = CtrTask()
    settings = task.fixed_settings(manifest)
    decode = task.decoder(manifest.context, settings)
    import pyarrow.parquet as pq

    batch = {k: torch.from_numpy(np.asarray(v))
             for k, v in decode(pq.read_table(manifest.files_for("train")[0])).items()}  # fmt: skip
    for arm in ("din_mgipf", "deepfm_hard"):
        cfg = CtrConfig(arm=arm, max_history=settings["max_history"])
        model = task.build_model(cfg, manifest.context)
        loss = task.loss(model(batch), batch, cfg)
        loss.backward()
        assert torch.isfinite(loss)
