"""Encoded images (PNG/JPEG bytes in the shards) -> uint8 RGB arrays, for every family."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from hmgray.errors import DataError

__all__ = ["decode_image", "decode_images", "encode_png"]


def decode_image(data: bytes, size: tuple[int, int], where: str) -> np.ndarray:
    """Decode one encoded image to uint8 (H, W, 3) RGB, resized (bilinear) to ``size`` =
    (H, W). Undecodable bytes raise ``DataError`` starting with ``where`` (the row)."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.mode != "RGB":  # PNG from our generators is RGB already: skip the copy
                img = img.convert("RGB")
            if img.size != (size[1], size[0]):  # PIL sizes are (width, height)
                img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            return np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(f"{where}: column 'image' cannot be decoded ({e})") from e


def encode_png(pixels: np.ndarray) -> bytes:
    """uint8 (H, W, 3) RGB -> PNG bytes (lossless, so a decode gives the pixels back)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def decode_images(table, size: tuple[int, int]) -> np.ndarray:
    """The ``image`` column of a shard table decoded to uint8 (B, H, W, 3) at ``size``;
    an undecodable image's error names its ``sample_id``."""
    ids = table.column("sample_id").to_pylist()
    out = np.empty((table.num_rows, *size, 3), dtype=np.uint8)
    for i, data in enumerate(table.column("image").to_pylist()):
        out[i] = decode_image(data, size, f"sample_id {ids[i]}")
    return out
