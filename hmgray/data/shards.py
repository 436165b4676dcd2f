"""Shards: Parquet files plus ``manifest.json`` (docs/contracts.md sections 1-2).

Layout of a dataset folder (any storage URI, see ``hmgray.storage``)::

    <root>/manifest.json
    <root>/train-00000.parquet, train-00001.parquet, ..., val-00000.parquet, test-00000.parquet
    <root>/table-<name>.parquet     side tables, when the task has any (e.g. a recommender's
                                    item catalogue): one file each, own schema, listed
                                    under the manifest's ``tables``

A file holds one split; rows are grouped in row groups of ``row_group_rows`` so Ray Data can
stream them. The manifest lists every file with its split, row count, byte size and sha256,
and carries the task's name and context (what its model needs beside the rows, e.g. a
graph); the row format and its checks are the task's (``Task.shards``); its own sha256 (``Manifest.hash``) is the data provenance
recorded with every result.

Write protocol (``write_shards``): validate everything first, then write shards, then the
manifest LAST and atomically. A dataset without ``manifest.json`` is not a dataset: if
anything fails, the files written so far are removed and no manifest exists. An older
manifest in the same folder is deleted before the first shard is written, so a failed
rewrite can never leave a manifest that points at new or missing files.

Read protocol (``load_manifest(verify=True)``): every shard is read exactly once; its
sha256 is computed while reading, then the bytes are parsed and checked against the
manifest (size, hash, rows) and the schema/value contract. All failures are ``DataError``
naming the file and the field.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from hmgray import storage
from hmgray.errors import DataError, HmgrayError, StorageError
from hmgray.task import ShardSchema, Task, get_task

__all__ = [
    "FORMAT",
    "MANIFEST_NAME",
    "Manifest",
    "ShardFile",
    "ShardWriter",
    "TableFile",
    "load_manifest",
    "write_shards",
]

MANIFEST_NAME = "manifest.json"
FORMAT = "hmgray-shards"
FORMAT_VERSION = 2  # 1: no "task"/"context" (the context's keys at the top level)
_V1_KEYS = ("format", "schema_version", "dataset", "created_at", "generator", "files")
_SPLIT_RE = re.compile(r"[a-z][a-z0-9_]*")
_READ_CHUNK = 1 << 20  # bytes per read while hashing; 1 MiB keeps the loop overhead negligible


@dataclass(frozen=True)
class ShardFile:
    """One entry of the manifest's ``files`` list (``path`` relative to the manifest folder)."""

    path: str
    split: str
    rows: int
    sha256: str
    bytes: int


@dataclass(frozen=True)
class TableFile:
    """One entry of the manifest's ``tables`` list: a side table of the task (rows that are
    not training examples, e.g. the item catalogue), in one file with its own schema."""

    name: str
    path: str
    rows: int
    sha256: str
    bytes: int


@dataclass(frozen=True)
class Manifest:
    """A loaded (or just written) dataset manifest.

    ``uri`` is the dataset folder (the manifest's directory, with any URI query kept);
    ``hash`` is the sha256 hex digest of the manifest file's bytes; ``task`` the name of
    the task whose rows the shards hold (None for a version-1 manifest, which predates
    it); ``context`` what the task's model needs beside the rows (e.g. a graph);
    ``raw`` is the parsed JSON as written.
    """

    uri: str
    hash: str
    dataset: str
    task: str | None
    files: tuple[ShardFile, ...]
    context: dict = field(repr=False)
    raw: dict = field(repr=False)
    tables: tuple[TableFile, ...] = ()

    @property
    def manifest_uri(self) -> str:
        return storage.join(self.uri, MANIFEST_NAME)

    @property
    def splits(self) -> tuple[str, ...]:
        """Split names in file order, each once."""
        return tuple(dict.fromkeys(f.split for f in self.files))

    def files_for(self, split: str) -> list[str]:
        """Full URIs of the files of ``split`` (empty list for an unknown split)."""
        return [storage.join(self.uri, f.path) for f in self.files if f.split == split]

    def rows(self, split: str) -> int:
        """Number of rows in ``split``."""
        return sum(f.rows for f in self.files if f.split == split)

    def table_entry(self, name: str) -> TableFile:
        for t in self.tables:
            if t.name == name:
                return t
        raise DataError(
            f"{self.manifest_uri}: no side table {name!r} "
            f"(has {[t.name for t in self.tables] or 'none'})"
        )

    def read_table(self, name: str) -> pa.Table:
        """The side table ``name``, checked against the manifest (size, sha256, rows)."""
        entry = self.table_entry(name)
        return _read_checked(self, entry, f"field 'tables[{self.tables.index(entry)}]")

    def filesystem_paths(self, split: str) -> tuple[pafs.FileSystem, list[str]]:
        """``(filesystem, paths)`` of ``split`` for ``ray.data.read_parquet(paths, filesystem=fs)``.

        Ray and pyarrow datasets take filesystem-relative paths; this keeps URI query options
        (endpoint, scheme) in the filesystem object instead of the path strings.
        """
        fs, root = storage.resolve(self.uri)
        return fs, [f"{root.rstrip('/')}/{f.path}" for f in self.files if f.split == split]


# ----------------------------------------------------------------------------- writing


def _ordered(table: pa.Table, shards: ShardSchema) -> pa.Table:
    table = shards.order(table)
    return table.replace_schema_metadata({"hmgray.schema_version": str(shards.version)})


def write_shards(
    tables_by_split: Mapping[str, pa.Table],
    out_uri: str,
    *,
    task: str | Task,
    dataset: str,
    generator: Mapping,
    context: Mapping,
    tables: Mapping[str, pa.Table] | None = None,
    rows_per_file: int = 4096,
    row_group_rows: int = 256,
) -> Manifest:
    """Write ``tables_by_split`` as Parquet shards plus ``manifest.json`` under ``out_uri``.

    Args:
        tables_by_split: split name (``train``/``val``/``test``...) -> table in the task's
            row format (``task.shards``); all splits must share one schema.
        out_uri: dataset folder (local path or storage URI).
        task: the task (or its registered name) whose rows these are.
        dataset: dataset name recorded in the manifest and in results.
        generator: provenance, e.g. ``{"name": ..., "seed": ..., "params": {...}}``.
        context: what the task's model needs beside the rows (JSON), checked by
            ``task.shards.validate_context``.
        tables: the task's side tables by name (``task.shards.tables``), each checked by
            ``task.shards.validate_table`` and written as ``table-<name>.parquet``.
        rows_per_file: rows per Parquet file (the last file of a split holds the rest).
        row_group_rows: rows per Parquet row group (Ray Data's streaming unit).

    Returns: the ``Manifest`` as written. Files are named ``{split}-{i:05d}.parquet``; an
    empty split still gets one (empty) file so its schema is readable.
    """
    task = get_task(task)
    shards = task.shards
    tables_side = tables
    if rows_per_file < 1 or row_group_rows < 1:
        raise DataError(
            f"write_shards({out_uri}): rows_per_file={rows_per_file} and "
            f"row_group_rows={row_group_rows} must be >= 1"
        )
    if not tables_by_split:
        raise DataError(f"write_shards({out_uri}): no splits given")
    if not isinstance(context, Mapping):
        raise DataError(f"write_shards({out_uri}): field 'context' must be an object")
    shards.validate_context(context, f"write_shards({out_uri}) field 'context'")
    for key, value in (("generator", generator), ("context", context)):
        try:  # strict JSON (no NaN, no numpy scalars), checked before anything is written
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise DataError(
                f"write_shards({out_uri}): field {key!r} is not valid JSON ({e})"
            ) from e

    # 1. validate everything before touching storage
    first_schema = None
    tables: dict[str, pa.Table] = {}
    for split, table in tables_by_split.items():
        where = f"write_shards({out_uri}) split {split!r}"
        if not isinstance(split, str) or not _SPLIT_RE.fullmatch(split):
            raise DataError(f"{where}: split names must match [a-z][a-z0-9_]*")
        shards.validate_schema(table.schema, where)
        table = _ordered(table, shards)
        if first_schema is None:
            first_schema = table.schema
        elif not table.schema.equals(first_schema):
            raise DataError(f"{where}: schema differs from the first split's schema")
        shards.validate_values(table, context, where)
        tables[split] = table
    side = dict(tables_side or {})
    _check_table_names(shards, side, f"write_shards({out_uri})")
    for name, table in side.items():
        shards.validate_table(name, table, context, f"write_shards({out_uri}) table {name!r}")

    out_uri = _absolute(out_uri)
    manifest_uri = storage.join(out_uri, MANIFEST_NAME)
    _remove_previous(out_uri, manifest_uri)
    storage.makedirs(out_uri)

    # 2. shards, 3. manifest last; on any failure remove what we wrote
    written: list[str] = []
    try:
        entries = []
        for split, table in tables.items():
            n_files = max(1, math.ceil(table.num_rows / rows_per_file))
            for i in range(n_files):
                chunk = table.slice(i * rows_per_file, rows_per_file)
                path = f"{split}-{i:05d}.parquet"
                entry = _write_file(out_uri, path, chunk, row_group_rows, written)
                entries.append({"path": path, "split": split, **entry})
        table_entries = [
            {"name": name, "path": f"table-{name}.parquet"}
            | _write_file(
                out_uri, f"table-{name}.parquet", table, max(row_group_rows, 4096), written
            )
            for name, table in side.items()
        ]
        payload = _manifest_payload(
            task.name, shards.version, dataset, generator, context, entries, table_entries
        )
        storage.atomic_write_bytes(manifest_uri, payload)
    except BaseException:
        for uri in written:
            try:
                storage.remove(uri)
            except HmgrayError:
                pass  # best effort: the original error is the one worth reporting
        raise
    return _manifest_from_raw(json.loads(payload), out_uri, manifest_uri, payload)


def _manifest_payload(task_name, version, dataset, generator, context, entries, tables) -> bytes:
    raw = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "task": task_name,
        "schema_version": version,
        "dataset": str(dataset),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "generator": dict(generator),
        "files": entries,
        "context": dict(context),
    }
    if tables:
        raw["tables"] = tables
    return (json.dumps(raw, indent=2, allow_nan=False) + "\n").encode("utf-8")


class ShardWriter:
    """The streaming form of :func:`write_shards`, for data larger than memory (converters).

    ``write(split, table)`` checks a piece of a split (schema, values, the same schema as
    every piece before) and buffers it; a file is written whenever ``rows_per_file`` rows
    of a split are buffered, so memory holds at most one file's rows per split.
    ``close()`` writes the rest and then the manifest, last and atomically; a split
    announced with ``ensure`` but never written gets one empty file. Used as a context
    manager it closes on success and, on any exception, removes every file it wrote (no
    manifest: not a dataset). An older manifest in the folder is removed at the start, as
    ``write_shards`` does. Side tables are not supported (they are small: use
    ``write_shards``).
    """

    def __init__(
        self,
        out_uri: str,
        *,
        task: str | Task,
        dataset: str,
        generator: Mapping,
        context: Mapping,
        rows_per_file: int = 4096,
        row_group_rows: int = 256,
    ):
        self.task = get_task(task)
        self.shards = self.task.shards
        if rows_per_file < 1 or row_group_rows < 1:
            raise DataError(
                f"ShardWriter({out_uri}): rows_per_file and row_group_rows must be >= 1"
            )
        if tuple(getattr(self.shards, "tables", ())):
            raise DataError(f"ShardWriter({out_uri}): task {self.task.name!r} needs side tables")
        self.shards.validate_context(context, f"ShardWriter({out_uri}) field 'context'")
        for key, value in (("generator", generator), ("context", context)):
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError) as e:
                raise DataError(
                    f"ShardWriter({out_uri}): field {key!r} is not valid JSON ({e})"
                ) from e
        self.dataset, self.generator, self.context = dataset, dict(generator), dict(context)
        self.rows_per_file, self.row_group_rows = rows_per_file, row_group_rows
        self.out_uri = _absolute(out_uri)
        self.manifest_uri = storage.join(self.out_uri, MANIFEST_NAME)
        self.manifest: Manifest | None = None
        self._schema: pa.Schema | None = None
        self._buffers: dict[str, list[pa.Table]] = {}
        self._buffered: dict[str, int] = {}
        self._files: dict[str, int] = {}
        self._entries: list[dict] = []
        self._written: list[str] = []
        _remove_previous(self.out_uri, self.manifest_uri)
        storage.makedirs(self.out_uri)

    def ensure(self, split: str) -> None:
        """Announce ``split``: it is in the manifest even if no row is written to it."""
        self._check_split(split)
        self._buffers.setdefault(split, [])
        self._buffered.setdefault(split, 0)

    def _check_split(self, split: str) -> None:
        if not isinstance(split, str) or not _SPLIT_RE.fullmatch(split):
            raise DataError(f"ShardWriter({self.out_uri}): split names must match [a-z][a-z0-9_]*")

    def write(self, split: str, table: pa.Table) -> None:
        where = f"ShardWriter({self.out_uri}) split {split!r}"
        self.ensure(split)
        self.shards.validate_schema(table.schema, where)
        table = _ordered(table, self.shards)
        if self._schema is None:
            self._schema = table.schema
        elif not table.schema.equals(self._schema):
            raise DataError(f"{where}: schema differs from the first piece's schema")
        self.shards.validate_values(table, self.context, where)
        self._buffers[split].append(table)
        self._buffered[split] += table.num_rows
        while self._buffered[split] >= self.rows_per_file:
            self._flush(split, self.rows_per_file)

    def _flush(self, split: str, n: int) -> None:
        whole = pa.concat_tables(self._buffers[split]) if self._buffers[split] else None
        if whole is None:
            whole = self._schema.empty_table() if self._schema is not None else None
        if whole is None:
            raise DataError(
                f"ShardWriter({self.out_uri}): split {split!r} has no rows and no schema"
            )
        chunk, rest = whole.slice(0, n), whole.slice(n)
        path = f"{split}-{self._files.get(split, 0):05d}.parquet"
        entry = _write_file(self.out_uri, path, chunk, self.row_group_rows, self._written)
        self._entries.append({"path": path, "split": split, **entry})
        self._files[split] = self._files.get(split, 0) + 1
        self._buffers[split] = [rest] if rest.num_rows else []
        self._buffered[split] = rest.num_rows

    def close(self) -> Manifest:
        """Write the buffered rows and the manifest; return the Manifest."""
        if not self._buffers:
            raise DataError(f"ShardWriter({self.out_uri}): nothing was written")
        for split in self._buffers:
            if self._buffered[split] or not self._files.get(split):
                self._flush(split, self._buffered[split])
        payload = _manifest_payload(
            self.task.name, self.shards.version, self.dataset, self.generator, self.context,
            self._entries, [],
        )  # fmt: skip
        storage.atomic_write_bytes(self.manifest_uri, payload)
        self.manifest = _manifest_from_raw(
            json.loads(payload), self.out_uri, self.manifest_uri, payload
        )
        return self.manifest

    def abort(self) -> None:
        """Remove every file written so far (best effort)."""
        for uri in self._written:
            try:
                storage.remove(uri)
            except HmgrayError:
                pass
        self._written.clear()

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                self.close()
            except BaseException:
                self.abort()
                raise
        else:
            self.abort()


def _write_file(out_uri: str, path: str, table: pa.Table, row_group_rows: int, written: list):
    """Write ``table`` as ``out_uri/path`` (noting its URI in ``written`` first, for the
    clean-up); return its manifest fields ``rows``, ``sha256`` and ``bytes``."""
    data = storage.parquet_bytes(table, row_group_size=row_group_rows)
    uri = storage.join(out_uri, path)
    written.append(uri)
    storage.atomic_write_bytes(uri, data)
    return {"rows": table.num_rows, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def _remove_previous(out_uri: str, manifest_uri: str) -> None:
    """Delete an existing manifest first, then the shards it listed."""
    if not storage.exists(manifest_uri):
        return
    try:
        old = json.loads(storage.read_bytes(manifest_uri))
        listed = [*old.get("files", []), *old.get("tables", [])]
        old_paths = [f["path"] for f in listed if _safe_relpath(f.get("path"))]
    except (ValueError, TypeError, AttributeError, StorageError):
        old_paths = []  # unreadable old manifest: just drop it
    storage.remove(manifest_uri)
    for p in old_paths:
        storage.remove(storage.join(out_uri, p))


# ----------------------------------------------------------------------------- reading


def _safe_relpath(p) -> bool:
    """A shard path must be a plain relative name inside the dataset folder."""
    return (
        isinstance(p, str)
        and bool(p)
        and not p.startswith(("/", "\\"))
        and "://" not in p
        and ".." not in p.replace("\\", "/").split("/")
    )


def _absolute(uri: str) -> str:
    """Plain local paths become absolute, so shard URIs stay valid in Ray workers."""
    return uri if "://" in uri else os.path.abspath(os.path.expanduser(uri))


def _split_manifest_uri(uri: str) -> tuple[str, str]:
    """(dataset folder URI, manifest URI) for a folder or a ``.../manifest.json`` URI."""
    uri = _absolute(uri)
    base = uri.split("?", 1)[0] if "://" in uri else uri
    if base.rstrip("/").endswith(".json"):
        if "://" in uri:
            s = urlsplit(uri)
            folder = urlunsplit((s.scheme, s.netloc, s.path.rsplit("/", 1)[0], s.query, s.fragment))
        else:
            folder = os.path.dirname(uri)
        return folder, uri
    return uri, storage.join(uri, MANIFEST_NAME)


def _require(raw: dict, key: str, typ: type, where: str):
    if key not in raw:
        raise DataError(f"{where}: field {key!r} is missing")
    value = raw[key]
    if not isinstance(value, typ):
        raise DataError(
            f"{where}: field {key!r} must be a {typ.__name__}, got {type(value).__name__}"
        )
    return value


def _manifest_from_raw(raw, folder: str, manifest_uri: str, payload: bytes) -> Manifest:
    where = manifest_uri
    if not isinstance(raw, dict):
        raise DataError(f"{where}: the manifest must be a JSON object")
    fmt = raw.get("format")
    if fmt != FORMAT:
        raise DataError(f"{where}: field 'format' is {fmt!r}, expected {FORMAT!r}")
    dataset = _require(raw, "dataset", str, where)
    version = raw.get("format_version", 1)
    if version == 1:  # the context's keys at the top level, no task name
        task = None
        context = {k: v for k, v in raw.items() if k not in _V1_KEYS}
    elif version == FORMAT_VERSION:
        task = _require(raw, "task", str, where)
        context = _require(raw, "context", dict, where)
    else:
        raise DataError(
            f"{where}: field 'format_version' is {version!r}, expected 1 or {FORMAT_VERSION}"
        )
    files = [
        _entry(ShardFile, f, f"{where}: field 'files[{i}]")
        for i, f in enumerate(_require(raw, "files", list, where))
    ]
    tables = [
        _entry(TableFile, t, f"{where}: field 'tables[{i}]")
        for i, t in enumerate(raw.get("tables", []))
    ]
    return Manifest(
        uri=folder,
        hash=hashlib.sha256(payload).hexdigest(),
        dataset=dataset,
        task=task,
        files=tuple(files),
        context=context,
        raw=raw,
        tables=tuple(tables),
    )


def _entry(cls, f, fw: str):
    """A ``ShardFile`` or ``TableFile`` from one manifest entry, every field type-checked
    and the path a plain relative name (``fw`` names the entry in messages)."""
    if not isinstance(f, dict):
        raise DataError(f"{fw}' must be an object")
    for fld in dataclasses.fields(cls):
        typ = int if fld.type in ("int", int) else str
        value = f.get(fld.name)
        if not isinstance(value, typ) or isinstance(value, bool):
            raise DataError(f"{fw}.{fld.name}' is missing or not a {typ.__name__}")
    if not _safe_relpath(f["path"]):
        raise DataError(f"{fw}.path' = {f['path']!r} is not a relative path inside the dataset")
    return cls(**{fld.name: f[fld.name] for fld in dataclasses.fields(cls)})


def _check_table_names(shards: ShardSchema, present, where: str) -> None:
    """The side tables must be exactly the task's (``shards.tables``, none by default)."""
    expected = tuple(getattr(shards, "tables", ()))
    missing = [n for n in expected if n not in present]
    extra = [n for n in present if n not in expected]
    if missing or extra:
        raise DataError(
            f"{where}: side tables {sorted(present)}, the task's are {list(expected)}"
            + (f" (missing {missing})" if missing else "")
            + (f" (unknown {extra})" if extra else "")
        )


def _read_hashing(uri: str, field_name: str) -> tuple[bytes, str]:
    """Read the file at ``uri`` once, computing its sha256 on the way."""
    fs, path = storage.resolve(uri)
    h = hashlib.sha256()
    chunks = []
    try:
        with fs.open_input_stream(path) as f:
            while chunk := f.read(_READ_CHUNK):
                h.update(chunk)
                chunks.append(chunk)
    except FileNotFoundError as e:
        raise DataError(
            f"{uri}: shard file listed in the manifest ({field_name}) is missing"
        ) from e
    except (OSError, pa.ArrowException) as e:
        raise StorageError(f"cannot read {uri!r}: {e}") from e
    return b"".join(chunks), h.hexdigest()


def _read_checked(manifest: Manifest, entry: ShardFile | TableFile, fw: str) -> pa.Table:
    """Read one listed file; check its size, sha256 and row count against ``entry``."""
    uri = storage.join(manifest.uri, entry.path)
    data, digest = _read_hashing(uri, f"{fw}.path'")
    if len(data) != entry.bytes:
        raise DataError(
            f"{uri}: size is {len(data)} bytes, manifest {fw}.bytes' says {entry.bytes}"
        )
    if digest != entry.sha256:
        raise DataError(f"{uri}: sha256 is {digest}, manifest {fw}.sha256' says {entry.sha256}")
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError, ValueError) as e:
        raise DataError(f"{uri}: not a readable Parquet file ({e})") from e
    if table.num_rows != entry.rows:
        raise DataError(f"{uri}: has {table.num_rows} rows, manifest {fw}.rows' says {entry.rows}")
    return table


def _verify_file(manifest: Manifest, shards: ShardSchema, i: int, entry: ShardFile) -> None:
    uri = storage.join(manifest.uri, entry.path)
    table = _read_checked(manifest, entry, f"field 'files[{i}]")
    shards.validate_schema(table.schema, uri)
    shards.validate_values(table, manifest.context, uri)
    if entry.rows:
        ids = pc.unique(table.column(shards.key_column))
        if len(ids) != entry.rows:
            raise DataError(
                f"{uri}: column {shards.key_column!r} has {entry.rows - len(ids)} duplicate(s)"
            )


def load_manifest(uri: str, verify: bool = True, task: str | Task | None = None) -> Manifest:
    """Load the manifest of the dataset at ``uri`` (the folder or its ``manifest.json``).

    ``task`` (a Task or registered name) is the task the caller will train: the manifest
    must be that task's (a version-1 manifest, which names none, is taken as it). Without
    it the manifest's own task is looked up. The manifest's context is checked by the
    task's ``shards.validate_context``. With ``verify`` every shard is read once and
    checked: present, size and sha256 as listed, valid Parquet, the task's schema, row
    count as listed, valid values (``shards.validate_values``), unique keys. Without it
    only the manifest itself is parsed and checked.
    """
    folder, manifest_uri = _split_manifest_uri(uri)
    try:
        present = storage.exists(manifest_uri)
    except StorageError as e:
        raise DataError(f"{manifest_uri}: cannot access the manifest ({e})") from e
    if not present:
        raise DataError(f"{manifest_uri}: manifest not found (no dataset at {folder})")
    payload = storage.read_bytes(manifest_uri)
    try:
        raw = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{manifest_uri}: manifest is not valid JSON ({e})") from e
    manifest = _manifest_from_raw(raw, folder, manifest_uri, payload)
    if task is None and manifest.task is None:
        raise DataError(
            f"{manifest_uri}: the manifest names no task (format version 1); say which "
            "task reads it"
        )
    task = get_task(task if task is not None else manifest.task)
    if manifest.task is not None and manifest.task != task.name:
        raise DataError(
            f"{manifest_uri}: field 'task' is {manifest.task!r}, but the data is read by "
            f"task {task.name!r}"
        )
    version = raw.get("schema_version")
    if version != task.shards.version:
        raise DataError(
            f"{manifest_uri}: field 'schema_version' is {version!r}, expected "
            f"{task.shards.version} (task {task.name!r})"
        )
    task.shards.validate_context(manifest.context, manifest_uri)
    _check_table_names(task.shards, [t.name for t in manifest.tables], manifest_uri)
    if verify:
        seen = set()
        for i, entry in enumerate(manifest.files):
            if entry.path in seen:
                raise DataError(
                    f"{manifest_uri}: field 'files[{i}].path' = {entry.path!r} listed twice"
                )
            seen.add(entry.path)
            _verify_file(manifest, task.shards, i, entry)
        for i, entry in enumerate(manifest.tables):
            table = _read_checked(manifest, entry, f"field 'tables[{i}]")
            where = storage.join(manifest.uri, entry.path)
            task.shards.validate_table(entry.name, table, manifest.context, where)
    return manifest
