"""Arrow list columns -> padded numpy arrays, without per-row Python loops."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["as_array", "pad_lists"]


def as_array(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def pad_lists(arr: pa.Array, width: int, pad, dtype) -> tuple[np.ndarray, np.ndarray]:
    """(B, width) array of the first ``width`` items of each list (``pad`` after), and lengths.

    Uses ``arr.offsets`` (absolute positions into ``arr.values``), which is correct for
    sliced arrays as well.
    """
    arr = as_array(arr)
    offsets = arr.offsets.to_numpy()
    lengths = np.diff(offsets)  # (B,)
    values = arr.values.to_numpy(zero_copy_only=False)
    cols = np.arange(width)
    mask = cols[None, :] < lengths[:, None]  # (B, width)
    out = np.full((len(arr), width), pad, dtype=dtype)
    if values.size:
        idx = offsets[:-1, None] + cols[None, :]  # (B, width)
        out[mask] = values[idx[mask]]
    return out, lengths
