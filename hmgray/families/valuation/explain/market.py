"""The same listing re-placed at every node of the spatio-temporal market graph.

Each listing keeps its image, words, scene graph, item model and MSRP; only its location
l and period t (its market node indices, contracts §3) are replaced, for every pair
(l, t) in [0, num_locations) x [0, num_periods)::

    delta_grid[b, l, t] = delta(listing b placed at location l in period t)      (B, nL, nT)

The entity part f_entity(E_entity) is the same in every cell, so the differences between
cells are the market term gamma * f_market(E_market(l, t, item)) seen through the
sigmoid. ``market_shift`` centres each listing's grid (minus its mean over the cells), the
part of delta that the market alone moves; on synthetic data it is comparable with the
planted ``gt_delta_market = gamma_market * m(l, t)`` centred the same way.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hmgray.families.valuation.explain.gradients import delta_of

__all__ = ["market_grid", "market_shift"]

Batch = dict[str, Tensor]


@torch.no_grad()
def market_grid(
    model: nn.Module,
    batch: Batch,
    num_locations: int,
    num_periods: int,
    *,
    max_rows: int = 1024,
) -> Tensor:
    """(B, num_locations, num_periods) delta of every listing at every (location, period)."""
    model.eval()
    b = batch["tokens"].shape[0]
    cells = num_locations * num_periods
    device = batch["tokens"].device
    loc = torch.arange(num_locations, device=device).repeat_interleave(num_periods)  # (nL nT,)
    per = torch.arange(num_periods, device=device).repeat(num_locations)  # (nL nT,)
    out = torch.empty(b * cells)
    per_pass = max(1, max_rows // cells)  # listings per forward pass
    for lo in range(0, b, per_pass):
        n = min(b, lo + per_pass) - lo
        sub = {k: v[lo : lo + n].repeat_interleave(cells, 0) for k, v in batch.items()}
        sub["location_id"] = loc.repeat(n)
        sub["period"] = per.repeat(n)
        out[lo * cells : (lo + n) * cells] = delta_of(model, sub).cpu()
    return out.view(b, num_locations, num_periods)


def market_shift(grid: Tensor) -> Tensor:
    """(B, nL, nT) -> (B, nL, nT): each listing's grid minus its own mean over the cells."""
    return grid - grid.mean(dim=(1, 2), keepdim=True)
