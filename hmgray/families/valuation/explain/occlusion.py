"""Occlusion: what happens to delta when a region of the image is masked.

For a listing with image x and a box b (normalised (x0, y0, x1, y1), exclusive upper
edges, as ``scene_boxes`` in contracts §1), the occluded image x_b is x with the pixels of
b replaced by a fill, and the **effect** of the region is::

    effect_b = delta(x) - delta(x_b)          (delta units: a fraction of the MSRP)

effect_b > 0: the region *raises* depreciation; the model values the item lower because
of what is in the region. Statements report it in **percentage points of the MSRP**,
100 * effect_b: "the case raises depreciation by 3.1%" means that with the case visible
the predicted delta is 0.031 higher than with it masked, i.e. the predicted price is 3.1%
of the MSRP (MSRP * 0.031 currency units) lower. Percentage points, not a relative change
of delta, because delta itself is the share of the MSRP that is lost, and percentage
points add up across statements of the same listing only approximately (the model is
not additive), which each statement's "delta a -> b" makes visible.

Fills (``FILLS``):

* ``"local"`` (default): every channel of the box gets the median of that channel over a
  ring of ``ring_px`` pixels around the box (clipped to the image), i.e. what surrounds
  the region. For a scene object (body, part) the ring is background (the synthetic
  layout keeps >= 8 px of background around every object), so the object disappears; for
  a defect box or a patch cell inside the body the ring is body colour, so a defect is
  painted over with the body it sits on. The median, not the mean, so that a defect or an
  edge crossing the ring does not tint the fill.
* ``"mean"``: the image's mean colour (per channel), the classic occlusion fill.

Only the image changes: boxes, words and the market context stay as they are, so the
effect isolates what the model reads from the pixels of the region (a masked region is
still a node of the scene graph, now showing background).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from hmgray.families.valuation.explain.gradients import delta_of
from hmgray.families.valuation.explain.localization import box_pixels

__all__ = [
    "FILLS",
    "RegionEffect",
    "fill_box",
    "grid_boxes",
    "occlusion_effects",
    "patch_occlusion_map",
    "region_statements",
]

FILLS = ("local", "mean")

Batch = dict[str, Tensor]


def fill_box(image: Tensor, box: Sequence[float], fill: str = "local", ring_px: int = 2) -> Tensor:
    """A copy of ``image`` (3, H, W) with ``box`` filled (see the module docstring)."""
    _, h, w = image.shape
    c0, r0, c1, r1 = box_pixels(box, h, w)
    out = image.clone()
    if fill == "local":
        o0, p0, o1, p1 = box_pixels(box, h, w, tolerance=ring_px)
        ring = torch.ones(p1 - p0, o1 - o0, dtype=torch.bool, device=image.device)
        ring[r0 - p0 : r1 - p0, c0 - o0 : c1 - o0] = False  # (ring rows, ring cols)
        if ring.any():
            colour = image[:, p0:p1, o0:o1][:, ring].median(dim=1).values  # (3,)
        else:  # the box covers the whole image: nothing around it to copy
            colour = image.flatten(1).mean(dim=1)
    elif fill == "mean":
        colour = image.flatten(1).mean(dim=1)  # (3,)
    else:
        raise ValueError(f"unknown occlusion fill {fill!r}; valid: {list(FILLS)}")
    out[:, r0:r1, c0:c1] = colour[:, None, None]
    return out


@torch.no_grad()
def occlusion_effects(
    model: nn.Module,
    batch: Batch,
    boxes: Tensor,
    valid: Tensor | None = None,
    *,
    fill: str = "local",
    ring_px: int = 2,
    max_rows: int = 512,
) -> tuple[Tensor, Tensor]:
    """Effect on delta of masking each of K boxes of each listing, one box at a time.

    Args:
        model: returns ``delta``.  batch: decoded batch of B listings (torch).
        boxes: (B, K, 4) or (K, 4) (the same boxes for every listing), normalised.
        valid: (B, K) bool, boxes to occlude (others get NaN); default all.
        fill: one of ``FILLS``.  ring_px: width of the ring of the ``"local"`` fill.
        max_rows: occluded images per forward pass.
    Returns:
        (delta (B,), effect (B, K) = delta - delta(occluded), in delta units).
    """
    model.eval()
    image = batch["image"].float()
    b = image.shape[0]
    if boxes.dim() == 2:
        boxes = boxes[None].expand(b, -1, -1)
    k = boxes.shape[1]
    valid = torch.ones(b, k, dtype=torch.bool) if valid is None else valid.bool().cpu()
    delta = torch.cat(
        [
            delta_of(model, {key: v[i : i + max_rows] for key, v in batch.items()})
            for i in range(0, b, max_rows)
        ]
    )
    effect = torch.full((b, k), float("nan"))
    rows = valid.nonzero().tolist()  # [(listing, box)]
    box_list = boxes.detach().cpu().tolist()
    for lo in range(0, len(rows), max_rows):
        chunk = rows[lo : lo + max_rows]
        idx = torch.tensor([i for i, _ in chunk], device=image.device)
        sub = {key: v[idx] for key, v in batch.items()}
        sub["image"] = torch.stack(
            [fill_box(image[i], box_list[i][j], fill, ring_px) for i, j in chunk]
        )
        d_occ = delta_of(model, sub).cpu()
        for (i, j), d in zip(chunk, d_occ.tolist(), strict=True):
            effect[i, j] = delta[i].item() - d
    return delta.cpu(), effect


def grid_boxes(grid: tuple[int, int]) -> Tensor:
    """(gh * gw, 4) normalised boxes of the cells of a gh x gw grid, row-major (as the
    patch order of ``hmgray.families.valuation.layers.encoders``)."""
    gh, gw = grid
    cells = [[c / gw, r / gh, (c + 1) / gw, (r + 1) / gh] for r in range(gh) for c in range(gw)]
    return torch.tensor(cells, dtype=torch.float32)


def patch_occlusion_map(model: nn.Module, batch: Batch, grid: tuple[int, int], **kwargs) -> Tensor:
    """(B, gh, gw): effect on delta of masking each cell of the model's patch grid.

    Listings without an image get NaN (there is nothing to mask).
    """
    b = batch["image"].shape[0]
    valid = (batch["has_image"] > 0).cpu()[:, None].expand(b, grid[0] * grid[1])
    _, effect = occlusion_effects(model, batch, grid_boxes(grid), valid, **kwargs)
    return effect.view(b, *grid)


class RegionEffect(dict):
    """One occluded region: ``name``, ``box``, ``delta``, ``delta_masked``, ``effect_pp``
    (percentage points of the MSRP), ``effect_price`` (currency units, MSRP * effect),
    ``statement``."""


def region_statements(
    names: Sequence[str],
    boxes: Sequence[Sequence[float]],
    delta: float,
    effects: Sequence[float],
    msrp: float,
) -> list[RegionEffect]:
    """Sentences for the occlusion effects of one listing's regions, largest |effect| first.

    "the case raises depreciation by 3.10% of the MSRP (delta 0.412 -> 0.381 when masked;
    -15.47 in price)" -- see the module docstring for what the percentage means.
    """
    out = []
    for name, box, eff in zip(names, boxes, effects, strict=True):
        if eff != eff:  # NaN: not occluded
            continue
        pp = 100.0 * eff
        verb = "raises" if pp >= 0 else "lowers"
        out.append(
            RegionEffect(
                name=name,
                box=[float(v) for v in box],
                delta=float(delta),
                delta_masked=float(delta - eff),
                effect_pp=float(pp),
                effect_price=float(msrp * eff),
                statement=(
                    f"the {name} {verb} depreciation by {abs(pp):.2f}% of the MSRP "
                    f"(delta {delta:.3f} -> {delta - eff:.3f} when masked; "
                    f"{-msrp * eff:+.2f} in price)"
                ),
            )
        )
    return sorted(out, key=lambda r: -abs(r["effect_pp"]))
