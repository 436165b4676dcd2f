"""Level 3: heterogeneous spatio-temporal market graph -> E_market per listing.

The graph is the manifest's ``market`` object (contracts §2): node types ``item`` (item
models), ``location`` and ``period``; every edge list ``"src__rel__dst"`` of
``market["edges"]`` becomes the relation (src, rel, dst) AND its reverse
(dst, rev_rel, src), so information flows both ways along every edge type (``period
__next__ period`` and its reverse are different relations: "next" and "previous").

Node features (all learnable except the coordinates)::

    x_item     = Emb_item[i]
    x_location = Emb_loc[l] + W_c zscore(coords_l)
    x_period   = Emb_period[t]

``zscore`` standardises latitude/longitude over the manifest's locations (a fixed
buffer), so raw degrees do not dominate the embeddings. Each of the ``layers`` layers is a
``HeteroConv`` of one ``SAGEConv`` per relation, summed over relations into the target
type, with a residual + LayerNorm::

    h_v <- LayerNorm( h_v + GELU( sum_{rel: * -> type(v)} SAGE_rel(h)_v ) )

The whole (small) graph is propagated on every forward pass, then a listing
n = (location l_n, period t_n, item model i_n) reads::

    E_market[n] = f_out( [h_location[l_n], h_period[t_n], h_item[i_n]] )        (B, D)

so E_market of a listing depends only on its own indices, never on the other listings of
the batch.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import HeteroConv, SAGEConv

__all__ = ["MarketGNN", "NODE_TYPES", "market_relations"]

NODE_TYPES = ("item", "location", "period")


def market_relations(market: dict) -> dict[tuple[str, str, str], Tensor]:
    """Edge indices of every relation and its reverse, from the manifest ``market`` object.

    Returns {(src, rel, dst): edge_index (2, E)}; reverse relations are named ``rev_<rel>``.
    Raises ValueError on a malformed key, an unknown node type or an out-of-range index.
    """
    sizes = _node_counts(market)
    rels: dict[tuple[str, str, str], Tensor] = {}
    for key, pairs in market.get("edges", {}).items():
        parts = key.split("__")
        if len(parts) != 3 or parts[0] not in NODE_TYPES or parts[2] not in NODE_TYPES:
            raise ValueError(
                f"market edge key {key!r} must be 'src__rel__dst' with src, dst in {NODE_TYPES}"
            )
        src, rel, dst = parts
        ei = torch.as_tensor(pairs, dtype=torch.long).reshape(-1, 2).t().contiguous()  # (2, E)
        for row, typ in ((0, src), (1, dst)):
            if ei.numel() and (ei[row].min() < 0 or ei[row].max() >= sizes[typ]):
                raise ValueError(f"market edge {key!r}: {typ} index out of range [0, {sizes[typ]})")
        rels[(src, rel, dst)] = ei
        rels[(dst, f"rev_{rel}", src)] = ei.flip(0)
    return rels


def _node_counts(market: dict) -> dict[str, int]:
    return {
        "item": len(market["item_models"]),
        "location": len(market["location_names"]),
        "period": int(market["num_periods"]),
    }


class MarketGNN(nn.Module):
    """Heterogeneous SAGE GNN over the market graph; ``forward`` gives E_market (B, D).

    Args:
        market: the manifest's ``market`` object.
        d_model: D.  layers: HeteroConv layers.  dropout: on the node states between layers.
    """

    def __init__(self, market: dict, d_model: int, layers: int = 2, dropout: float = 0.0):
        super().__init__()
        self.num_nodes = _node_counts(market)
        rels = market_relations(market)
        self.relations = list(rels)
        for i, ei in enumerate(rels.values()):
            self.register_buffer(f"edge_index_{i}", ei, persistent=False)
        coords = torch.as_tensor(market["location_coords"], dtype=torch.float32).reshape(-1, 2)
        # std floor 1e-6: a single location (or identical coordinates) has std 0
        coords = (coords - coords.mean(0)) / coords.std(0, unbiased=False).clamp(min=1e-6)
        self.register_buffer("coords", coords, persistent=False)
        self.emb = nn.ModuleDict({t: nn.Embedding(n, d_model) for t, n in self.num_nodes.items()})
        self.w_coord = nn.Linear(2, d_model)
        self.convs = nn.ModuleList(
            HeteroConv({r: SAGEConv(d_model, d_model) for r in self.relations}, aggr="sum")
            for _ in range(layers)
        )
        self.norms = nn.ModuleList(
            nn.ModuleDict({t: nn.LayerNorm(d_model) for t in NODE_TYPES}) for _ in range(layers)
        )
        self.dropout = nn.Dropout(dropout)
        self.f_out = nn.Sequential(
            nn.Linear(3 * d_model, d_model), nn.GELU(), nn.Linear(d_model, d_model)
        )

    def node_states(self) -> dict[str, Tensor]:
        """Propagate the whole graph; returns {node type: (num nodes, D)}."""
        h = {t: e.weight for t, e in self.emb.items()}
        h["location"] = h["location"] + self.w_coord(self.coords)
        edges = {r: getattr(self, f"edge_index_{i}") for i, r in enumerate(self.relations)}
        for conv, norms in zip(self.convs, self.norms, strict=True):
            out = conv(h, edges)
            # a node type no relation points to keeps its state (residual with zero update)
            h = {
                t: norms[t](h[t] + self.dropout(nn.functional.gelu(out[t]))) if t in out else h[t]
                for t in h
            }
        return h

    def forward(self, location_id: Tensor, period: Tensor, item_model_id: Tensor) -> Tensor:
        """
        Args:
            location_id, period, item_model_id: (B,) int64 node indices.
        Returns:
            E_market (B, D).
        """
        h = self.node_states()
        z = torch.cat(
            [h["location"][location_id], h["period"][period], h["item"][item_model_id]], dim=-1
        )  # (B, 3D)
        return self.f_out(z)
