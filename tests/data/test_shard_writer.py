"""ShardWriter: the streaming write_shards (files of rows_per_file rows, manifest last,
nothing left behind on failure)."""

import pyarrow as pa
import pyarrow.parquet  # noqa: F401  (pa.parquet)
import pytest

from hmgray.data.shards import ShardWriter, load_manifest
from hmgray.errors import DataError
from hmgray.families.ctr.data.synth import synthetic_tables


@pytest.fixture(scope="module")
def data():
    return synthetic_tables(600, 1)


def test_pieces_become_files_of_rows_per_file(tmp_path, data):
    splits, context = data
    out = tmp_path / "ds"
    with ShardWriter(str(out), task="ctr", dataset="d", generator={"name": "t"},
                     context=context, rows_per_file=100, row_group_rows=32) as w:  # fmt: skip
        for name, table in splits.items():
            for start in range(0, table.num_rows, 37):  # pieces that straddle files
                w.write(name, table.slice(start, 37))
        w.ensure("extra")  # announced, never written: one empty file
    m = load_manifest(str(out), verify=True, task="ctr")
    assert m is not None and w.manifest.hash == m.hash
    for name, table in splits.items():
        assert m.rows(name) == table.num_rows
        sizes = [f.rows for f in m.files if f.split == name]
        assert all(s == 100 for s in sizes[:-1]) and 0 < sizes[-1] <= 100
        got = pa.concat_tables(pa.parquet.read_table(p) for p in m.files_for(name))
        assert got.column("sample_id").to_pylist() == table.column("sample_id").to_pylist()
    assert m.rows("extra") == 0


def test_a_failure_leaves_nothing(tmp_path, data):
    splits, context = data
    out = tmp_path / "ds"
    bad = splits["train"].set_column(
        splits["train"].schema.get_field_index("user"), "user",
        pa.array([10**6] * splits["train"].num_rows, pa.int32()),
    )  # fmt: skip
    with pytest.raises(DataError, match="'user'"):
        with ShardWriter(str(out), task="ctr", dataset="d", generator={}, context=context,
                         rows_per_file=50) as w:  # fmt: skip
            w.write("val", splits["val"])  # 50+ rows: files are written
            w.write("train", bad)
    assert not list(out.glob("*"))
