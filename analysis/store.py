"""The few storage operations the analysis needs, on top of ``hmgray.storage`` (contracts §6).

URIs are local paths, ``file://`` or object-store URIs (``s3://bucket/key?options``).
Reads and writes go through ``hmgray.storage`` (atomic writes: temporary file and
``os.replace`` locally, one PUT on object stores); its ``StorageError`` becomes an
:class:`AnalysisError` naming the URI. Only the path arithmetic that ``hmgray.storage``
does not offer (``parent``, making a local path absolute) lives here.
"""

from __future__ import annotations

import os
import posixpath
from urllib.parse import urlsplit, urlunsplit

from analysis.errors import AnalysisError
from hmgray import storage
from hmgray.errors import HmgrayError

join = storage.join


def normalize(uri: str) -> str:
    """A plain local path made absolute (a printed command then works from any folder)."""
    return uri if "://" in uri else os.path.abspath(os.path.expanduser(uri))


def parent(uri: str) -> str:
    """The folder holding ``uri`` (keeps scheme, bucket and query of object-store URIs)."""
    if "://" not in uri:
        return os.path.dirname(os.path.abspath(uri))
    s = urlsplit(uri)
    return urlunsplit(
        (s.scheme, s.netloc, posixpath.dirname(s.path.rstrip("/")), s.query, s.fragment)
    )


def read_bytes(uri: str) -> bytes:
    try:
        return storage.read_bytes(uri)
    except HmgrayError as e:
        raise AnalysisError(f"{uri}: cannot read the results ({e})") from e


def write_bytes(uri: str, data: bytes) -> None:
    """Write ``data`` to ``uri`` atomically (readers see the old file or the new one)."""
    storage.atomic_write_bytes(uri, data)
