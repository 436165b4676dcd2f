"""What every converter of a real public format shares: the fatal error, the input check,
and a local folder of images (nothing is downloaded).

The converters themselves live with their families (``hmgray.families.<family>.data.
formats``); ``python -m hmgray.data.formats <format> ...`` is their one entry point.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from collections.abc import Sequence as _Seq
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
from PIL import Image, ImageOps, UnidentifiedImageError

from hmgray import storage
from hmgray.errors import DataError, HmgrayError

__all__ = [
    "ConversionError",
    "ConversionReport",
    "ImageFolder",
    "check_input",
    "image_size_arg",
    "resized_png",
    "run_conversion",
]

MAX_LISTED = 200  # problems listed in a report (all are counted)


class ConversionError(DataError):
    """A fatal conversion problem (the message names the file); ``report`` holds what was read."""

    def __init__(self, message: str, report: Any = None):
        super().__init__(message)
        self.report = report


@dataclass
class ConversionReport:
    """What a conversion read, kept, dropped and why (``conversion_report.json``).

    ``read``: input file -> units read (``unit``: rows, records...); ``kept``: what ->
    number kept; every problem is counted by ``"<field>: <action>"`` and the first
    ``MAX_LISTED`` are listed with their file, position and message; ``location`` names
    the position in a listed problem (``row``; ``line`` for line-based files)."""

    converter: str
    unit: str = "rows"
    location: str = "row"
    read: Counter = field(default_factory=Counter)
    kept: Counter = field(default_factory=Counter)
    counts: Counter = field(default_factory=Counter)
    problems: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def problem(self, where: str, row: int, field_name: str, message: str, action: str) -> None:
        self.counts[f"{field_name}: {action}"] += 1
        if len(self.problems) < MAX_LISTED:
            self.problems.append(
                {"file": where, self.location: row, "field": field_name, "message": message,
                 "action": action}
            )  # fmt: skip

    def problems_at(self, where: str, rows: np.ndarray, field_name: str, message: str,
                    action: str, values: _Seq | None = None) -> None:  # fmt: skip
        """Report the same problem on several rows (1-based row numbers)."""
        self.counts[f"{field_name}: {action}"] += len(rows)
        room = max(0, MAX_LISTED - len(self.problems))
        for k, r in enumerate(rows[:room]):
            text = message if values is None else f"{message}: {values[k]!r}"
            self.problems.append(
                {"file": where, self.location: int(r), "field": field_name, "message": text,
                 "action": action}
            )  # fmt: skip

    def to_dict(self) -> dict:
        return {
            "converter": self.converter,
            f"{self.unit}_read": dict(self.read),
            "kept": dict(self.kept),
            "problems_total": sum(self.counts.values()),
            "problem_counts": dict(sorted(self.counts.items())),
            "problems": self.problems,
            "notes": self.notes,
        }

    def summary(self, max_problems: int = 15) -> str:
        read = ", ".join(f"{n} {self.unit} of {f}" for f, n in self.read.items())
        kept = ", ".join(f"{n} {w}" for w, n in self.kept.items())
        lines = [f"{self.converter}: read {read}; kept {kept}"]
        lines += [f"  {kind}: {n}" for kind, n in sorted(self.counts.items())]
        lines += [f"  note: {n}" for n in self.notes]
        shown = self.problems[:max_problems]
        if shown:
            lines.append(f"  problems (first {len(shown)} of {sum(self.counts.values())}):")
            lines += [
                f"    {p['file']} {self.unit[:-1] if self.unit.endswith('s') else self.unit} "
                f"{p[self.location]} {p['field']}: {p['message']} [{p['action']}]"
                for p in shown
            ]
        return "\n".join(lines)


def check_input(uri: str, what: str) -> None:
    """``ConversionError`` naming ``uri`` unless a file or folder exists there."""
    try:
        present = storage.exists(uri)
    except HmgrayError as e:
        raise ConversionError(f"{uri}: cannot access the {what} ({e})") from e
    if not present:
        raise ConversionError(f"{uri}: {what} not found")


class ImageFolder:
    """Listing images in one local (or storage-URI) folder, looked up by file name.

    Nothing is downloaded. ``find(names, stems)`` returns the first file whose exact name is
    in ``names`` (e.g. the basename of the listing's image URL), else the first whose name
    without extension is in ``stems`` (e.g. the listing id: ``7316814884.jpg``). When a stem
    matches several files (``1.jpg`` and ``1.png``) the alphabetically first wins.
    ``load`` decodes a file (EXIF orientation applied, converted to RGB), resizes it to
    ``image_size`` (bilinear, aspect ratio not kept, as ``decode_batch`` does) and re-encodes
    it as PNG, so shards hold small, uniform, known-decodable images.
    """

    def __init__(self, uri: str, image_size: tuple[int, int]):
        check_input(uri, "images folder")
        self.uri = uri
        self.image_size = (int(image_size[0]), int(image_size[1]))
        fs, path = storage.resolve(uri)
        self._fs = fs
        try:
            infos = fs.get_file_info(pafs.FileSelector(path, recursive=False))
        except (OSError, pa.ArrowException) as e:
            raise ConversionError(f"{uri}: cannot list the images folder ({e})") from e
        names = sorted(i.base_name for i in infos if i.type == pafs.FileType.File)
        self._paths = {n: f"{path.rstrip('/')}/{n}" for n in names}
        self._by_stem: dict[str, str] = {}
        for n in names:
            self._by_stem.setdefault(os.path.splitext(n)[0], n)

    def __len__(self) -> int:
        return len(self._paths)

    def find(self, names: Sequence[str] = (), stems: Sequence[str] = ()) -> str | None:
        for n in names:
            if n and n in self._paths:
                return n
        for s in stems:
            if s and s in self._by_stem:
                return self._by_stem[s]
        return None

    def load(self, name: str) -> bytes:
        """PNG bytes of the image file ``name``, resized; ``DataError`` if undecodable."""
        try:
            with self._fs.open_input_stream(self._paths[name]) as f:
                data = f.read()
            return resized_png(data, self.image_size)
        except UnidentifiedImageError as e:
            raise DataError(f"image file {name!r} is not a PNG/JPEG image PIL can read") from e
        except (OSError, ValueError, pa.ArrowException) as e:
            raise DataError(f"image file {name!r} cannot be decoded ({e})") from e
        except Image.DecompressionBombError as e:
            raise DataError(f"image file {name!r} is too large to decode ({e})") from e


def resized_png(data: bytes, image_size: tuple[int, int]) -> bytes:
    """Encoded image bytes -> PNG bytes, EXIF orientation applied, RGB, resized (bilinear,
    aspect ratio not kept, as the decoders do) to ``image_size`` = (H, W). PIL's own
    exceptions pass through (callers report them with the file's name)."""
    h, w = image_size
    with Image.open(io.BytesIO(data)) as img:
        img = ImageOps.exif_transpose(img).convert("RGB")
        if img.size != (w, h):  # PIL sizes are (width, height)
            img = img.resize((w, h), Image.Resampling.BILINEAR)
        out = io.BytesIO()
        img.save(out, format="PNG")
        return out.getvalue()


def load_resized(
    uri: str,
    name: str,
    image_size: tuple[int, int],
    report: ConversionReport,
    where: str,
    row: int,
    action: str,
) -> bytes | None:
    """The image at ``uri`` as resized PNG bytes (:func:`resized_png`), or None after
    reporting why not (unreadable, not an image, undecodable) against ``where`` and
    ``row`` with ``action``; ``name`` is how the problem names the image."""
    try:
        data = storage.read_bytes(uri)
    except HmgrayError as e:
        report.problem(where, row, "image", f"{name}: cannot be read ({e})", action)
        return None
    try:
        return resized_png(data, image_size)
    except UnidentifiedImageError:
        report.problem(where, row, "image", f"{name}: not an image PIL can read", action)
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        report.problem(where, row, "image", f"{name}: cannot be decoded ({e})", action)
    return None


def run_conversion(convert: Callable[[], tuple[Any, Any]]) -> int:
    """Run a converter for the command line: print its report's summary and what it wrote
    (exit status 0), or the error, with the report so far when there is one (1)."""
    try:
        manifest, report = convert()
    except ConversionError as e:
        if e.report is not None:
            print(e.report.summary(), file=sys.stderr)
        print(f"error: {e}", file=sys.stderr)
        return 1
    except HmgrayError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(report.summary())
    print(f"wrote {manifest.uri}: manifest sha256 {manifest.hash}")
    return 0


def image_size_arg(min_size: int = 1) -> Callable[[str], tuple[int, int]]:
    """argparse type for ``--image-size``: ``48`` -> (48, 48); ``64x48`` -> (64, 48) as
    (height, width), every side at least ``min_size``."""

    def parse(text: str) -> tuple[int, int]:
        try:
            values = [int(p) for p in text.lower().split("x")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected N or HxW, got {text!r}") from None
        if len(values) not in (1, 2) or min(values) < min_size:
            raise argparse.ArgumentTypeError(
                f"expected N or HxW with sizes >= {min_size}, got {text!r}"
            )
        return (values[0], values[-1])

    return parse
