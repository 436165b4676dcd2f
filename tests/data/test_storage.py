import logging
import os

import numpy as np
import pyarrow as pa
import pytest

from hmgray import storage
from hmgray.data.shards import load_manifest
from hmgray.errors import DataError, StorageError
from hmgray.families.valuation.data.synth import write_synthetic_valuation


def _table():
    return pa.table({"a": np.arange(10, dtype=np.int64), "b": [f"x{i}" for i in range(10)]})


def _roundtrip(root: str):
    """The same calls for every backend: callers never branch on the storage kind."""
    sub = storage.join(root, "nested", "dir")
    storage.makedirs(sub)
    f = storage.join(sub, "blob.bin")
    assert not storage.exists(f)
    storage.atomic_write_bytes(f, b"hello")
    assert storage.exists(f)
    assert storage.read_bytes(f) == b"hello"
    storage.atomic_write_bytes(f, b"replaced")  # overwrite is atomic too
    assert storage.read_bytes(f) == b"replaced"

    p = storage.join(root, "t.parquet")
    storage.atomic_write_parquet(_table(), p, row_group_size=4)
    back = storage.read_parquet(p)
    assert back.equals(_table())

    storage.remove(f)
    assert not storage.exists(f)
    storage.remove(f)  # missing is fine by default
    with pytest.raises(StorageError, match="blob.bin"):
        storage.remove(f, missing_ok=False)
    with pytest.raises(StorageError, match="blob.bin"):
        storage.read_bytes(f)

    storage.atomic_write_bytes(storage.join(root, "bad.parquet"), b"not parquet at all")
    with pytest.raises(DataError, match="bad.parquet"):
        storage.read_parquet(storage.join(root, "bad.parquet"))


def test_local_roundtrip(tmp_path):
    _roundtrip(str(tmp_path / "root"))
    # atomic writes leave no temporary files behind
    leftovers = [n for _, _, names in os.walk(tmp_path) for n in names if ".tmp-" in n]
    assert leftovers == []


def test_local_uri_forms(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    storage.atomic_write_bytes("rel/x.txt", b"1")
    fs, path = storage.resolve("rel/x.txt")
    assert fs.type_name == "local" and path == str(tmp_path / "rel" / "x.txt")
    assert storage.read_bytes(f"file://{tmp_path}/rel/x.txt") == b"1"
    assert storage.is_local("rel/x.txt") and storage.is_local("file:///a")
    assert not storage.is_local("s3://b/k")


def test_join_keeps_query_and_strips_slashes():
    assert storage.join("s3://b/data?scheme=http&endpoint_override=h:1", "m.json") == (
        "s3://b/data/m.json?scheme=http&endpoint_override=h:1"
    )
    assert storage.join("s3://b/data/", "/x/", "y.parquet") == "s3://b/data/x/y.parquet"
    assert storage.join("/tmp/a", "b") == "/tmp/a/b"


def test_invalid_uri_raises_storage_error():
    with pytest.raises(StorageError):
        storage.resolve("")
    with pytest.raises(StorageError, match="nosuchscheme"):
        storage.resolve("nosuchscheme://x/y")


@pytest.fixture()
def moto_s3(monkeypatch):
    """A moto S3 server on 127.0.0.1 (random free port) with one bucket; yields the endpoint."""
    import boto3
    from moto.server import ThreadedMotoServer  # dev extra moto[s3,server]

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",  # never probe an instance metadata endpoint
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)  # 0: a free port
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"{host}:{port}"
    try:
        boto3.client("s3", endpoint_url=f"http://{endpoint}").create_bucket(Bucket="hmgray-test")
        yield endpoint
    finally:
        server.stop()


def test_s3_through_uri_query(moto_s3):
    root = f"s3://hmgray-test/q?endpoint_override={moto_s3}&scheme=http"
    _roundtrip(root)
    # a whole dataset: write and verify with no change to the callers
    manifest = write_synthetic_valuation(storage.join(root, "ds"), n=30, seed=1)
    loaded = load_manifest(storage.join(root, "ds"))
    assert loaded.hash == manifest.hash
    assert loaded.rows("train") == 21
    assert all(
        u.startswith("s3://hmgray-test/q/ds/")
        and u.endswith(f"?endpoint_override={moto_s3}&scheme=http")
        for u in loaded.files_for("train")
    )
    fs, paths = loaded.filesystem_paths("train")
    assert fs.type_name == "s3" and paths == ["hmgray-test/q/ds/train-00000.parquet"]
    # a missing shard is reported as such on S3 as well
    storage.remove(loaded.files_for("val")[0])
    with pytest.raises(DataError, match="val-00000.parquet.*missing"):
        load_manifest(storage.join(root, "ds"))


def test_s3_through_env_endpoint(moto_s3, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{moto_s3}")
    _roundtrip("s3://hmgray-test/env")
    assert storage.exists("s3://hmgray-test/env/t.parquet")
