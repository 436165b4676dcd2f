"""Attention normalisations, picked by name.

Every function maps raw scores to weights along ``dim`` with ONE signature::

    fn(scores: Tensor, mask: Tensor | None, dim: int = -1) -> Tensor

so the choice of normalisation is a config value (``HMGNetConfig.attention``), not a
branch in a model. Registered names:

* ``softmax``   p_i = exp(z_i) / sum_k exp(z_k)                    (dense)
* ``sparsemax`` p = argmin_{p in simplex} ||p - z||^2              (Martins & Astudillo 2016;
  ``entmax.sparsemax``), exact zeros for z_i <= tau
* ``entmax15``  1.5-entmax (Peters et al. 2019; ``entmax.entmax15``), between the two

Masking convention: ``mask`` is boolean (or 0/1 float), broadcastable to ``scores``,
True / 1 = valid. Masked entries get weight exactly 0; a row whose entries are all
masked gets all-zero weights (not a uniform distribution, not NaN), so downstream
weighted sums over it are 0.

How the mask is applied, and why not with ``-inf``:
``entmax.sparsemax`` / ``entmax15`` sort the scores and index by the support size; a row
with ``-inf`` makes the support-size computation index -1 and raise (and softmax of an
all ``-inf`` row is NaN). All three normalisations are shift-invariant,
``f(z + c) = f(z)``, so we first subtract each row's largest *valid* score (detached: the
shift changes no output, hence no gradient), making valid scores <= 0, then write the
finite ``_MASK_FILL = -1e4`` into masked slots. That value is below every threshold that
could give it weight: sparsemax zeroes z_i < max(z) - 1, 1.5-entmax zeroes
z_i < max(z) - 2, and softmax's exp(-1e4) underflows to exactly 0 in float32
(exp(x) == 0 for x < -103.3). Finally the weights are multiplied by the mask, which is a
no-op on partially masked rows and turns all-masked rows into zeros.

All work is done in float32 with autocast disabled: sorting, cumulative sums and exp are
the numerically sensitive parts and bf16 has an 8-bit mantissa. The result is float32.
"""

from __future__ import annotations

from collections.abc import Callable

import entmax
import torch
from torch import Tensor

__all__ = ["ATTENTIONS", "AttentionFn", "get_attention", "softmax", "sparsemax", "entmax15"]

AttentionFn = Callable[..., Tensor]

# Finite fill for masked scores after the row shift (valid scores are <= 0 then);
# see the module docstring for why it is safe for all three normalisations.
_MASK_FILL = -1e4


def _prepare(scores: Tensor, mask: Tensor | None, dim: int) -> tuple[Tensor, Tensor | None]:
    """float32 scores, shifted so the max valid score per row is 0, masked slots filled."""
    z = scores.float()
    if mask is None:
        return z, None
    valid = (mask > 0) if mask.dtype != torch.bool else mask
    valid = valid.expand_as(z)
    # Largest valid score per row; rows with no valid entry get shift 0 (their output
    # is zeroed by the final mask multiply anyway).
    row_max = z.masked_fill(~valid, float("-inf")).amax(dim=dim, keepdim=True)
    row_max = torch.where(torch.isfinite(row_max), row_max, torch.zeros_like(row_max))
    z = (z - row_max.detach()).masked_fill(~valid, _MASK_FILL)
    return z, valid


def _finish(p: Tensor, valid: Tensor | None) -> Tensor:
    return p if valid is None else p * valid.to(p.dtype)


def softmax(scores: Tensor, mask: Tensor | None = None, dim: int = -1) -> Tensor:
    """Dense softmax along ``dim``; masked entries exactly 0. Returns float32."""
    with torch.autocast(device_type=scores.device.type, enabled=False):
        z, valid = _prepare(scores, mask, dim)
        return _finish(torch.softmax(z, dim=dim), valid)


def sparsemax(scores: Tensor, mask: Tensor | None = None, dim: int = -1) -> Tensor:
    """Sparsemax (Euclidean projection onto the simplex) along ``dim``. Returns float32."""
    with torch.autocast(device_type=scores.device.type, enabled=False):
        z, valid = _prepare(scores, mask, dim)
        return _finish(entmax.sparsemax(z, dim=dim), valid)


def entmax15(scores: Tensor, mask: Tensor | None = None, dim: int = -1) -> Tensor:
    """1.5-entmax along ``dim`` (sparse, smoother than sparsemax). Returns float32."""
    with torch.autocast(device_type=scores.device.type, enabled=False):
        z, valid = _prepare(scores, mask, dim)
        return _finish(entmax.entmax15(z, dim=dim), valid)


ATTENTIONS: dict[str, AttentionFn] = {
    "softmax": softmax,
    "sparsemax": sparsemax,
    "entmax15": entmax15,
}


def get_attention(name: str) -> AttentionFn:
    """Return the normalisation registered under ``name``.

    Raises:
        ValueError: unknown name; the message lists the registered names.
    """
    try:
        return ATTENTIONS[name]
    except KeyError:
        raise ValueError(f"unknown attention {name!r}; valid names: {sorted(ATTENTIONS)}") from None
