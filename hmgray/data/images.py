"""Encoded images (PNG/JPEG bytes in the shards) -> uint8 RGB arrays, for every family."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from hmgray.errors import DataError

__all__ = ["decode_image", "encode_png"]


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
