"""Real-format converters on fixture exports in the exact Kaggle formats.

Fixtures (tests/families/valuation/data/fixtures): ``craigslist_vehicles.csv`` (vehicles.csv header and
quoting, a multi-line quoted description, 24 rows of which 9 are malformed),
``mercari_train.tsv`` (train.tsv, 24 rows of which 12 are rejected), MSRP tables and tiny
image folders (one corrupt JPEG, one image found by listing id). Expected values below
are worked out by hand from those files.
"""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from hmgray import storage
from hmgray.data.shards import MANIFEST_NAME, load_manifest
from hmgray.data.text import tokenize
from hmgray.errors import ConfigError
from hmgray.families.valuation.data.decode import decode_batch
from hmgray.families.valuation.data.formats import (
    ConversionError,
    convert_craigslist,
    convert_mercari,
)
from hmgray.families.valuation.data.formats.common import (
    REPORT_NAME,
    assign_split,
    chain_heads,
    load_msrp_table,
)

FIX = Path(__file__).parent / "fixtures"
REPO = Path(__file__).parents[2]
CL_CSV, CL_MSRP, CL_IMAGES = (
    FIX / "craigslist_vehicles.csv",
    FIX / "craigslist_msrp.csv",
    FIX / "craigslist_images",
)
ME_TSV, ME_MSRP, ME_IMAGES = (
    FIX / "mercari_train.tsv",
    FIX / "mercari_msrp.csv",
    FIX / "mercari_images",
)

# (row, field, action) of every problem in the fixtures, in file order
CL_PROBLEMS = [
    (5, "price", "dropped"),  # 0: below min_price
    (6, "price", "dropped"),  # "12k"
    (7, "price", "dropped"),  # 3736928711: above max_price
    (8, "posting_date", "dropped"),  # empty
    (9, "manufacturer", "dropped"),  # empty, part of the MSRP key
    (10, "manufacturer+model", "dropped"),  # "ford model t special" not in the table
    (11, "description", "repaired"),  # byte 0xE9 (latin-1 é)
    (12, "*", "dropped"),  # truncated: 7 of 26 fields
    (13, "posting_date", "dropped"),  # "05/04/2021"
    (14, "id", "dropped"),  # duplicate of row 2
    (17, "lat", "ignored"),  # "abc"
    (18, "image", "ignored"),  # corrupt JPEG, kept with the image missing
]
ME_PROBLEMS = [
    (1, "brand_name", "dropped"),
    (4, "brand_name", "dropped"),
    (5, "brand_name", "dropped"),
    (9, "price", "dropped"),  # 0.0
    (10, "price", "dropped"),  # empty
    (11, "price", "dropped"),  # "ten"
    (12, "item_condition_id", "dropped"),  # 7
    (13, "shipping", "dropped"),  # 2
    (14, "category_name", "dropped"),  # empty: no category leaf for the key
    (15, "name", "repaired"),  # byte 0xE9
    (16, "brand_name+category_leaf", "dropped"),  # "lululemon pants" not in the table
    (17, "*", "dropped"),  # 4 of 8 fields
    (18, "train_id", "dropped"),  # duplicate of row 6 (id 5)
]


def _read_all(manifest) -> pa.Table:
    return pa.concat_tables(
        [storage.read_parquet(u) for s in manifest.splits for u in manifest.files_for(s)]
    )


def _triples(report) -> list[tuple[int, str, str]]:
    return [(p.row, p.field, p.action) for p in report.sorted_problems()]


@pytest.fixture(scope="module")
def craigslist(tmp_path_factory):
    out = tmp_path_factory.mktemp("cl") / "keep"
    manifest, report = convert_craigslist(
        str(CL_CSV), str(out), msrp_uri=str(CL_MSRP), images_dir=str(CL_IMAGES)
    )
    return manifest, report


@pytest.fixture(scope="module")
def mercari(tmp_path_factory):
    out = tmp_path_factory.mktemp("me") / "keep"
    manifest, report = convert_mercari(
        str(ME_TSV), str(out), msrp_uri=str(ME_MSRP), images_dir=str(ME_IMAGES)
    )
    return manifest, report


# ----------------------------------------------------------------------------- Craigslist


def test_craigslist_shards_verify_and_decode(craigslist):
    manifest, report = craigslist
    m = load_manifest(manifest.uri, verify=True)
    assert m.hash == manifest.hash and m.dataset == "craigslist-vehicles"
    assert sum(m.rows(s) for s in m.splits) == report.rows_kept == 15
    table = _read_all(m)
    batch = decode_batch(table, image_size=tuple(m.context["image_size"]))
    assert batch["image"].shape == (15, 3, 48, 48)
    assert batch["has_image"].sum() == 15 - 3  # rows 15, 16, 18 have no usable image
    # placeholders: one whole-image region exactly when there is an image; a token chain
    np.testing.assert_array_equal(batch["scene_mask"][:, 0], batch["has_image"])
    assert (batch["scene_mask"][:, 1:] == 0).all()
    np.testing.assert_array_equal(
        batch["scene_boxes"][batch["has_image"] == 1, 0], [[0, 0, 1, 1]] * 12
    )
    for text, heads in zip(
        table.column("description").to_pylist(), table.column("text_heads").to_pylist(), strict=True
    ):
        assert heads == [i - 1 for i in range(len(tokenize(text)))]


def test_craigslist_report_counts(craigslist):
    _, report = craigslist
    assert report.rows_read == 24
    assert dict(report.dropped) == {
        "bad_row": 1,
        "bad_value": 2,
        "duplicate_id": 1,
        "missing_field": 2,
        "msrp_unmatched": 1,
        "price_out_of_range": 2,
    }
    assert report.rows_kept + report.rows_dropped == report.rows_read
    assert report.missing_images == 3
    assert dict(report.unmatched_msrp) == {"ford model t special": 1}


def test_craigslist_every_malformed_row_reported_with_row_line_field(craigslist):
    _, report = craigslist
    assert _triples(report) == CL_PROBLEMS
    # line numbers are physical lines: record 1's description spans lines 2-6
    raw = CL_CSV.read_bytes()
    line_of = {p.row: p.line for p in report.problems}
    assert line_of[5] == raw[: raw.index(b"\n7314560853,")].count(b"\n") + 2
    assert line_of[5] == 10
    text = report.summary()
    assert "row 6 (line 11) field 'price': '12k' is not a number [dropped]" in text
    assert "'ford model t special' x1" in text


def test_craigslist_values(craigslist):
    manifest, _ = craigslist
    table = _read_all(manifest)
    rows = {r["listing_id"]: r for r in table.to_pylist()}
    assert set(rows) == {
        "7316814884", "7316356412", "7315770394", "7315259946", "7309583219", "7307412733",
        "7306985310", "7306512260", "7305799041", "7305120016", "7304630022", "7304100031",
        "7303711245", "7303200458", "7302865579",
    }  # fmt: skip
    sierra = rows["7316814884"]
    assert sierra["price"] == 33590.0 and sierra["msrp"] == 52000.0
    assert sierra["item_model"] == "gmc sierra 1500 crew cab slt" and sierra["category"] == "pickup"
    assert sierra["description"].startswith(
        "2014 gmc sierra 1500 crew cab slt, good condition, 57923 miles. Carvana is"
    )
    assert '"Low miles", one owner' in sierra["description"]  # multi-line quoted field intact
    assert rows["7315259946"]["msrp"] == 23000.0  # table key "Honda  Civic" normalised
    assert "caf\ufffd racer seats" in rows["7309583219"]["description"]
    assert rows["7304100031"]["category"] == "unknown"  # empty `type`
    assert rows["7305120016"]["image"] is not None  # found as 7305120016.png (by id)
    assert rows["7305799041"]["image"] is None  # corrupt file
    # time: t0 = 2021-02-01 00:00 UTC (earliest listing 2021-02-01T08:30-0800), 30-day periods
    assert sierra["timestamp"].isoformat() == "2021-05-04T17:31:18+00:00"
    assert sierra["period"] == 3  # 92.7 days after t0
    assert rows["7307412733"]["period"] == 1  # 2021-03-28T20:00Z: 55.8 days
    assert rows["7302865579"]["period"] == 0
    assert (
        manifest.context["market"]["num_periods"] == 4
        and manifest.context["market"]["period_days"] == 30
    )


def test_craigslist_market(craigslist):
    manifest, _ = craigslist
    market = manifest.context["market"]
    assert market["location_names"] == [
        "auburn, al",
        "boston, ma",
        "prescott, az",
        "sf bay area, ca",
    ]
    auburn = np.mean(
        [[32.59, -85.48], [32.6013, -85.4897], [32.57, -85.5], [32.61, -85.46], [32.58, -85.49]],
        axis=0,
    )
    np.testing.assert_allclose(market["location_coords"][0], auburn)
    # sf bay area: row 17's lat "abc" is ignored; 4 listings with coordinates
    sf = np.mean([[37.8, -122.27], [37.33, -121.89], [37.55, -122.3], [37.44, -122.16]], axis=0)
    np.testing.assert_allclose(market["location_coords"][3], sf)
    msrp = load_msrp_table(str(CL_MSRP))
    assert market["item_model_msrp"] == [msrp[k] for k in market["item_models"]]
    train = storage.read_parquet(manifest.files_for("train")[0])
    want = sorted(
        {
            (i, loc)
            for i, loc in zip(
                train["item_model_id"].to_pylist(), train["location_id"].to_pylist(), strict=True
            )
        }
    )
    assert [tuple(e) for e in market["edges"]["item__sold_in__location"]] == want


def test_missing_images_drop_vs_keep(craigslist, tmp_path):
    keep_manifest, keep = craigslist
    manifest, report = convert_craigslist(
        str(CL_CSV), str(tmp_path / "drop"), msrp_uri=str(CL_MSRP), images_dir=str(CL_IMAGES),
        missing_images="drop",
    )  # fmt: skip
    assert report.missing_images == keep.missing_images == 3
    assert report.dropped["missing_image"] == 3
    assert report.rows_kept == keep.rows_kept - 3 == 12
    assert sum(manifest.rows(s) for s in manifest.splits) == 12
    assert all(x is not None for x in _read_all(manifest).column("image").to_pylist())
    dropped = {(p.row, p.field) for p in report.problems if p.action == "dropped"}
    assert {(15, "image"), (16, "image"), (18, "image")} <= dropped
    # splits depend only on the id: every listing kept by both runs is in the same split
    for split in ("train", "val", "test"):
        ids = {
            x
            for u in manifest.files_for(split)
            for x in storage.read_parquet(u)["listing_id"].to_pylist()
        }
        keep_ids = {
            x
            for u in keep_manifest.files_for(split)
            for x in storage.read_parquet(u)["listing_id"].to_pylist()
        }
        assert ids <= keep_ids


def test_report_saved_beside_manifest(craigslist):
    manifest, report = craigslist
    saved = json.loads(Path(manifest.uri, REPORT_NAME).read_text())
    assert saved == json.loads(json.dumps(report.to_dict()))
    assert saved["problems"][0] == {
        "row": 5, "line": 10, "field": "price",
        "message": "0 is outside the accepted range [100, 500000]", "action": "dropped",
    }  # fmt: skip
    gen = manifest.raw["generator"]
    assert (
        gen["name"] == "hmgray.families.valuation.data.formats.craigslist"
        and gen["rows_kept"] == 15
    )
    assert gen["inputs"]["csv_sha256"] == hashlib.sha256(CL_CSV.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- Mercari


def test_mercari_shards_verify_and_decode(mercari):
    manifest, report = mercari
    m = load_manifest(manifest.uri, verify=True)
    table = _read_all(m)
    batch = decode_batch(table, image_size=tuple(m.context["image_size"]))
    assert table.num_rows == report.rows_kept == 12 and report.rows_read == 24
    assert batch["has_image"].sum() == 12 - 2  # ids 18 and 23 have no image file
    assert report.missing_images == 2
    assert dict(report.unmatched_msrp) == {"lululemon pants": 1}
    assert dict(report.dropped) == {
        "bad_row": 1,
        "bad_value": 3,
        "duplicate_id": 1,
        "missing_field": 5,
        "msrp_unmatched": 1,
        "price_out_of_range": 1,
    }
    assert _triples(report) == ME_PROBLEMS


def test_mercari_values_and_market(mercari):
    manifest, _ = mercari
    rows = {r["listing_id"]: r for r in _read_all(manifest).to_pylist()}
    assert set(rows) == {"1", "2", "5", "6", "7", "14", "18", "19", "20", "21", "22", "23"}
    phone = rows["5"]
    assert phone["price"] == 420.0 and phone["msrp"] == 769.0 and phone["category"] == "electronics"
    assert phone["item_model"] == "apple cell phones & smartphones"
    assert phone["description"].startswith(
        "iPhone 7 Plus 128GB Jet Black. like new condition. Unlocked. Screen"
    )
    assert 'Screen is 5.5" and has' in phone["description"]  # doubled quotes undone
    assert rows["20"]["description"] == "Nike Roshe One. like new condition"  # placeholder removed
    assert rows["7"]["msrp"] == 299.99  # table key "  Nintendo   Consoles "
    assert rows["14"]["description"].startswith("PINK hoodie caf\ufffd edition")
    market = manifest.context["market"]
    assert market["location_names"] == ["shipping: buyer pays", "shipping: seller pays"]
    assert rows["1"]["location_id"] == 0 and rows["2"]["location_id"] == 1  # shipping 0 / 1
    assert market["num_periods"] == 1 and market["edges"]["period__next__period"] == []
    assert {r["period"] for r in rows.values()} == {0}


def test_mercari_single_location_and_key_choice(tmp_path):
    msrp = tmp_path / "by_category.csv"
    msrp.write_text("key,msrp\ncell phones & smartphones,700\nathletic,100\n")
    manifest, report = convert_mercari(
        str(ME_TSV), str(tmp_path / "out"), msrp_uri=str(msrp), images_dir=None,
        location="single", msrp_key=("category_leaf",),
    )  # fmt: skip
    assert manifest.context["market"]["location_names"] == ["mercari (us)"]
    # brandless rows 1, 4, 5 are no longer dropped for their brand (rows 4, 5 are unmatched)
    assert report.unmatched_msrp["t-shirts"] == 1
    assert report.missing_images == report.rows_kept  # no folder: every image missing
    assert set(_read_all(manifest).column("item_model").to_pylist()) == {
        "cell phones & smartphones",
        "athletic",
    }


def test_mercari_test_tsv_is_refused(tmp_path):
    tsv = tmp_path / "test.tsv"
    tsv.write_text(
        "test_id\tname\titem_condition_id\tcategory_name\tbrand_name\tshipping\titem_description\n"
        '0\tBreast cancer "I fight like a girl" ring\t1\tWomen/Jewelry/Rings\t\t1\tSize 7\n'
    )
    with pytest.raises(
        ConversionError,
        match=r"test\.tsv.*no column\(s\) \['train_id', 'price'\].*test\.tsv export has no prices",
    ):
        convert_mercari(str(tsv), str(tmp_path / "out"), msrp_uri=str(ME_MSRP), images_dir=None)
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- robustness


def test_csv_error_midfile_is_one_bad_row(tmp_path):
    """A record the csv module rejects (field over its size limit) costs that row only."""
    lines = ME_TSV.read_text(encoding="utf-8", errors="surrogateescape").splitlines(keepends=True)
    huge = "99\tHuge\t1\tWomen/Tops & Blouses/Blouse\tTarget\t9.0\t1\t" + "x" * 200_000 + "\n"
    tsv = tmp_path / "train.tsv"
    tsv.write_text(
        "".join(lines[:3] + [huge] + lines[3:]), encoding="utf-8", errors="surrogateescape"
    )
    _, report = convert_mercari(
        str(tsv), str(tmp_path / "out"), msrp_uri=str(ME_MSRP), images_dir=str(ME_IMAGES)
    )
    assert report.rows_read == 25 and report.rows_kept == 12
    bad = [p for p in report.problems if p.row == 3]
    assert (
        len(bad) == 1 and bad[0].field == "*" and "field larger than field limit" in bad[0].message
    )


def test_missing_input_file_api(tmp_path):
    with pytest.raises(ConversionError, match=r"nope\.csv: Craigslist CSV not found"):
        convert_craigslist(
            str(tmp_path / "nope.csv"),
            str(tmp_path / "out"),
            msrp_uri=str(CL_MSRP),
            images_dir=None,
        )
    with pytest.raises(ConversionError, match=r"nope\.msrp: MSRP table not found"):
        convert_craigslist(
            str(CL_CSV),
            str(tmp_path / "out"),
            msrp_uri=str(tmp_path / "nope.msrp"),
            images_dir=None,
        )
    with pytest.raises(ConversionError, match=r"no_images: images folder not found"):
        convert_craigslist(
            str(CL_CSV),
            str(tmp_path / "out"),
            msrp_uri=str(CL_MSRP),
            images_dir=str(tmp_path / "no_images"),
        )
    with pytest.raises(ConfigError, match="missing_images"):
        convert_craigslist(
            str(CL_CSV),
            str(tmp_path / "out"),
            msrp_uri=str(CL_MSRP),
            images_dir=None,
            missing_images="maybe",
        )
    assert not (tmp_path / "out").exists()


def test_cli_missing_input_exits_nonzero_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "hmgray.families.valuation.data.formats", "craigslist",
         "--csv", str(tmp_path / "vehicles.csv"), "--msrp", str(CL_MSRP),
         "--images", str(CL_IMAGES), "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    assert f"{tmp_path / 'vehicles.csv'}: Craigslist CSV not found" in proc.stderr
    assert not out.exists()


def test_cli_success_prints_summary(tmp_path, capsys):
    from hmgray.families.valuation.data.formats.__main__ import main

    out = tmp_path / "out"
    rc = main(["mercari", "--tsv", str(ME_TSV), "--msrp", str(ME_MSRP), "--images", str(ME_IMAGES),
               "--out", str(out), "--missing-images", "drop"])  # fmt: skip
    printed = capsys.readouterr().out
    assert rc == 0
    assert "read 24 rows, kept 10" in printed and "missing_image 2" in printed
    assert (out / MANIFEST_NAME).exists() and (out / REPORT_NAME).exists()


def test_no_usable_rows_writes_nothing_and_keeps_old_dataset(craigslist, tmp_path, capsys):
    from hmgray.families.valuation.data.formats.__main__ import main

    manifest, _ = craigslist
    before = Path(manifest.uri, MANIFEST_NAME).read_bytes()
    msrp = tmp_path / "msrp.csv"
    msrp.write_text("key,msrp\nnothing matches this,1000\n")
    rc = main(["craigslist", "--csv", str(CL_CSV), "--msrp", str(msrp), "--out", manifest.uri])
    err = capsys.readouterr().err
    assert rc == 1 and "no usable rows (24 read, all dropped)" in err and "msrp_unmatched 16" in err
    assert Path(manifest.uri, MANIFEST_NAME).read_bytes() == before  # old dataset untouched
    load_manifest(manifest.uri, verify=True)


@pytest.mark.parametrize(
    "content, match",
    [
        ("model,price\nford f-150,1\n", r"line 1: header must start with 'key,msrp'"),
        (
            "key,msrp\nford f-150,41000\ntoyota camry,-5\n",
            r"line 3: field 'msrp' = '-5' is not a number > 0",
        ),
        (
            "key,msrp\nford f-150,41000\nFord F-150,42000\n",
            r"line 3: key 'ford f-150' appears again",
        ),
        ("key,msrp\n", r"has no rows"),
    ],
)
def test_msrp_table_errors_name_file_and_line(tmp_path, content, match):
    path = tmp_path / "msrp.csv"
    path.write_text(content)
    with pytest.raises(ConversionError, match=match) as info:
        load_msrp_table(str(path))
    assert str(path) in str(info.value)


def test_split_is_a_stable_hash_of_the_id():
    ids = [str(7_300_000_000 + i) for i in range(6000)]
    splits = [assign_split(i, (0.7, 0.15, 0.15)) for i in ids]
    share = {s: splits.count(s) / len(ids) for s in ("train", "val", "test")}
    # binomial sd at n = 6000: ~0.006 (train), ~0.0046 (val/test); allow 4 sd
    assert abs(share["train"] - 0.7) < 0.025 and abs(share["val"] - 0.15) < 0.02
    assert splits == [assign_split(i, (0.7, 0.15, 0.15)) for i in ids]  # deterministic
    assert chain_heads(0) == [] and chain_heads(3) == [-1, 0, 1]


def test_fixture_files_are_in_the_real_formats():
    with CL_CSV.open(encoding="utf-8", errors="surrogateescape", newline="") as f:
        header = next(csv.reader(f))
    assert header == (
        "id,url,region,region_url,price,year,manufacturer,model,condition,cylinders,fuel,"
        "odometer,title_status,transmission,VIN,drive,size,type,paint_color,image_url,"
        "description,county,state,lat,long,posting_date"
    ).split(",")
    assert ME_TSV.read_bytes().split(b"\n", 1)[0] == (
        b"train_id\tname\titem_condition_id\tcategory_name\tbrand_name\tprice\tshipping\titem_description"
    )
    for path in (CL_CSV, ME_TSV):
        with pytest.raises(UnicodeDecodeError):
            path.read_bytes().decode("utf-8")  # each holds a non-UTF-8 row on purpose


def test_converted_shards_train_the_full_arm(craigslist, mercari):
    """One optimisation step of the ``full`` arm on converted data gives finite gradients.

    Arms are cumulative, so ``full`` runs every stage the converters feed: micro (image
    patches x tokens), meso (the one-region scene graphs and token chains) and the market
    graph built from the converted market object.
    """
    torch = pytest.importorskip("torch")
    from hmgray.families.valuation.task import build_model, loss

    torch.manual_seed(0)
    for manifest, _ in (craigslist, mercari):
        table = storage.read_parquet(manifest.files_for("train")[0])
        batch = decode_batch(table, image_size=tuple(manifest.context["image_size"]), max_regions=4)
        batch = {k: torch.from_numpy(v) for k, v in batch.items()}
        cfg = {
            "arm": "full",
            "d_model": 16,
            "text_heads": 2,
            "image_size": list(manifest.context["image_size"]),
        }
        net = build_model(cfg, manifest.context["market"])
        value = loss(net(batch), batch, 1000.0)
        value.backward()
        assert torch.isfinite(value), manifest.dataset
        grads = [p.grad for p in net.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads), manifest.dataset


def test_rows_are_records_not_lines(craigslist):
    """rows_read counts records: 24 records on 28 lines after the header (one spans 5)."""
    _, report = craigslist
    with CL_CSV.open(encoding="utf-8", errors="surrogateescape", newline="") as f:
        records = list(csv.reader(f))[1:]
    assert len(records) == report.rows_read == 24
    assert CL_CSV.read_bytes().count(b"\n") == 1 + 28
