"""Side tables beside the shards: listed in the manifest, verified, refused when unknown."""

import json

import pyarrow as pa
import pytest

from hmgray.data.shards import load_manifest, write_shards
from hmgray.errors import DataError
from hmgray.families.recommender.data.synth import synthetic_tables
from tests.toy_task import ToyTask


@pytest.fixture(scope="module")
def parts():
    splits, side, context, _ = synthetic_tables(200, seed=0)
    return splits, side, context


def _write(out, parts, **kw):
    splits, side, context = parts
    args = dict(task="recommender", dataset="t", generator={}, context=context, tables=side)
    return write_shards(splits, str(out), **{**args, **kw})


def test_tables_round_trip_with_their_hashes(tmp_path, parts):
    written = _write(tmp_path / "d", parts)
    raw = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert [t["name"] for t in raw["tables"]] == ["items", "users", "item_edges"]
    loaded = load_manifest(str(tmp_path / "d"), verify=True, task="recommender")
    assert loaded.tables == written.tables
    assert loaded.read_table("users").equals(parts[1]["users"])


def test_a_changed_table_file_is_refused_naming_it(tmp_path, parts):
    _write(tmp_path / "d", parts)
    path = tmp_path / "d" / "table-users.parquet"
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(DataError, match="table-users.parquet.*sha256"):
        load_manifest(str(tmp_path / "d"), verify=True, task="recommender")


def test_missing_and_unknown_tables_are_refused_before_anything_is_written(tmp_path, parts):
    splits, side, context = parts
    with pytest.raises(DataError, match="missing"):
        _write(tmp_path / "a", parts, tables={"items": side["items"]})
    assert not (tmp_path / "a").exists()
    toy = ToyTask()
    table = pa.table(
        {"id": ["a"], "x": pa.array([[0.0] * 4], pa.list_(pa.float32(), 4)), "y": [1.0]}
    )
    with pytest.raises(DataError, match="unknown"):
        write_shards(
            {"train": table}, str(tmp_path / "b"), task=toy, dataset="t", generator={},
            context={"n_features": 4}, tables={"extra": table},
        )  # fmt: skip
    assert not (tmp_path / "b").exists()


def test_a_table_with_a_bad_value_names_the_column(tmp_path, parts):
    splits, side, context = parts
    edges = side["item_edges"]
    bad = edges.set_column(
        0, "src", pa.array([context["num_items"] + 5] * edges.num_rows, pa.int32())
    )
    with pytest.raises(DataError, match="'src'"):
        _write(tmp_path / "c", parts, tables={**side, "item_edges": bad})
