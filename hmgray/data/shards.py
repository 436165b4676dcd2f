"""Listing shards: Parquet files plus ``manifest.json`` (docs/contracts.md sections 1-2).

Layout of a dataset folder (any storage URI, see ``hmgray.storage``)::

    <root>/manifest.json
    <root>/train-00000.parquet, train-00001.parquet, ..., val-00000.parquet, test-00000.parquet

A file holds one split; rows are grouped in row groups of ``row_group_rows`` so Ray Data can
stream them. The manifest lists every file with its split, row count, byte size and sha256,
and carries the market graph; its own sha256 (``Manifest.hash``) is the data provenance
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
from hmgray.data.text import tokenize
from hmgray.errors import DataError, HmgrayError, StorageError
from hmgray.families.valuation.data.market import MARKET_KEYS
from hmgray.families.valuation.data.schema import (
    LISTING_SCHEMA,
    SCHEMA_VERSION,
    validate_table_schema,
    validate_table_values,
)

__all__ = ["MANIFEST_NAME", "FORMAT", "Manifest", "ShardFile", "load_manifest", "write_shards"]

MANIFEST_NAME = "manifest.json"
FORMAT = "hmgray-shards"
EDGE_KEYS = (
    "item__sold_in__location",
    "item__sold_at__period",
    "location__near__location",
    "period__next__period",
)
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
class Manifest:
    """A loaded (or just written) dataset manifest.

    ``uri`` is the dataset folder (the manifest's directory, with any URI query kept);
    ``hash`` is the sha256 hex digest of the manifest file's bytes; ``raw`` is the parsed
    JSON as written.
    """

    uri: str
    hash: str
    dataset: str
    image_size: tuple[int, int]
    files: tuple[ShardFile, ...]
    market: dict = field(repr=False)
    raw: dict = field(repr=False)

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
        """Number of listings in ``split``."""
        return sum(f.rows for f in self.files if f.split == split)

    def filesystem_paths(self, split: str) -> tuple[pafs.FileSystem, list[str]]:
        """``(filesystem, paths)`` of ``split`` for ``ray.data.read_parquet(paths, filesystem=fs)``.

        Ray and pyarrow datasets take filesystem-relative paths; this keeps URI query options
        (endpoint, scheme) in the filesystem object instead of the path strings.
        """
        fs, root = storage.resolve(self.uri)
        return fs, [f"{root.rstrip('/')}/{f.path}" for f in self.files if f.split == split]


# ----------------------------------------------------------------------------- writing


def _validate_market(market: Mapping, where: str) -> None:
    if not isinstance(market, Mapping):
        raise DataError(f"{where}: field 'market' must be an object, got {type(market).__name__}")
    for key in MARKET_KEYS:
        if key not in market:
            raise DataError(f"{where}: field 'market.{key}' is missing")
    edges = market["edges"]
    if not isinstance(edges, Mapping):
        raise DataError(f"{where}: field 'market.edges' must be an object")
    for key in EDGE_KEYS:
        if key not in edges:
            raise DataError(f"{where}: field 'market.edges.{key}' is missing")
    if len(market["location_coords"]) != len(market["location_names"]):
        raise DataError(
            f"{where}: field 'market.location_coords' length differs from 'location_names'"
        )
    if len(market["item_model_msrp"]) != len(market["item_models"]):
        raise DataError(
            f"{where}: field 'market.item_model_msrp' length differs from 'item_models'"
        )


def _check_market_ranges(table: pa.Table, market: Mapping, where: str) -> None:
    """Index columns must point into the market's node lists."""
    limits = {
        "location_id": len(market["location_names"]),
        "period": int(market["num_periods"]),
        "item_model_id": len(market["item_models"]),
    }
    for name, hi in limits.items():
        v = table.column(name).to_numpy()
        bad = (v < 0) | (v >= hi)
        if bad.any():
            raise DataError(
                f"{where}: column {name!r} has {int(bad.sum())} row(s) outside [0, {hi}) "
                f"(the size of the manifest's market)"
            )


def _check_text_heads(table: pa.Table, where: str) -> None:
    """``text_heads`` has one head per token and each head is -1 or a token index."""
    descriptions = table.column("description").to_pylist()
    heads = table.column("text_heads").to_pylist()
    ids = table.column("listing_id").to_pylist()
    for lid, text, h in zip(ids, descriptions, heads, strict=True):
        n = len(tokenize(text))
        if len(h) != n:
            raise DataError(
                f"{where}: listing {lid!r}: column 'text_heads' has {len(h)} heads for {n} tokens"
            )
        if any(x < -1 or x >= n for x in h):
            raise DataError(
                f"{where}: listing {lid!r}: column 'text_heads' has a head outside [-1, {n})"
            )


def _ordered(table: pa.Table) -> pa.Table:
    """Contract columns first, in contract order, then the gt_* columns as given."""
    required = LISTING_SCHEMA.names
    extra = [n for n in table.column_names if n not in required]
    table = table.select(required + extra)
    return table.replace_schema_metadata({"hmgray.schema_version": str(SCHEMA_VERSION)})


def write_shards(
    tables_by_split: Mapping[str, pa.Table],
    out_uri: str,
    *,
    dataset: str,
    generator: Mapping,
    market: Mapping,
    image_size: tuple[int, int] | list[int],
    rows_per_file: int = 4096,
    row_group_rows: int = 256,
) -> Manifest:
    """Write ``tables_by_split`` as Parquet shards plus ``manifest.json`` under ``out_uri``.

    Args:
        tables_by_split: split name (``train``/``val``/``test``...) -> listings table with the
            contract schema (``hmgray.families.valuation.data.schema``); all splits must share one schema.
        out_uri: dataset folder (local path or storage URI).
        dataset: dataset name recorded in the manifest and in results.
        generator: provenance, e.g. ``{"name": ..., "seed": ..., "params": {...}}``.
        market: the manifest market object (``hmgray.families.valuation.data.market.build_market``).
        image_size: (height, width) of the images in pixels.
        rows_per_file: rows per Parquet file (the last file of a split holds the rest).
        row_group_rows: rows per Parquet row group (Ray Data's streaming unit).

    Returns: the ``Manifest`` as written. Files are named ``{split}-{i:05d}.parquet``; an
    empty split still gets one (empty) file so its schema is readable.
    """
    if rows_per_file < 1 or row_group_rows < 1:
        raise DataError(
            f"write_shards({out_uri}): rows_per_file={rows_per_file} and "
            f"row_group_rows={row_group_rows} must be >= 1"
        )
    if not tables_by_split:
        raise DataError(f"write_shards({out_uri}): no splits given")
    size = [int(x) for x in image_size]
    if len(size) != 2 or min(size) < 1:
        raise DataError(
            f"write_shards({out_uri}): field 'image_size' must be 2 positive ints, got {image_size}"
        )
    _validate_market(market, f"write_shards({out_uri})")
    for key, value in (("generator", generator), ("market", market)):
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
        validate_table_schema(table.schema, where)
        table = _ordered(table)
        if first_schema is None:
            first_schema = table.schema
        elif not table.schema.equals(first_schema):
            raise DataError(f"{where}: schema differs from the first split's schema")
        validate_table_values(table, where)
        _check_market_ranges(table, market, where)
        _check_text_heads(table, where)
        tables[split] = table

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
                data = storage.parquet_bytes(chunk, row_group_size=row_group_rows)
                name = f"{split}-{i:05d}.parquet"
                uri = storage.join(out_uri, name)
                written.append(uri)
                storage.atomic_write_bytes(uri, data)
                entries.append(
                    {
                        "path": name,
                        "split": split,
                        "rows": chunk.num_rows,
                        "sha256": hashlib.sha256(data).hexdigest(),
                        "bytes": len(data),
                    }
                )
        raw = {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "dataset": str(dataset),
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "generator": dict(generator),
            "image_size": size,
            "files": entries,
            "market": dict(market),
        }
        payload = (json.dumps(raw, indent=2, allow_nan=False) + "\n").encode("utf-8")
        storage.atomic_write_bytes(manifest_uri, payload)
    except BaseException:
        for uri in written:
            try:
                storage.remove(uri)
            except HmgrayError:
                pass  # best effort: the original error is the one worth reporting
        raise
    return _manifest_from_raw(json.loads(payload), out_uri, manifest_uri, payload)


def _remove_previous(out_uri: str, manifest_uri: str) -> None:
    """Delete an existing manifest first, then the shards it listed."""
    if not storage.exists(manifest_uri):
        return
    try:
        old = json.loads(storage.read_bytes(manifest_uri))
        old_paths = [f["path"] for f in old.get("files", []) if _safe_relpath(f.get("path"))]
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
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        raise DataError(
            f"{where}: field 'schema_version' is {version!r}, expected {SCHEMA_VERSION}"
        )
    dataset = _require(raw, "dataset", str, where)
    size = _require(raw, "image_size", list, where)
    if len(size) != 2 or not all(isinstance(x, int) and x > 0 for x in size):
        raise DataError(
            f"{where}: field 'image_size' must be [height, width] positive ints, got {size}"
        )
    market = _require(raw, "market", dict, where)
    _validate_market(market, where)
    files = []
    for i, f in enumerate(_require(raw, "files", list, where)):
        fw = f"{where}: field 'files[{i}]"
        if not isinstance(f, dict):
            raise DataError(f"{fw}' must be an object")
        for key, typ in (
            ("path", str),
            ("split", str),
            ("rows", int),
            ("sha256", str),
            ("bytes", int),
        ):
            if not isinstance(f.get(key), typ) or isinstance(f.get(key), bool):
                raise DataError(f"{fw}.{key}' is missing or not a {typ.__name__}")
        if not _safe_relpath(f["path"]):
            raise DataError(f"{fw}.path' = {f['path']!r} is not a relative path inside the dataset")
        files.append(ShardFile(f["path"], f["split"], f["rows"], f["sha256"], f["bytes"]))
    return Manifest(
        uri=folder,
        hash=hashlib.sha256(payload).hexdigest(),
        dataset=dataset,
        image_size=(size[0], size[1]),
        files=tuple(files),
        market=market,
        raw=raw,
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


def _verify_file(manifest: Manifest, i: int, entry: ShardFile) -> None:
    uri = storage.join(manifest.uri, entry.path)
    fw = f"field 'files[{i}]"
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
    validate_table_schema(table.schema, uri)
    if table.num_rows != entry.rows:
        raise DataError(f"{uri}: has {table.num_rows} rows, manifest {fw}.rows' says {entry.rows}")
    validate_table_values(table, uri)
    _check_market_ranges(table, manifest.market, uri)
    if entry.rows:
        ids = pc.unique(table.column("listing_id"))
        if len(ids) != entry.rows:
            raise DataError(f"{uri}: column 'listing_id' has {entry.rows - len(ids)} duplicate(s)")


def load_manifest(uri: str, verify: bool = True) -> Manifest:
    """Load the manifest of the dataset at ``uri`` (the folder or its ``manifest.json``).

    With ``verify`` every shard is read once and checked: present, size and sha256 as
    listed, valid Parquet, contract schema, row count as listed, valid values (finite
    non-negative ``price``, positive ``msrp``, indices inside the market). Without it only
    the manifest itself is parsed and checked.
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
    if verify:
        seen = set()
        for i, entry in enumerate(manifest.files):
            if entry.path in seen:
                raise DataError(
                    f"{manifest_uri}: field 'files[{i}].path' = {entry.path!r} listed twice"
                )
            seen.add(entry.path)
            _verify_file(manifest, i, entry)
    return manifest
