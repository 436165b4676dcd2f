import hashlib
import json
import os

import numpy as np
import pyarrow as pa
import pytest

from hmgray import storage
from hmgray.data import shards
from hmgray.data.shards import MANIFEST_NAME, load_manifest
from hmgray.errors import DataError, StorageError
from hmgray.families.valuation.data.listing_shards import write_listing_shards
from hmgray.families.valuation.data.market import build_market
from hmgray.families.valuation.data.schema import LISTING_SCHEMA, SCHEMA_VERSION
from hmgray.families.valuation.data.synth import ITEM_MODELS, LOCATIONS


def _market(train: pa.Table) -> dict:
    return build_market(
        [n for n, _ in LOCATIONS],
        [c for _, c in LOCATIONS],
        6,
        30,
        [m.name for m in ITEM_MODELS],
        [m.msrp for m in ITEM_MODELS],
        train.column("item_model_id").to_numpy(),
        train.column("location_id").to_numpy(),
        train.column("period").to_numpy(),
    )


def _write(tables, out, **kw):
    kw.setdefault("rows_per_file", 16)
    kw.setdefault("row_group_rows", 5)
    return write_listing_shards(
        tables,
        str(out),
        dataset="unit",
        generator={"name": "test", "seed": 0},
        market=_market(tables["train"]),
        image_size=(48, 48),
        **kw,
    )


def _files(folder):
    return sorted(os.listdir(folder))


def test_round_trip(small_tables, tmp_path):
    out = tmp_path / "ds"
    m = _write(small_tables, out)
    n = {s: t.num_rows for s, t in small_tables.items()}
    assert n == {"train": 42, "val": 9, "test": 9}
    assert _files(out) == [MANIFEST_NAME] + [
        "test-00000.parquet",
        "train-00000.parquet",
        "train-00001.parquet",
        "train-00002.parquet",
        "val-00000.parquet",
    ]
    assert [m.rows(s) for s in ("train", "val", "test")] == [42, 9, 9]
    assert m.rows("nope") == 0 and m.files_for("nope") == []
    assert m.files_for("train") == [str(out / f"train-0000{i}.parquet") for i in range(3)]
    assert m.hash == hashlib.sha256((out / MANIFEST_NAME).read_bytes()).hexdigest()

    raw = json.loads((out / MANIFEST_NAME).read_text())
    assert raw["format"] == "hmgray-shards" and raw["schema_version"] == SCHEMA_VERSION
    assert raw["dataset"] == "unit" and raw["context"]["image_size"] == [48, 48]
    assert raw["task"] == "valuation" and raw["format_version"] == shards.FORMAT_VERSION
    for entry in raw["files"]:
        data = (out / entry["path"]).read_bytes()
        assert entry["bytes"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()

    # loading from the folder or from the manifest file gives the same manifest
    for uri in (str(out), str(out / MANIFEST_NAME)):
        loaded = load_manifest(uri)
        assert loaded.hash == m.hash and loaded.files == m.files and loaded.uri == str(out)
        assert loaded.context["market"] == m.context["market"] and loaded.dataset == "unit"

    # the data itself round-trips; row groups as requested
    back = pa.concat_tables([storage.read_parquet(u) for u in m.files_for("train")])
    assert back.column("listing_id").equals(small_tables["train"].column("listing_id"))
    assert back.column("image").equals(small_tables["train"].column("image"))
    assert back.column("price").equals(small_tables["train"].column("price"))
    import pyarrow.parquet as pq

    md = pq.ParquetFile(m.files_for("train")[0]).metadata
    assert md.num_row_groups == 4 and md.row_group(0).num_rows == 5
    assert back.schema.names[: len(LISTING_SCHEMA)] == LISTING_SCHEMA.names

    fs, paths = m.filesystem_paths("val")
    assert fs.type_name == "local" and paths == [str(out / "val-00000.parquet")]


def test_rewrite_removes_old_files(small_tables, tmp_path):
    out = tmp_path / "ds"
    _write(small_tables, out, rows_per_file=10)
    assert "train-00004.parquet" in _files(out)
    _write(small_tables, out, rows_per_file=100)
    assert _files(out) == [
        MANIFEST_NAME,
        "test-00000.parquet",
        "train-00000.parquet",
        "val-00000.parquet",
    ]
    load_manifest(str(out))


def test_empty_split_gets_one_empty_file(small_tables, tmp_path):
    tables = dict(small_tables, val=small_tables["val"].slice(0, 0))
    m = _write(tables, tmp_path / "ds")
    assert m.rows("val") == 0 and len(m.files_for("val")) == 1
    load_manifest(str(tmp_path / "ds"))


# --------------------------------------------------------------------- failed writes


def test_invalid_table_writes_nothing(small_tables, tmp_path):
    train = small_tables["train"]
    price = train.column("price").to_numpy().copy()
    price[3] = np.nan
    bad = train.set_column(train.schema.get_field_index("price"), "price", pa.array(price))
    with pytest.raises(DataError, match=r"split 'train'.*'price'.*1 non-finite"):
        _write(dict(small_tables, train=bad), tmp_path / "ds")
    assert not (tmp_path / "ds").exists()


def test_wrong_heads_rejected(small_tables, tmp_path):
    train = small_tables["train"]
    heads = train.column("text_heads").to_pylist()
    heads[0] = heads[0][:-1]
    bad = train.set_column(
        train.schema.get_field_index("text_heads"),
        "text_heads",
        pa.array(heads, type=pa.list_(pa.int32())),
    )
    with pytest.raises(DataError, match=r"listing 'syn-s0-\d+'.*text_heads"):
        _write(dict(small_tables, train=bad), tmp_path / "ds")


def test_index_outside_market_rejected(small_tables, tmp_path):
    val = small_tables["val"]
    loc = val.column("location_id").to_numpy().copy()
    loc[:2] = 99
    bad = val.set_column(
        val.schema.get_field_index("location_id"), "location_id", pa.array(loc, pa.int32())
    )
    with pytest.raises(
        DataError, match=r"split 'val'.*'location_id' has 2 row\(s\) outside \[0, 8\)"
    ):
        _write(dict(small_tables, val=bad), tmp_path / "ds")


def test_failure_midway_leaves_no_manifest_and_no_files(small_tables, tmp_path, monkeypatch):
    out = tmp_path / "ds"
    _write(small_tables, out)  # an older, valid dataset in the same folder
    real = storage.atomic_write_bytes
    calls = {"n": 0}

    def flaky(uri, data):
        calls["n"] += 1
        if calls["n"] == 3:
            raise StorageError(f"cannot write {uri!r}: disk full")
        real(uri, data)

    monkeypatch.setattr(shards.storage, "atomic_write_bytes", flaky)
    with pytest.raises(StorageError, match="disk full"):
        _write(small_tables, out)
    assert _files(out) == []  # old manifest and old shards gone, partial new shards removed
    with pytest.raises(DataError, match="manifest not found"):
        load_manifest(str(out))


def test_failure_writing_manifest_removes_shards(small_tables, tmp_path, monkeypatch):
    real = storage.atomic_write_bytes

    def fail_on_manifest(uri, data):
        if uri.endswith(MANIFEST_NAME):
            raise StorageError(f"cannot write {uri!r}: boom")
        real(uri, data)

    monkeypatch.setattr(shards.storage, "atomic_write_bytes", fail_on_manifest)
    with pytest.raises(StorageError, match="boom"):
        _write(small_tables, tmp_path / "ds")
    assert _files(tmp_path / "ds") == []


# --------------------------------------------------------------------- bad inputs on load


@pytest.fixture()
def dataset(small_tables, tmp_path):
    out = tmp_path / "ds"
    _write(small_tables, out)
    return out


def _raw(out):
    return json.loads((out / MANIFEST_NAME).read_text())


def _save_raw(out, raw):
    (out / MANIFEST_NAME).write_text(json.dumps(raw))


def _replace_file(out, index, table):
    """Overwrite shard ``index`` with ``table`` and make the manifest agree on bytes/sha."""
    raw = _raw(out)
    entry = raw["files"][index]
    data = storage.parquet_bytes(table)
    (out / entry["path"]).write_bytes(data)
    entry.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest(), rows=table.num_rows)
    _save_raw(out, raw)
    return entry["path"]


def test_missing_manifest(tmp_path):
    with pytest.raises(DataError, match=r"manifest.json: manifest not found"):
        load_manifest(str(tmp_path))


def test_corrupt_manifest_json(dataset):
    (dataset / MANIFEST_NAME).write_text('{"format": "hmgray-shards", ')
    with pytest.raises(DataError, match=r"manifest.json: manifest is not valid JSON"):
        load_manifest(str(dataset))


@pytest.mark.parametrize(
    ("key", "value", "pattern"),
    [
        ("format", "parquet-bag", r"field 'format' is 'parquet-bag'"),
        ("schema_version", 2, r"field 'schema_version' is 2, expected 1"),
        ("files", {"a": 1}, r"field 'files' must be a list"),
        ("context", {"image_size": [48], "market": {}}, r"field 'image_size'"),
    ],
)
def test_wrong_manifest_fields(dataset, key, value, pattern):
    raw = _raw(dataset)
    raw[key] = value
    _save_raw(dataset, raw)
    with pytest.raises(DataError, match=f"manifest.json: {pattern}"):
        load_manifest(str(dataset), verify=False)


def test_missing_market_field(dataset):
    raw = _raw(dataset)
    del raw["context"]["market"]["edges"]["period__next__period"]
    _save_raw(dataset, raw)
    with pytest.raises(DataError, match=r"field 'market.edges.period__next__period' is missing"):
        load_manifest(str(dataset), verify=False)


def test_unsafe_shard_path(dataset):
    raw = _raw(dataset)
    raw["files"][0]["path"] = "../elsewhere.parquet"
    _save_raw(dataset, raw)
    with pytest.raises(DataError, match=r"files\[0\].path"):
        load_manifest(str(dataset), verify=False)


def test_missing_shard(dataset):
    (dataset / "val-00000.parquet").unlink()
    with pytest.raises(
        DataError, match=r"val-00000.parquet: shard file .*files\[3\]\.path.* is missing"
    ):
        load_manifest(str(dataset))
    load_manifest(str(dataset), verify=False)  # without verification only the manifest is read


def test_size_mismatch(dataset):
    with open(dataset / "train-00001.parquet", "ab") as f:
        f.write(b"extra")
    with pytest.raises(
        DataError,
        match=r"train-00001.parquet: size is \d+ bytes, manifest field 'files\[1\]\.bytes'",
    ):
        load_manifest(str(dataset))


def test_sha_mismatch(dataset):
    path = dataset / "train-00001.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different content
    path.write_bytes(bytes(data))
    with pytest.raises(
        DataError,
        match=r"train-00001.parquet: sha256 is [0-9a-f]{64}, manifest field 'files\[1\]\.sha256'",
    ):
        load_manifest(str(dataset))


def test_corrupt_parquet(dataset):
    raw = _raw(dataset)
    data = b"PAR1 this is not really parquet"
    (dataset / "test-00000.parquet").write_bytes(data)
    entry = next(f for f in raw["files"] if f["path"] == "test-00000.parquet")
    entry.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    _save_raw(dataset, raw)
    with pytest.raises(DataError, match=r"test-00000.parquet: not a readable Parquet file"):
        load_manifest(str(dataset))


def test_schema_missing_column(dataset, small_tables):
    path = _replace_file(dataset, 0, small_tables["test"].drop_columns(["msrp"]))
    with pytest.raises(DataError, match=f"{path}: missing required column 'msrp'"):
        load_manifest(str(dataset))


def test_schema_wrong_type(dataset, small_tables):
    t = small_tables["test"]
    t = t.set_column(
        t.schema.get_field_index("period"), "period", t.column("period").cast(pa.int64())
    )
    path = _replace_file(dataset, 0, t)
    with pytest.raises(DataError, match=f"{path}: column 'period' has type int64, expected int32"):
        load_manifest(str(dataset))


def test_row_count_mismatch(dataset):
    raw = _raw(dataset)
    raw["files"][0]["rows"] += 1
    _save_raw(dataset, raw)
    with pytest.raises(
        DataError,
        match=r"train-00000.parquet: has 16 rows, manifest field 'files\[0\]\.rows' says 17",
    ):
        load_manifest(str(dataset))


@pytest.mark.parametrize(
    ("column", "values", "pattern"),
    [
        ("price", [np.nan, np.nan], r"column 'price' has 2 non-finite"),
        ("price", [np.inf], r"column 'price' has 1 non-finite"),
        ("price", [-1.0, -2.0, -3.0], r"column 'price' has 3 negative"),
        ("msrp", [0.0], r"column 'msrp' has 1 row\(s\) that are not finite and > 0"),
        ("msrp", [-5.0, np.nan], r"column 'msrp' has 2 row\(s\)"),
    ],
)
def test_bad_values(dataset, small_tables, column, values, pattern):
    t = small_tables["test"]
    v = t.column(column).to_numpy().copy()
    v[: len(values)] = values
    t = t.set_column(t.schema.get_field_index(column), column, pa.array(v))
    path = _replace_file(dataset, 0, t)
    with pytest.raises(DataError, match=f"{path}: {pattern}"):
        load_manifest(str(dataset))


def test_relative_paths_become_absolute(small_tables, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    m = _write(small_tables, "rel")
    assert m.uri == str(tmp_path / "rel")
    loaded = load_manifest("rel/manifest.json")
    assert loaded.uri == str(tmp_path / "rel")
    assert loaded.files_for("val") == [str(tmp_path / "rel" / "val-00000.parquet")]


def test_non_json_generator_rejected_before_writing(small_tables, tmp_path):
    with pytest.raises(DataError, match=r"field 'generator' is not valid JSON"):
        write_listing_shards(
            small_tables,
            str(tmp_path / "ds"),
            dataset="unit",
            generator={"seed": np.int64(3)},
            market=_market(small_tables["train"]),
            image_size=(48, 48),
        )
    assert not (tmp_path / "ds").exists()


# --------------------------------------------------------------------- format versions


def _rewrite_manifest(folder, edit) -> None:
    path = folder / MANIFEST_NAME
    raw = json.loads(path.read_text())
    edit(raw)
    path.write_text(json.dumps(raw))


def test_a_version_1_manifest_loads_for_the_task_that_reads_it(small_tables, tmp_path):
    out = tmp_path / "ds"
    m = _write(small_tables, out)

    def to_v1(raw):  # the layout written before manifests named their task
        context = raw.pop("context")
        del raw["task"], raw["format_version"]
        raw.update(context)

    _rewrite_manifest(out, to_v1)
    loaded = load_manifest(str(out), task="valuation")
    assert loaded.task is None and loaded.context == m.context
    with pytest.raises(DataError, match="names no task"):
        load_manifest(str(out))


def test_a_manifest_of_another_task_or_format_is_refused(small_tables, tmp_path):
    out = tmp_path / "ds"
    _write(small_tables, out)
    _rewrite_manifest(out, lambda raw: raw.update(task="ctr"))
    with pytest.raises(DataError, match="field 'task' is 'ctr'.*task 'valuation'"):
        load_manifest(str(out), task="valuation")
    _rewrite_manifest(out, lambda raw: raw.update(task="valuation", format_version=9))
    with pytest.raises(DataError, match="field 'format_version' is 9"):
        load_manifest(str(out))
