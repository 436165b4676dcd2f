"""Graph encoder: two-layer GraphSAGE on the undirected item-item co-purchase graph.

Each layer is torch-geometric's ``SAGEConv`` (Hamilton et al., NeurIPS 2017) with the
mean aggregator weighted by the edge weight w_ij (the co-occurrence count)::

    h_i' = W_r h_i + W_l * (sum_{j in N(i)} w_ij h_j) / (sum_{j in N(i)} w_ij)

implemented as ``SAGEConv(aggr="sum")`` over the sparse row-normalised weighted
adjacency (:func:`weighted_adjacency`); with equal weights this is SAGEConv's plain mean
aggregation (tested). The initial node
features are learnable 128-d item embeddings; a ReLU and dropout sit between the layers.
An item without neighbours keeps W_r h_i (the aggregate is 0).

Shapes: ``forward() -> (N, out_dim)``: every item's vector g_i (the graph is the model's
own, fixed by the data; users' g_u are means over their histories, in the model).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import SAGEConv
from torch_geometric.utils import scatter

__all__ = ["GraphEncoder", "normalise_weights", "weighted_adjacency"]


def normalise_weights(edge_index: Tensor, weight: Tensor, num_nodes: int) -> Tensor:
    """w_ij / sum_{j in N(i)} w_ij, per destination node i = ``edge_index[1]``."""
    total = scatter(weight, edge_index[1], dim=0, dim_size=num_nodes, reduce="sum")
    return weight / total.clamp_min(1e-12)[edge_index[1]]  # clamp: a node with no edge


def weighted_adjacency(edge_index: Tensor, weight: Tensor, num_nodes: int) -> Tensor:
    """The sparse (N, N) matrix A[i, j] = w_ij / sum_j' w_ij' (row i = destination), the
    ``adj_t`` that ``SAGEConv(aggr="sum")`` multiplies the features with."""
    w = normalise_weights(edge_index, weight, num_nodes)
    rows_cols = torch.stack([edge_index[1], edge_index[0]])
    adj = torch.sparse_coo_tensor(rows_cols, w, (num_nodes, num_nodes), check_invariants=True)
    return adj.coalesce().to_sparse_csr()  # CSR once: SAGEConv would convert on every call


class GraphEncoder(nn.Module):
    """Learnable node embeddings -> SAGEConv -> ReLU, dropout -> SAGEConv (weighted mean)."""

    def __init__(
        self,
        num_items: int,
        edge_index: Tensor,
        edge_weight: Tensor,
        emb_dim: int,
        hidden: int,
        out_dim: int,
        dropout: float,
    ):
        super().__init__()
        self.emb = nn.Embedding(num_items, emb_dim)
        nn.init.normal_(self.emb.weight, std=0.1)
        self.conv1 = SAGEConv(emb_dim, hidden, aggr="sum")
        self.conv2 = SAGEConv(hidden, out_dim, aggr="sum")
        self.dropout = nn.Dropout(dropout)
        adj = weighted_adjacency(edge_index.long(), edge_weight.float(), num_items)
        self.register_buffer("adj_t", adj, persistent=False)
        self.out_dim = out_dim

    def forward(self) -> Tensor:
        # float32 even under bf16 autocast: the sparse product has no bf16 kernel to rely on
        with torch.autocast(device_type=self.emb.weight.device.type, enabled=False):
            h = self.conv1(self.emb.weight.float(), self.adj_t).relu()
            return self.conv2(self.dropout(h), self.adj_t)  # (N, out)
