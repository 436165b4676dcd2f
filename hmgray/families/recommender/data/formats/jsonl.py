"""JSON Lines input for the converters: lines streamed from plain or gzipped files (local
or a storage URI), parsed one by one, every problem reported with its file and line.

A line that is not a JSON object is a reported problem, never an exception; a truncated
``.gz`` keeps every line before the cut (Python's gzip hands them out, then raises).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass

from hmgray import storage
from hmgray.data.formats.base import ConversionReport as BaseReport

__all__ = ["ConversionReport", "json_lines", "parse_json", "text_of"]

_CHUNK = 1 << 16  # bytes read at a time (a truncated .gz loses at most the last chunk)


@dataclass
class ConversionReport(BaseReport):
    """What the Amazon conversion read, kept, dropped and why: the shared report (problems
    by file and line) with the converter's own totals."""

    converter: str = "amazon2023"
    unit: str = "lines"
    location: str = "line"
    reviews_read: int = 0
    reviews_kept: int = 0
    meta_read: int = 0
    items: int = 0
    users: int = 0

    def to_dict(self) -> dict:
        return {
            "converter": "amazon2023",
            "reviews_read": self.reviews_read,
            "reviews_kept": self.reviews_kept,
            "meta_read": self.meta_read,
            "items": self.items,
            "users": self.users,
            "problems_total": sum(self.counts.values()),
            "problem_counts": dict(sorted(self.counts.items())),
            "problems": self.problems,
            "notes": self.notes,
        }

    def summary(self, max_problems: int = 15) -> str:
        lines = [
            f"amazon2023: read {self.reviews_read} reviews and {self.meta_read} metadata lines; "
            f"kept {self.reviews_kept} reviews of {self.users} users on {self.items} items"
        ]
        for kind, n in sorted(self.counts.items()):
            lines.append(f"  {kind}: {n}")
        lines += [f"  note: {n}" for n in self.notes]
        shown = self.problems[:max_problems]
        if shown:
            lines.append(f"  problems (first {len(shown)} of {sum(self.counts.values())}):")
            lines += [
                f"    {p['file']}:{p['line']} {p['field']}: {p['message']} [{p['action']}]"
                for p in shown
            ]
        return "\n".join(lines)


def json_lines(uri: str) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, bytes) of a JSON Lines file, plain or gzipped, streamed."""
    fs, path = storage.resolve(uri)
    gzipped = uri.split("?")[0].endswith(".gz")
    # Python's gzip, not pyarrow's: on a truncated file it hands out everything before
    # the cut, then raises (EOFError), so the lines read so far are kept
    with fs.open_input_stream(path, compression=None) as raw:
        stream = gzip.GzipFile(fileobj=raw) if gzipped else raw
        rest, number = b"", 0
        while True:
            try:
                chunk = stream.read(_CHUNK)
            except (OSError, EOFError) as e:  # a truncated or corrupt .gz
                chunk = b""
                yield -1, str(e).encode()
            if not chunk:
                break
            parts = (rest + chunk).split(b"\n")
            rest = parts.pop()
            for line in parts:
                number += 1
                if line.strip():
                    yield number, line
        if rest.strip():
            yield number + 1, rest


def text_of(value) -> str:
    """A JSON string or list of strings as one line of text ('' for null)."""
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, list):
        return " ".join(" ".join(v.split()) for v in value if isinstance(v, str))
    return ""


def parse_json(line: bytes, where: str, number: int, report: ConversionReport) -> dict | None:
    if number < 0:
        report.problem(
            where, 0, "file", f"compressed stream ends early ({line.decode()})", "rest skipped"
        )
        return None
    try:
        obj = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        report.problem(
            where,
            number,
            "line",
            f"not valid JSON, e.g. truncated ({e.msg if hasattr(e, 'msg') else e})",
            "dropped",
        )
        return None
    if not isinstance(obj, dict):
        report.problem(where, number, "line", "not a JSON object", "dropped")
        return None
    return obj
