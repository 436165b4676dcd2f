"""One storage API for local paths and object stores (docs/contracts.md section 6).

Callers pass URIs and never see a filesystem object unless they ask for one:

* plain paths (``data/run1``, ``/abs/path``): the local filesystem; relative paths are made
  absolute against the current directory when resolved,
* ``file:///abs/path``: the local filesystem,
* ``s3://bucket/key`` (and any other scheme ``pyarrow.fs.FileSystem.from_uri`` knows, e.g.
  ``gs://``): an object store. Connection options travel in the URI query, as pyarrow
  reads them, e.g. ``s3://bucket/key?endpoint_override=127.0.0.1:9000&scheme=http``; the
  AWS SDK also reads ``AWS_ENDPOINT_URL`` and the usual credential variables from the
  environment, so the same code runs against AWS, MinIO or a moto server.

``join`` keeps the query on the end of the URI, so a dataset root with connection options
yields shard URIs with the same options.

Atomicity: a reader never sees a half-written object. Locally we write a temporary file in
the target folder and ``os.replace`` it (atomic on POSIX within one filesystem). On object
stores an object only becomes visible when its upload completes (a single PUT, or a
multipart upload finished when the stream is closed); we hand the whole payload over in one
``write`` so no partial payload can be committed.

Errors: ``StorageError`` for storage failures (missing object, unreachable endpoint,
invalid URI) and ``DataError`` for content that cannot be parsed (corrupt Parquet), both
naming the URI.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from hmgray.errors import DataError, StorageError

__all__ = [
    "atomic_write_bytes",
    "atomic_write_parquet",
    "exists",
    "is_local",
    "join",
    "makedirs",
    "parquet_bytes",
    "read_bytes",
    "read_parquet",
    "remove",
    "resolve",
]


def _has_scheme(uri: str) -> bool:
    return "://" in uri


def resolve(uri: str) -> tuple[pafs.FileSystem, str]:
    """Return ``(filesystem, path)`` for ``uri``.

    Plain paths map to ``LocalFileSystem`` with the path made absolute; URIs with a scheme
    go through ``pyarrow.fs.FileSystem.from_uri`` (query parameters configure the store).
    """
    if not isinstance(uri, str) or not uri:
        raise StorageError(f"invalid storage URI {uri!r}: expected a non-empty string")
    if not _has_scheme(uri):
        return pafs.LocalFileSystem(), os.path.abspath(os.path.expanduser(uri))
    try:
        fs, path = pafs.FileSystem.from_uri(uri)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, ValueError) as e:
        raise StorageError(f"cannot open storage URI {uri!r}: {e}") from e
    return fs, path


def is_local(uri: str) -> bool:
    """True if ``uri`` resolves to the local filesystem (plain path or ``file://``)."""
    return not _has_scheme(uri) or uri.startswith("file://")


def join(uri: str, *parts: str) -> str:
    """Append path components to ``uri``, keeping its scheme, bucket and query string.

    ``join("s3://b/data?scheme=http", "train-00000.parquet")`` is
    ``"s3://b/data/train-00000.parquet?scheme=http"``. Components are relative names;
    leading/trailing slashes on them are ignored.
    """
    clean = [p.strip("/") for p in parts if p and p.strip("/")]
    if not clean:
        return uri
    if not _has_scheme(uri):
        return os.path.join(uri, *clean)
    s = urlsplit(uri)
    path = "/".join([s.path.rstrip("/"), *clean])
    return urlunsplit((s.scheme, s.netloc, path, s.query, s.fragment))


def exists(uri: str) -> bool:
    """True if a file or folder (prefix, on object stores) exists at ``uri``."""
    fs, path = resolve(uri)
    try:
        return fs.get_file_info(path).type != pafs.FileType.NotFound
    except OSError as e:
        raise StorageError(f"cannot stat {uri!r}: {e}") from e


def read_bytes(uri: str) -> bytes:
    """The whole content of the file at ``uri``; ``StorageError`` if it cannot be read."""
    fs, path = resolve(uri)
    try:
        with fs.open_input_stream(path) as f:
            return f.read()
    except FileNotFoundError as e:
        raise StorageError(f"file not found: {uri!r}") from e
    except (OSError, pa.ArrowException) as e:
        raise StorageError(f"cannot read {uri!r}: {e}") from e


def makedirs(uri: str) -> None:
    """Create the folder ``uri`` and its parents (local only: object stores have no folders)."""
    fs, path = resolve(uri)
    if fs.type_name != "local":
        return  # keys need no parent "folders"; creating marker objects would only add noise
    try:
        fs.create_dir(path, recursive=True)
    except OSError as e:
        raise StorageError(f"cannot create folder {uri!r}: {e}") from e


def atomic_write_bytes(uri: str, data: bytes) -> None:
    """Write ``data`` to ``uri`` so that readers see either the old content or all of it.

    Local: temporary file in the same folder, fsync, ``os.replace``. Object stores: one
    upload that becomes visible only when it completes.
    """
    fs, path = resolve(uri)
    if fs.type_name == "local":
        folder = os.path.dirname(path)
        tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp-{uuid.uuid4().hex}")
        try:
            os.makedirs(folder, exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as e:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise StorageError(f"cannot write {uri!r}: {e}") from e
        return
    try:
        out = fs.open_output_stream(path)
        try:
            out.write(data)  # one write: nothing partial can be committed on close
        finally:
            out.close()
    except (OSError, pa.ArrowException) as e:
        raise StorageError(f"cannot write {uri!r}: {e}") from e


def parquet_bytes(table: pa.Table, *, row_group_size: int | None = None) -> bytes:
    """Serialise ``table`` as Parquet (zstd; ``row_group_size`` rows per row group).

    The bytes are deterministic for a given table and pyarrow version, so identical data
    gives identical files and identical sha256 digests.
    """
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=row_group_size, compression="zstd")
    return sink.getvalue().to_pybytes()


def atomic_write_parquet(table: pa.Table, uri: str, *, row_group_size: int | None = None) -> None:
    """Write ``table`` as one Parquet file at ``uri`` atomically (see ``atomic_write_bytes``)."""
    atomic_write_bytes(uri, parquet_bytes(table, row_group_size=row_group_size))


def read_parquet(uri: str) -> pa.Table:
    """Read the Parquet file at ``uri``.

    ``StorageError`` if it cannot be read, ``DataError`` if it is not valid Parquet.
    """
    data = read_bytes(uri)
    try:
        return pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError, ValueError) as e:
        raise DataError(f"{uri}: not a readable Parquet file ({e})") from e


def remove(uri: str, *, missing_ok: bool = True) -> None:
    """Delete the file, or the folder and everything under it, at ``uri``."""
    fs, path = resolve(uri)
    try:
        kind = fs.get_file_info(path).type
        if kind == pafs.FileType.NotFound:
            if not missing_ok:
                raise StorageError(f"cannot remove {uri!r}: not found")
            return
        if kind == pafs.FileType.Directory:
            fs.delete_dir(path)
        else:
            fs.delete_file(path)
    except OSError as e:
        raise StorageError(f"cannot remove {uri!r}: {e}") from e
