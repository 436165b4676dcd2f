"""How well an attribution map finds a known box: mass share, pointing game, baselines.

A map is (H, W) numpy, one value per pixel (higher = more relevant). Boxes are
normalised (x0, y0, x1, y1) in [0, 1] with exclusive upper edges, as ``gt_defect_box``
and ``scene_boxes`` (contracts §1): the synthetic generator writes pixel columns
[x0 W, x1 W) and rows [y0 H, y1 H).

Relevance of a pixel for localisation (``relevance``): the positive part of its
attribution summed over the colour channels, max(0, sum_c A_c), i.e. the evidence that
the pixel *raises* delta (a defect raises depreciation); ``"abs"`` uses |sum_c A_c|.

Metrics, per listing with a box, then averaged:

* **mass share** = sum_{p in box} r_p / sum_p r_p  (a map that is zero everywhere has
  share 0);
* **pointing game** (Zhang et al. 2016, https://arxiv.org/abs/1608.00507): a hit when the
  pixel of largest relevance lies inside the box grown by ``tolerance`` pixels on every
  side (default 1 px: a 1 px line's relevance can peak on the pixel next to it, since the
  patch encoder's 3 x 3 local-contrast filter responds on both sides of a line). Ties
  go to the first pixel in row-major order; a map that is zero everywhere is a miss.

Baselines, the same metrics for maps that know nothing (computed exactly, no sampling):

* **random map** (i.i.d. pixel values, uniform argmax): expected mass share = box area /
  image area (by exchangeability of the pixels, whatever their distribution), hit rate =
  area of the grown box inside the image / image area;
* **body map** (uniform over the item body, ``scene_boxes[0]``, zero elsewhere): knows
  where the item is, not where the defect is. Mass share = |box & body| / |body|, hit
  rate = |grown box & body| / |body|. A stronger bar than the random map, since every
  defect lies on the body.

``random_map_baseline`` simulates random maps with a seed to check the closed forms.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "LocalizationSummary",
    "body_baseline",
    "box_mask",
    "box_pixels",
    "localization_summary",
    "mass_share",
    "pointing_hit",
    "random_baseline",
    "random_map_baseline",
    "relevance",
]

# snaps 0.1 * 48 = 4.800000000000001 to pixel 5, not 4 / 6
_EPS = 1e-6


def relevance(pixel_map: np.ndarray, mode: str = "positive") -> np.ndarray:
    """Signed per-pixel attribution (..., H, W) -> relevance >= 0 (see the module docstring)."""
    if mode == "positive":
        return np.maximum(pixel_map, 0.0)
    if mode == "abs":
        return np.abs(pixel_map)
    raise ValueError(f"unknown relevance mode {mode!r}; valid: 'positive', 'abs'")


def box_pixels(box: Sequence[float], h: int, w: int, tolerance: int = 0) -> tuple[int, ...]:
    """Normalised box -> pixel bounds (c0, r0, c1, r1), exclusive ends, grown by ``tolerance``
    px and clipped to the image. A box smaller than a pixel still covers the pixel it is in."""
    x0, y0, x1, y1 = (float(v) for v in box)
    c0, r0 = math.floor(x0 * w + _EPS), math.floor(y0 * h + _EPS)
    c1 = max(c0 + 1, math.ceil(x1 * w - _EPS))
    r1 = max(r0 + 1, math.ceil(y1 * h - _EPS))
    t = int(tolerance)
    return max(0, c0 - t), max(0, r0 - t), min(w, c1 + t), min(h, r1 + t)


def box_mask(box: Sequence[float], shape: tuple[int, int], tolerance: int = 0) -> np.ndarray:
    """(H, W) bool, True inside the box (grown by ``tolerance`` px)."""
    h, w = shape
    c0, r0, c1, r1 = box_pixels(box, h, w, tolerance)
    m = np.zeros((h, w), dtype=bool)
    m[r0:r1, c0:c1] = True
    return m


def mass_share(rel: np.ndarray, box: Sequence[float]) -> float:
    """Share of the relevance (H, W), >= 0, that lies inside ``box``; 0 for an all-zero map."""
    if (rel < 0).any():
        raise ValueError("mass_share needs a relevance map >= 0 (see relevance())")
    total = float(rel.sum())
    if total <= 0.0:
        return 0.0
    return float(rel[box_mask(box, rel.shape)].sum()) / total


def pointing_hit(rel: np.ndarray, box: Sequence[float], tolerance: int = 1) -> bool:
    """True if the most relevant pixel lies inside ``box`` grown by ``tolerance`` px."""
    if not (rel.max() > 0):
        return False
    r, c = np.unravel_index(int(np.argmax(rel)), rel.shape)
    return bool(box_mask(box, rel.shape, tolerance)[r, c])


def random_baseline(box: Sequence[float], shape: tuple[int, int], tolerance: int = 1):
    """(expected mass share, hit rate) of an i.i.d. random map, exactly."""
    n = shape[0] * shape[1]
    return box_mask(box, shape).sum() / n, box_mask(box, shape, tolerance).sum() / n


def body_baseline(
    box: Sequence[float], body: Sequence[float], shape: tuple[int, int], tolerance: int = 1
):
    """(mass share, hit rate) of a map uniform over the body box, zero elsewhere."""
    bm = box_mask(body, shape)
    n = bm.sum()
    share = (box_mask(box, shape) & bm).sum() / n
    hit = (box_mask(box, shape, tolerance) & bm).sum() / n
    return float(share), float(hit)


def random_map_baseline(
    boxes: Sequence[Sequence[float]],
    shape: tuple[int, int],
    *,
    tolerance: int = 1,
    draws: int = 20,
    seed: int = 0,
) -> tuple[float, float]:
    """Monte-Carlo (mean mass share, hit rate) of i.i.d. U(0, 1) maps, ``draws`` per box."""
    rng = np.random.default_rng(seed)
    shares, hits = [], []
    for box in boxes:
        for _ in range(draws):
            m = rng.random(shape)
            shares.append(mass_share(m, box))
            hits.append(pointing_hit(m, box, tolerance))
    return float(np.mean(shares)), float(np.mean(hits))


class LocalizationSummary(dict):
    """Per group (``all``, ``obvious``, ``subtle``): a dict of the metrics below.

    ``n`` listings; ``mass_share`` and its standard error ``mass_share_se``;
    ``random_mass_share``; ``body_mass_share``; ``hit_rate`` (pointing game) with its
    standard error ``hit_rate_se``; ``random_hit_rate``; ``body_hit_rate``;
    ``mass_ratio`` = mass_share / random_mass_share. NaN where a group is empty.
    """


def _se(x: np.ndarray) -> float:
    return float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else float("nan")


def localization_summary(
    rel_maps: np.ndarray,
    boxes: Sequence[Sequence[float]],
    subtle: Sequence[bool],
    bodies: Sequence[Sequence[float]] | None = None,
    *,
    tolerance: int = 1,
) -> LocalizationSummary:
    """Localisation metrics of ``rel_maps`` (N, H, W) >= 0 against ``boxes`` (N boxes),
    overall and split by ``subtle`` (N,); ``bodies`` (N body boxes) adds the body baseline.
    """
    rel_maps = np.asarray(rel_maps)
    n, h, w = rel_maps.shape
    if len(boxes) != n or len(subtle) != n or (bodies is not None and len(bodies) != n):
        raise ValueError("rel_maps, boxes, subtle (and bodies) need one entry per listing")
    share = np.array([mass_share(m, b) for m, b in zip(rel_maps, boxes, strict=True)])
    hit = np.array([pointing_hit(m, b, tolerance) for m, b in zip(rel_maps, boxes, strict=True)])
    rnd = np.array([random_baseline(b, (h, w), tolerance) for b in boxes]).reshape(n, 2)
    body = (
        np.array(
            [body_baseline(b, bb, (h, w), tolerance) for b, bb in zip(boxes, bodies, strict=True)]
        ).reshape(n, 2)
        if bodies is not None
        else np.full((n, 2), np.nan)
    )
    subtle = np.asarray(subtle, dtype=bool)
    out = LocalizationSummary()
    for group, sel in (("all", np.ones(n, bool)), ("obvious", ~subtle), ("subtle", subtle)):
        k = int(sel.sum())
        if k == 0:
            out[group] = {"n": 0} | {
                key: float("nan")
                for key in (
                    "mass_share",
                    "mass_share_se",
                    "random_mass_share",
                    "body_mass_share",
                    "mass_ratio",
                    "hit_rate",
                    "hit_rate_se",
                    "random_hit_rate",
                    "body_hit_rate",
                )
            }
            continue
        ms, rs = float(share[sel].mean()), float(rnd[sel, 0].mean())
        out[group] = {
            "n": k,
            "mass_share": ms,
            "mass_share_se": _se(share[sel]),
            "random_mass_share": rs,
            "body_mass_share": float(body[sel, 0].mean()),
            "mass_ratio": ms / rs if rs > 0 else float("nan"),
            "hit_rate": float(hit[sel].mean()),
            "hit_rate_se": _se(hit[sel].astype(float)),
            "random_hit_rate": float(rnd[sel, 1].mean()),
            "body_hit_rate": float(body[sel, 1].mean()),
        }
    return out
