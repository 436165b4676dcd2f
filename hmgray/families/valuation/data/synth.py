"""Synthetic second-hand listings with planted multi-granularity price information.

This docstring is the ground truth behind the granularity-ablation claims. Every number
below is a ``SynthParams`` default; the test suite (tests/families/valuation/data/test_synth_proofs.py)
proves each planted property on generated data.

Catalog. 12 item models in 4 categories (``ITEM_MODELS``): phones (Pixel 7a 499, Galaxy
S23 799, iPhone 14 Pro 999), cameras (Canon EOS R50 679, Fujifilm X-T30 899, Sony A7 III
1199), headphones (JBL Tune 760NC 149, Bose QC45 329, Sony WH-1000XM5 399), consoles
(Nintendo Switch OLED 349, Xbox Series S 299, PlayStation 5 499); MSRP in currency units.
Each has a body colour and two part kinds (phone: case, charger; camera: strap, lens cap;
headphones: case, cable; console: controller, stand). 8 US locations with (lat, lon)
(``LOCATIONS``); 6 periods of 30 days from 2024-01-01 UTC. Item model, location and
timestamp are drawn uniformly and independently.

Image (48 x 48 RGB PNG; the model cuts it into a 6 x 6 grid of 8 x 8 patches). The layout
lives on that grid so that a bag of patches cannot see relative positions:

* background: grey level U(0.70, 0.85) with a per-channel tint N(0, 0.015);
* body: a ``bw x bh`` rectangle, bw, bh ~ U{14..16} px, inside a 2 x 2 block of cells
  (cell position uniform over the positions that leave room for the canonical part places,
  pixel jitter inside the block), item-model colour faded by wear (below);
* parts: two rectangles of 4..6 px (size per part kind), each inside one cell, uniform
  pixel jitter inside the cell. Part slot A sits canonically beside the body (2 or 3
  cells right/left), slot B above/below it; the canonical offset is per part KIND
  (``PART_OFFSETS``, e.g. a case always 3 cells right of the body block), so whether a
  part is in place can be read from the scene graph alone (label + relative position);
* lighting: additive low-frequency shading 0.04 cos(2 pi f (x cos th + y sin th) / 48 +
  phi), f ~ U(0.25, 0.6) cycles per image, th, phi ~ U(0, 2 pi) (stationary: the same
  distribution at every pixel), then pixel noise N(0, 0.02) per channel, clip to [0, 1].

Planted depreciation ``delta`` (price = MSRP * (1 - delta), rounded to cents):

* Global (Level 0): wear w ~ U(0, 1). The body colour is desaturated towards its own
  luminance by 0.7 w (luminance unchanged). The description states a condition word
  ("like new" w < 0.25, "good" < 0.5, "fair" < 0.75, "worn") with prob 0.7.
  ``delta_wear = 0.06 + 0.25 w``.
* Micro (Level 1): with prob 0.6 a defect (scratch: straight line; crack: diagonal line;
  dent: square blob) at a uniform place on the body, >= 2 px from its edges. Half are
  subtle (1 px wide, 4-5 px long, dent 2 x 2; contrast 0.12-0.18), the rest obvious (2 px
  wide, 6-9 px long, dent 4 x 4; contrast 0.30-0.45). Defects darken bodies whose luminance
  is >= 0.5 and lighten the others. ``delta_defect ~ U(0.15, 0.25)`` with a defect, else 0,
  independent of subtlety. The description mentions the defect with prob 0.35 ("tiny
  scratch near the top left corner"); independently, with prob 0.3, it holds a distractor
  that is not a defect ("no scratches on the screen", "scratch-resistant glass").
* Meso (Level 2): each part is detached / misplaced independently with prob 0.2. An
  attached part sits at its canonical cell; a detached one at a uniform cell of the same
  ring around the body (Chebyshev cell distance exactly 2 from the 2 x 2 body block, like
  every canonical cell) that is >= 2 cells from its canonical cell and from the other part.
  In BOTH cases >= 8 px (one patch) of background separates any two objects, no patch
  holds two objects, and the patch contents (4 body cells, 2 part cells, 30 background
  cells, same jitter distributions) have the same distribution: only the relative
  position differs. The one residual coupling is the smooth shading sampled at the
  objects' places, which depends on their distance; keeping detached parts in the same
  ring makes it negligible (an oracle that knows the exact body/part pixels reaches AUC
  ~0.52 for detachment from it, vs 0.49 without shading). Scene regions: body (label 0)
  then part A, part B (label 1 + part kind index), always present. With prob 0.3 per part
  the description states the relation ("strap attached to the body" / "lens cap detached
  from the body"). ``delta_struct = 0.15 * (number of detached parts)``.
* Market (full): m(l, t) = 0.55 a_l + 0.30 tau_t + 0.15 a_l tau_t in [-1, 1], with the
  location effect a_l = tanh((lon_l - mean lon) / std lon) (an east-west gradient over the
  8 locations) and the time trend tau_t = 2 t / (T - 1) - 1. ``delta_market = 0.08 m``.
  Location and period are independent of everything else, so only the market graph
  carries it.
* Noise: N(0, 0.015). ``delta = clip(sum of the above + noise, 0, 0.95)``.

All parts are stored as ``gt_*`` columns (see ``hmgray.families.valuation.data.schema``).

Descriptions: short phrases in random order, each its own dependency tree (``text_heads``,
-1 = root): the item phrase ("selling my Sony A7 III"), the optional condition, defect,
distractor and relation phrases, and 0-2 fillers ("ships fast", "original box
included"). Phrases are capitalised and joined with ". ".

Determinism: one ``numpy.random.SeedSequence(seed)`` spawns independent streams for
latents, layout, text and pixels; identical (n, seed, params) give identical tables,
including the PNG bytes. 1% of listings have no image (null), to exercise that path.
Splits: a seeded permutation, 70 / 15 / 15 % train / val / test.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import io
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from PIL import Image

from hmgray.data.shards import Manifest
from hmgray.errors import ConfigError
from hmgray.families.valuation.data.listing_shards import write_listing_shards
from hmgray.families.valuation.data.market import build_market
from hmgray.families.valuation.data.schema import GT_FIELDS, listing_schema

__all__ = [
    "DATASET_NAME",
    "ITEM_MODELS",
    "LOCATIONS",
    "PART_KINDS",
    "PART_OFFSETS",
    "SynthParams",
    "generate_valuation",
    "market_value",
    "write_synthetic_valuation",
]

DATASET_NAME = "synthetic-valuation"


@dataclass(frozen=True)
class ItemModel:
    """Catalog entry. ``offset_a`` / ``offset_b``: canonical cell of part slot A / B relative
    to the body block's top-left cell, (dx, dy) in cells (A beside, B above/below); they are
    ``PART_OFFSETS`` of the two part kinds."""

    name: str
    category: str
    msrp: float
    colour: tuple[float, float, float]
    parts: tuple[str, str]
    offset_a: tuple[int, int]
    offset_b: tuple[int, int]


# part kind -> (colour, (width, height) px). Every side is >= 4 px so that no part looks
# like a thin line to a local detector (a line detector with reach 2 px fires on <= 3 px).
PARTS = {
    "case": ((0.15, 0.15, 0.18), (5, 6)),
    "charger": ((0.95, 0.95, 0.95), (4, 5)),
    "strap": ((0.45, 0.28, 0.15), (6, 4)),
    "lens cap": ((0.08, 0.08, 0.08), (4, 4)),
    "cable": ((0.90, 0.90, 0.55), (5, 4)),
    "controller": ((0.97, 0.97, 0.99), (6, 4)),
    "stand": ((0.55, 0.55, 0.58), (6, 5)),
}
PART_KINDS = tuple(PARTS)  # scene label of a part = 1 + index here

# Canonical cell of each part kind relative to the body block's top-left cell, (dx, dy) in
# cells: slot-A kinds sit beside the body, slot-B kinds above/below it. The offset belongs
# to the part KIND (the scene label), not to the item model, so "is this part where it
# belongs?" is a function of what the scene graph itself holds (region label + relative
# position); with per-item-model offsets the scene graph alone could not tell an attached
# part from a detached one without first recognising the item model from the text.
PART_OFFSETS = {
    "case": (3, 0),
    "strap": (-2, 1),
    "controller": (3, 1),
    "charger": (0, 3),
    "lens cap": (1, -2),
    "cable": (1, 3),
    "stand": (0, -2),
}

_PHONE, _CAMERA = ("case", "charger"), ("strap", "lens cap")
_HEADPHONES, _CONSOLE = ("case", "cable"), ("controller", "stand")


def _item(name: str, category: str, msrp: float, colour, parts: tuple[str, str]) -> ItemModel:
    return ItemModel(
        name, category, msrp, colour, parts, PART_OFFSETS[parts[0]], PART_OFFSETS[parts[1]]
    )


ITEM_MODELS = (
    _item("Pixel 7a", "phone", 499.0, (0.25, 0.45, 0.80), _PHONE),
    _item("Galaxy S23", "phone", 799.0, (0.55, 0.30, 0.65), _PHONE),
    _item("iPhone 14 Pro", "phone", 999.0, (0.70, 0.55, 0.20), _PHONE),
    _item("Canon EOS R50", "camera", 679.0, (0.75, 0.25, 0.20), _CAMERA),
    _item("Fujifilm X-T30", "camera", 899.0, (0.30, 0.60, 0.35), _CAMERA),
    _item("Sony A7 III", "camera", 1199.0, (0.20, 0.55, 0.60), _CAMERA),
    _item("JBL Tune 760NC", "headphones", 149.0, (0.85, 0.45, 0.10), _HEADPHONES),
    _item("Bose QC45", "headphones", 329.0, (0.35, 0.35, 0.70), _HEADPHONES),
    _item("Sony WH-1000XM5", "headphones", 399.0, (0.60, 0.60, 0.25), _HEADPHONES),
    _item("Nintendo Switch OLED", "console", 349.0, (0.80, 0.20, 0.35), _CONSOLE),
    _item("Xbox Series S", "console", 299.0, (0.35, 0.65, 0.20), _CONSOLE),
    _item("PlayStation 5", "console", 499.0, (0.45, 0.25, 0.75), _CONSOLE),
)

LOCATIONS = (  # name, (lat, lon) degrees
    ("Seattle", (47.61, -122.33)),
    ("San Francisco", (37.77, -122.42)),
    ("Los Angeles", (34.05, -118.24)),
    ("Denver", (39.74, -104.99)),
    ("Austin", (30.27, -97.74)),
    ("Chicago", (41.88, -87.63)),
    ("Atlanta", (33.75, -84.39)),
    ("New York", (40.71, -74.01)),
)

LUMA = np.array([0.299, 0.587, 0.114])
DEFECT_KINDS = ("scratch", "crack", "dent")
CONDITION_WORDS = ("like new", "good", "fair", "worn")  # by wear quartile
SUBTLE_ADJ = ("tiny", "faint", "hairline")
OBVIOUS_ADJ = ("deep", "big", "noticeable")
# (words, heads) with heads local to the phrase, -1 = root
DISTRACTORS = (
    (["no", "scratches", "on", "the", "screen"], [1, -1, 4, 4, 1]),
    (["scratch-resistant", "glass"], [1, -1]),
    (["never", "dropped", "or", "cracked"], [1, -1, 3, 1]),
    (["free", "of", "dents", "and", "cracks"], [-1, 2, 0, 4, 2]),
    (["no", "dents"], [1, -1]),
)
FILLERS = (
    (["ships", "fast"], [-1, 0]),
    (["original", "box", "included"], [1, -1, 1]),
    (["smoke", "free", "home"], [1, 2, -1]),
    (["price", "is", "firm"], [2, 2, -1]),
    (["pickup", "possible"], [-1, 0]),
    (["no", "returns"], [1, -1]),
)


@dataclass(frozen=True)
class SynthParams:
    """Knobs of the generator (defaults = the documented planted process).

    Probabilities are per listing unless stated; deltas are fractions of the MSRP.
    """

    # image and layout
    image_size: int = 48  # px, square; must be 6 patches of `patch_size`
    patch_size: int = 8  # px; the layout grid, equal to the model's patch size
    body_size: tuple[int, int] = (14, 16)  # min, max body side in px (fits a 2 x 2 cell block)
    background: tuple[float, float] = (0.70, 0.85)  # grey level range of the background
    shading_amplitude: float = 0.04  # additive low-frequency lighting, in [0, 1] pixel units
    shading_cycles: tuple[float, float] = (0.25, 0.6)  # spatial frequency, cycles per image
    pixel_noise: float = 0.02  # sd of per-pixel, per-channel Gaussian noise
    p_image_missing: float = 0.01  # image column null
    # Level 0: wear
    wear_base: float = 0.06  # a in delta_wear = a + b w
    wear_slope: float = 0.25  # b
    wear_fade: float = 0.7  # desaturation of the body colour at w = 1
    p_condition_text: float = 0.7
    # Level 1: localized defects
    p_defect: float = 0.6
    p_subtle: float = 0.5  # fraction of defects that are subtle
    defect_delta: tuple[float, float] = (0.15, 0.25)  # U(low, high) when there is a defect
    subtle_contrast: tuple[float, float] = (0.12, 0.18)
    obvious_contrast: tuple[float, float] = (0.30, 0.45)
    p_defect_text: float = 0.35  # the description mentions the defect
    p_distractor: float = 0.3  # a defect-like phrase that is not a defect
    # Level 2: part relations
    p_detached: float = 0.2  # per part
    struct_delta: float = 0.15  # per detached part
    p_relation_text: float = 0.3  # per part: the description states attached/detached
    # full: market
    gamma_market: float = 0.08  # delta_market = gamma * m(location, period)
    num_periods: int = 6
    period_days: int = 30
    start_date: str = "2024-01-01"  # UTC, first day of period 0
    # noise and target
    noise_sd: float = 0.015
    delta_max: float = 0.95
    max_fillers: int = 2
    split_fractions: tuple[float, float, float] = (0.70, 0.15, 0.15)  # train, val, test

    def validate(self) -> None:
        if self.image_size != 6 * self.patch_size:
            raise ConfigError(
                f"SynthParams.image_size={self.image_size} must be 6 * patch_size "
                f"({self.patch_size}): the layout is a 6 x 6 cell grid"
            )
        lo, hi = self.body_size
        if not (self.patch_size < lo <= hi <= 2 * self.patch_size):
            raise ConfigError(
                f"SynthParams.body_size={self.body_size} must lie in ({self.patch_size}, "
                f"{2 * self.patch_size}] so the body fills exactly a 2 x 2 cell block"
            )
        if max(max(s) for _, s in PARTS.values()) > self.patch_size:
            raise ConfigError("SynthParams.patch_size is smaller than a part")
        if abs(sum(self.split_fractions) - 1.0) > 1e-9:
            raise ConfigError(f"SynthParams.split_fractions={self.split_fractions} must sum to 1")
        for name in (
            "p_image_missing",
            "p_condition_text",
            "p_defect",
            "p_subtle",
            "p_defect_text",
            "p_distractor",
            "p_detached",
            "p_relation_text",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"SynthParams.{name}={getattr(self, name)} must be in [0, 1]")
        if self.num_periods < 2 or self.period_days < 1:
            raise ConfigError("SynthParams.num_periods must be >= 2 and period_days >= 1")


def market_value(location_id: np.ndarray, period: np.ndarray, num_periods: int) -> np.ndarray:
    """m(l, t) = 0.55 a_l + 0.30 tau_t + 0.15 a_l tau_t, in [-1, 1] (see module docstring)."""
    lon = np.array([c[1] for _, c in LOCATIONS])
    a = np.tanh((lon - lon.mean()) / lon.std())  # (num_locations,) in (-1, 1)
    tau = 2.0 * np.asarray(period, dtype=np.float64) / (num_periods - 1) - 1.0
    a_l = a[np.asarray(location_id)]
    return 0.55 * a_l + 0.30 * tau + 0.15 * a_l * tau


# ----------------------------------------------------------------------------- text


def _noun(words: list[str]) -> tuple[list[str], list[int]]:
    """A compound noun phrase: every word depends on the last one, which is the root."""
    k = len(words)
    return list(words), [k - 1] * (k - 1) + [-1]


def _attach(base: tuple[list[str], list[int]], extra: list[str], heads: list[int]):
    """Append ``extra`` words whose heads are given relative to the combined phrase."""
    return base[0] + extra, base[1] + heads


def _item_phrase(name: str, template: int):
    w, h = _noun(name.split())
    k = len(w)
    if template == 0:  # selling my <M>: selling root, my -> M, M -> selling
        return ["selling", "my", *w], [-1, k + 1] + [x + 2 if x >= 0 else 0 for x in h]
    if template == 1:  # <M> for sale
        return _attach((w, h), ["for", "sale"], [k + 1, k - 1])
    return ["used", *w], [k] + [x + 1 if x >= 0 else -1 for x in h]  # used <M>


def _condition_phrase(word: str, template: int):
    cw = word.split()
    if template == 0:  # <cond> condition
        k = len(cw)
        return [*cw, "condition"], [i + 1 for i in range(k)] + [-1]
    # condition <cond>: the last condition word depends on "condition", earlier ones on it
    k = len(cw)
    return ["condition", *cw], [-1] + [k] * (k - 1) + [0]


def _region_words(cx: float, cy: float) -> list[str]:
    """Where on the body, from the defect centre relative to the body (each in [-1, 1])."""
    v = "top" if cy < -0.33 else "bottom" if cy > 0.33 else ""
    h = "left" if cx < -0.33 else "right" if cx > 0.33 else ""
    if v and h:
        return [v, h, "corner"]
    if v:
        return [v, "edge"]
    if h:
        return [h, "side"]
    return ["center"]


def _defect_phrase(adj: str, kind: str, region: list[str]):
    # <adj> <kind> near the <region>: kind root, region's last word -> kind
    r, rh = _noun(region)
    last = 4 + len(r) - 1
    heads = [1, -1, last, last] + [x + 4 if x >= 0 else 1 for x in rh]
    return [adj, kind, "near", "the", *r], heads


def _relation_phrase(part: str, detached: bool, template: int):
    p = _noun(part.split())
    k = len(p[0])
    if not detached and template == 0:  # <P> attached to the body
        return _attach(p, ["attached", "to", "the", "body"], [k - 1, k + 3, k + 3, k])
    if not detached:  # <P> firmly attached
        return _attach(p, ["firmly", "attached"], [k + 1, k - 1])
    if template == 0:  # <P> detached from the body
        return _attach(p, ["detached", "from", "the", "body"], [k - 1, k + 3, k + 3, k])
    return _attach(p, ["misplaced"], [k - 1])  # <P> misplaced


def _join_phrases(phrases: list[tuple[list[str], list[int]]]) -> tuple[str, list[int]]:
    """Description text and global heads; each phrase is capitalised and ends with '.'."""
    texts, heads, offset = [], [], 0
    for words, h in phrases:
        s = " ".join(words)
        # capitalise the phrase, but leave brand spellings such as "iPhone" alone
        texts.append(s if s[1:2].isupper() else s[0].upper() + s[1:])
        heads.extend(x + offset if x >= 0 else -1 for x in h)
        offset += len(words)
    return ". ".join(texts) + ".", heads


# ----------------------------------------------------------------------------- layout


def _cheb_to_block(cell: tuple[int, int], block: tuple[int, int]) -> int:
    """Chebyshev cell distance from ``cell`` to the 2 x 2 block with top-left ``block``."""
    dx = max(block[0] - cell[0], 0, cell[0] - (block[0] + 1))
    dy = max(block[1] - cell[1], 0, cell[1] - (block[1] + 1))
    return max(dx, dy)


def _cheb(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(abs(a[0] - b[0]), abs(a[1] - b[1]))


def _detached_cells(block, own_canon, others, grid) -> list[tuple[int, int]]:
    """Allowed cells of a detached part: the ring at distance 2 from the body block (where
    every canonical cell lies), >= 2 from its own canonical cell and from ``others``."""
    return [
        (x, y)
        for y in range(grid)
        for x in range(grid)
        if _cheb_to_block((x, y), block) == 2
        and _cheb((x, y), own_canon) >= 2
        and all(_cheb((x, y), o) >= 2 for o in others)
    ]


def _place_parts(block, canon, detached, u, grid):
    """Cells of the two parts: attached at their canonical cell; detached uniformly (draw
    ``u`` in [0, 1)) among ``_detached_cells``, avoiding the parts placed before."""
    cells = [canon[j] if not detached[j] else None for j in range(2)]
    for j in range(2):
        if cells[j] is not None:
            continue
        cand = _detached_cells(block, canon[j], [c for c in cells if c is not None], grid)
        if not cand:  # cannot happen with the catalog's offsets; guarded for custom ones
            raise ConfigError(
                f"no cell left for a detached part (block {block}, canonical {canon})"
            )
        cells[j] = cand[int(u[j] * len(cand))]
    return cells


def _defect_pixels(kind: str, subtle: bool, r: np.random.Generator) -> np.ndarray:
    """(k, 2) integer (dy, dx) offsets of the defect pixels, min at 0."""
    if kind == "dent":
        s = 2 if subtle else 4
        yy, xx = np.mgrid[0:s, 0:s]
        return np.stack([yy.ravel(), xx.ravel()], 1)
    length = int(r.integers(4, 6)) if subtle else int(r.integers(6, 10))
    width = 1 if subtle else 2
    t = np.arange(length)
    if kind == "scratch":
        line = np.stack([np.zeros(length, int), t], 1)  # horizontal
        pix = np.concatenate([line + [w, 0] for w in range(width)])
        if r.random() < 0.5:
            pix = pix[:, ::-1]  # vertical
        return pix
    step = 1 if r.random() < 0.5 else -1  # crack: diagonal down-right or down-left
    line = np.stack([t, t * step], 1)
    pix = np.concatenate([line + [0, w] for w in range(width)])
    return pix - pix.min(0)


# ----------------------------------------------------------------------------- generator


def _encode_png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def generate_valuation(
    n: int, seed: int, params: SynthParams = SynthParams()
) -> dict[str, pa.Table]:
    """Generate ``n`` listings; returns ``{"train", "val", "test"}`` tables (schema + gt_*).

    Deterministic in (n, seed, params). Listing ids are ``syn-s{seed}-{i:06d}``.
    """
    params.validate()
    if n < 3:
        raise ConfigError(f"generate_valuation: n must be >= 3 (one row per split), got {n}")
    p = params
    S, P = p.image_size, p.patch_size
    grid = S // P
    r_lat, r_lay, r_txt, r_pix = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)
    )

    # ---- latents (vectorised)
    n_items, n_locs = len(ITEM_MODELS), len(LOCATIONS)
    item = r_lat.integers(0, n_items, n)
    loc = r_lat.integers(0, n_locs, n)
    span = p.num_periods * p.period_days * 86400
    secs = r_lat.integers(0, span, n)
    period = secs // (p.period_days * 86400)
    wear = r_lat.random(n)
    has_defect = r_lat.random(n) < p.p_defect
    subtle = has_defect & (r_lat.random(n) < p.p_subtle)
    defect_kind = r_lat.integers(0, len(DEFECT_KINDS), n)
    defect_sev = np.where(has_defect, r_lat.uniform(*p.defect_delta, n), 0.0)
    contrast_u = r_lat.random(n)  # position of the contrast in its (subtle/obvious) range
    detached = r_lat.random((n, 2)) < p.p_detached
    noise = r_lat.normal(0.0, p.noise_sd, n)
    image_missing = r_lat.random(n) < p.p_image_missing
    m = market_value(loc, period, p.num_periods)

    d_wear = p.wear_base + p.wear_slope * wear
    d_defect = defect_sev
    n_detached = detached.sum(1)
    d_struct = p.struct_delta * n_detached
    d_market = p.gamma_market * m
    delta = np.clip(d_wear + d_defect + d_struct + d_market + noise, 0.0, p.delta_max)
    msrp = np.array([ITEM_MODELS[i].msrp for i in item])
    price = np.round(msrp * (1.0 - delta), 2)

    # ---- layout (per listing, small integer work)
    bw = r_lay.integers(p.body_size[0], p.body_size[1] + 1, n)
    bh = r_lay.integers(p.body_size[0], p.body_size[1] + 1, n)
    u_block = r_lay.random((n, 2))
    u_jit = r_lay.random((n, 2))
    u_detached = r_lay.random((n, 2))
    u_part_jit = r_lay.random((n, 2, 2))
    body = np.zeros((n, 4), np.int64)  # x0, y0, w, h px
    parts = np.zeros((n, 2, 4), np.int64)
    for i in range(n):
        im = ITEM_MODELS[item[i]]
        canon_off = (im.offset_a, im.offset_b)
        lo = [max(0, *(-o[a] for o in canon_off)) for a in range(2)]
        hi = [min(grid - 2, *(grid - 1 - o[a] for o in canon_off)) for a in range(2)]
        block = tuple(int(lo[a] + u_block[i, a] * (hi[a] - lo[a] + 1)) for a in range(2))
        size = (int(bw[i]), int(bh[i]))
        jit = [int(u_jit[i, a] * (2 * P - size[a] + 1)) for a in range(2)]
        body[i] = (block[0] * P + jit[0], block[1] * P + jit[1], size[0], size[1])
        canon = [(block[0] + o[0], block[1] + o[1]) for o in canon_off]
        cells = _place_parts(block, canon, detached[i], u_detached[i], grid)
        for j, kind in enumerate(im.parts):
            pw, ph = PARTS[kind][1]
            jx = int(u_part_jit[i, j, 0] * (P - pw + 1))
            jy = int(u_part_jit[i, j, 1] * (P - ph + 1))
            parts[i, j] = (cells[j][0] * P + jx, cells[j][1] * P + jy, pw, ph)

    # defects: pixel offsets and position on the body (>= 2 px from its edges)
    defect_px: list[np.ndarray | None] = [None] * n
    defect_box = [None] * n
    for i in np.flatnonzero(has_defect):
        pix = _defect_pixels(DEFECT_KINDS[defect_kind[i]], bool(subtle[i]), r_lay)
        ext = pix.max(0) + 1  # (dy, dx) extent
        x0, y0, w, h = body[i]
        oy = 2 + int(r_lay.integers(0, h - 4 - ext[0] + 1))
        ox = 2 + int(r_lay.integers(0, w - 4 - ext[1] + 1))
        pix = pix + [y0 + oy, x0 + ox]
        defect_px[i] = pix
        ymin, xmin = pix.min(0)
        ymax, xmax = pix.max(0) + 1
        defect_box[i] = [xmin / S, ymin / S, xmax / S, ymax / S]

    # ---- text
    descriptions, text_heads = [], []
    cond_mentioned = r_txt.random(n) < p.p_condition_text
    defect_mentioned = has_defect & (r_txt.random(n) < p.p_defect_text)
    has_distractor = r_txt.random(n) < p.p_distractor
    rel_mentioned = r_txt.random((n, 2)) < p.p_relation_text
    for i in range(n):
        im = ITEM_MODELS[item[i]]
        phrases = [_item_phrase(im.name, int(r_txt.integers(0, 3)))]
        if cond_mentioned[i]:
            word = CONDITION_WORDS[min(int(wear[i] * 4), 3)]
            phrases.append(_condition_phrase(word, int(r_txt.integers(0, 2))))
        if defect_mentioned[i]:
            adjs = SUBTLE_ADJ if subtle[i] else OBVIOUS_ADJ
            adj = adjs[int(r_txt.integers(0, len(adjs)))]
            x0, y0, w, h = body[i]
            cy, cx = defect_px[i].mean(0)
            region = _region_words((cx - x0 - w / 2) / (w / 2), (cy - y0 - h / 2) / (h / 2))
            phrases.append(_defect_phrase(adj, DEFECT_KINDS[defect_kind[i]], region))
        if has_distractor[i]:
            phrases.append(DISTRACTORS[int(r_txt.integers(0, len(DISTRACTORS)))])
        for j in range(2):
            if rel_mentioned[i, j]:
                phrases.append(
                    _relation_phrase(im.parts[j], bool(detached[i, j]), int(r_txt.integers(0, 2)))
                )
        n_fill = int(r_txt.integers(0, p.max_fillers + 1))
        for k in r_txt.choice(len(FILLERS), size=n_fill, replace=False):
            phrases.append(FILLERS[int(k)])
        order = r_txt.permutation(len(phrases))
        text, heads = _join_phrases([phrases[k] for k in order])
        descriptions.append(text)
        text_heads.append(heads)

    # ---- pixels (vectorised per chunk; objects painted per listing)
    images: list[bytes | None] = [None] * n
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float64) + 0.5  # pixel centres
    colours = np.array([im.colour for im in ITEM_MODELS])  # (items, 3)
    grey = colours @ LUMA  # (items,) luminance
    chunk = 512
    for start in range(0, n, chunk):
        idx = np.arange(start, min(n, start + chunk))
        c = len(idx)
        base = r_pix.uniform(*p.background, (c, 1, 1, 1)) + r_pix.normal(0, 0.015, (c, 1, 1, 3))
        canvas = np.broadcast_to(base, (c, S, S, 3)).copy()  # (C, S, S, 3)
        freq = r_pix.uniform(*p.shading_cycles, c)
        theta = r_pix.uniform(0, 2 * np.pi, c)
        phi = r_pix.uniform(0, 2 * np.pi, c)
        proj = xx[None] * np.cos(theta)[:, None, None] + yy[None] * np.sin(theta)[:, None, None]
        shade = p.shading_amplitude * np.cos(
            2 * np.pi * freq[:, None, None] * proj / S + phi[:, None, None]
        )
        pix_noise = r_pix.normal(0.0, p.pixel_noise, (c, S, S, 3))
        for k, i in enumerate(idx):
            it = item[i]
            col = colours[it] + p.wear_fade * wear[i] * (grey[it] - colours[it])  # desaturate
            x0, y0, w, h = body[i]
            canvas[k, y0 : y0 + h, x0 : x0 + w] = col
            if defect_px[i] is not None:
                # darken light bodies, lighten dark ones: the contrast always fits in [0, 1]
                sign = -1.0 if grey[it] >= 0.5 else 1.0
                rng_c = p.subtle_contrast if subtle[i] else p.obvious_contrast
                contrast = rng_c[0] + (rng_c[1] - rng_c[0]) * contrast_u[i]
                dp = defect_px[i]
                canvas[k, dp[:, 0], dp[:, 1]] = col + sign * contrast
            for j, kind in enumerate(ITEM_MODELS[it].parts):
                px, py, pw, ph = parts[i, j]
                canvas[k, py : py + ph, px : px + pw] = PARTS[kind][0]
        canvas += shade[..., None] + pix_noise
        u8 = np.rint(np.clip(canvas, 0.0, 1.0) * 255.0).astype(np.uint8)
        for k, i in enumerate(idx):
            if not image_missing[i]:
                images[i] = _encode_png(u8[k])

    # ---- assemble
    boxes = [
        [
            [b[0] / S, b[1] / S, (b[0] + b[2]) / S, (b[1] + b[3]) / S]
            for b in (body[i], parts[i, 0], parts[i, 1])
        ]
        for i in range(n)
    ]
    labels = [[0] + [1 + PART_KINDS.index(k) for k in ITEM_MODELS[item[i]].parts] for i in range(n)]
    start_s = int(dt.datetime.fromisoformat(p.start_date).replace(tzinfo=dt.UTC).timestamp())
    gt_cols = list(GT_FIELDS)
    columns = {
        "listing_id": [f"syn-s{seed}-{i:06d}" for i in range(n)],
        "image": images,
        "description": descriptions,
        "msrp": msrp,
        "price": price,
        "location_id": loc.astype(np.int32),
        "timestamp": start_s + secs,
        "period": period.astype(np.int32),
        "item_model": [ITEM_MODELS[i].name for i in item],
        "item_model_id": item.astype(np.int32),
        "category": [ITEM_MODELS[i].category for i in item],
        "scene_boxes": boxes,
        "scene_labels": labels,
        "text_heads": text_heads,
        "gt_delta": delta,
        "gt_delta_wear": d_wear,
        "gt_delta_defect": d_defect,
        "gt_delta_struct": d_struct,
        "gt_delta_market": d_market,
        "gt_noise": noise,
        "gt_market": m,
        "gt_wear": wear,
        "gt_condition_mentioned": cond_mentioned,
        "gt_defect_kind": [
            DEFECT_KINDS[k] if d else None for k, d in zip(defect_kind, has_defect, strict=True)
        ],
        "gt_defect_box": defect_box,
        "gt_defect_subtle": subtle,
        "gt_defect_mentioned": defect_mentioned,
        "gt_detached": detached.tolist(),
        "gt_num_detached": n_detached.astype(np.int32),
        "gt_relation_mentioned": rel_mentioned.tolist(),
    }
    schema = listing_schema(gt_cols)
    table = pa.table(
        {f.name: pa.array(columns[f.name], type=f.type) for f in schema}, schema=schema
    )

    # splits: a seeded permutation, each split kept in id order
    perm = np.random.default_rng(np.random.SeedSequence(seed).spawn(5)[4]).permutation(n)
    n_train = round(p.split_fractions[0] * n)
    n_val = round(p.split_fractions[1] * n)
    parts_idx = {
        "train": perm[:n_train],
        "val": perm[n_train : n_train + n_val],
        "test": perm[n_train + n_val :],
    }
    return {split: table.take(np.sort(ix)) for split, ix in parts_idx.items()}


def write_synthetic_valuation(
    out_uri: str, n: int, seed: int, params: SynthParams = SynthParams()
) -> Manifest:
    """Generate ``n`` listings with ``seed`` and write them as shards + manifest at ``out_uri``."""
    tables = generate_valuation(n, seed, params)
    train = tables["train"]
    market = build_market(
        location_names=[name for name, _ in LOCATIONS],
        location_coords=[list(c) for _, c in LOCATIONS],
        num_periods=params.num_periods,
        period_days=params.period_days,
        item_models=[im.name for im in ITEM_MODELS],
        item_model_msrp=[im.msrp for im in ITEM_MODELS],
        train_item_ids=train.column("item_model_id").to_numpy(),
        train_location_ids=train.column("location_id").to_numpy(),
        train_periods=train.column("period").to_numpy(),
    )
    return write_listing_shards(
        tables,
        out_uri,
        dataset=DATASET_NAME,
        generator={
            "name": "hmgray.families.valuation.data.synth",
            "seed": int(seed),
            "n": int(n),
            "params": dataclasses.asdict(params),
        },
        market=market,
        image_size=[params.image_size, params.image_size],
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the synthetic valuation dataset as shards.")
    parser.add_argument("--out", required=True, help="dataset folder (path or storage URI)")
    parser.add_argument("--n", type=int, default=6000, help="number of listings")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    manifest = write_synthetic_valuation(args.out, args.n, args.seed)
    counts = ", ".join(f"{s}={manifest.rows(s)}" for s in manifest.splits)
    print(f"wrote {args.out}: {counts}; manifest sha256 {manifest.hash}")


if __name__ == "__main__":
    main()
