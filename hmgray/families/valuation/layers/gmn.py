"""Level 2: Structural Graph Matching between the visual scene graph and the text tree.

A graph matching network after Li et al. 2019, "Graph Matching Networks for Learning the
Similarity of Graph Structured Objects" (https://arxiv.org/abs/1904.12787), on
torch-geometric. For the pair (G1, G2) of one listing, each propagation layer does::

    m_i   = sum_{j in N(i)} f_msg([h_i, h_j, e_ji])                   within-graph messages
    a_ij  = softmax_j( s(h_i, h'_j) ),  s(h, h') = h . h' / sqrt(D)  over nodes j of the OTHER graph
    mu_i  = sum_j a_ij (h_i - h'_j)                                   cross-graph matching vector
    h_i  <- LayerNorm( h_i + f_node([h_i, m_i, mu_i]) )

(and symmetrically for the nodes of G2 attending to G1). After ``layers`` such layers a
gated sum reads each graph out::

    h_G = f_G( sum_i sigmoid(f_gate(h_i)) * f_val(h_i) )

and the structural-consistency feature of the pair is::

    S = f_pair([h_G1, h_G2, |h_G1 - h_G2|, h_G1 * h_G2])                 (B, D)

Choices the write-up leaves open, made here: the propagation weights are shared by the two
graphs (the siamese set-up of Li et al.) but the node/edge encoders are per modality; the
similarity is the scaled dot product (1/sqrt(D) keeps the softmax out of saturation at
init); the node update is residual + LayerNorm (text nodes can have many children, and
sum aggregation would otherwise grow the scale layer by layer).

Graph 1, the visual scene graph (:func:`build_scene_graph`): nodes = valid regions,
features = W_p pool(V, box) + label embedding + W_g geom(box), where pool is the mean of
the patch features whose centres fall inside the box (the nearest patch if none does);
edges = all ordered pairs of distinct valid regions, attribute = relative position of the
source j seen from the target i: (cx_j - cx_i, cy_j - cy_i, log(w_j / w_i), log(h_j / h_i)).
The edge encoder sees that relative position (centre offsets in patch-cell units) together
with both endpoints' detector labels, e_ji = f_e([rel_ji, emb(label_j), emb(label_i)]), so
"a part of kind k sits at offset (dx, dy) from the body" is one edge feature rather than a
conjunction the propagation layers must build (a probe training the scene graph alone to
count detached parts: val corr 0.65 -> 0.94 in 400 steps of 32 listings).

Graph 2, the text tree (:func:`build_text_tree`): nodes = valid tokens, features = W_t T_i;
edges = (token, head) in both directions, attribute = an embedding of the direction
(0 = child -> head, 1 = head -> child).

Both graphs are built vectorised from the padded batch tensors (contracts §3): flat node
ids come from a cumulative sum over the validity mask, edges from ``nonzero`` over pair
masks, so there is no Python loop over listings.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import scatter, to_dense_batch

from hmgray.families.valuation.layers.encoders import patch_centres
from hmgray.nn.attention import softmax as masked_softmax

__all__ = [
    "GMNLayer",
    "GraphMatchingNetwork",
    "StructuralMatching",
    "build_scene_graph",
    "build_text_tree",
    "cross_graph_attention",
    "region_patch_weights",
    "box_relative_position",
]

# Smallest box side, as a fraction of the image: log(w_j / w_i) needs w > 0, and a box
# thinner than 1/1000 of the image is a degenerate detector output, not a real region.
_MIN_BOX_SIDE = 1e-3
# width of the per-endpoint label embedding fed to the scene-graph edge encoder
_EDGE_LABEL_DIM = 16
# width (sd, in patch cells) of the soft position bins of the scene-graph edges: offsets
# between object centres are whole or half cells +- the layout jitter (< 0.5 cell)
_RBF_WIDTH = 0.5


def _mlp(d_in: int, d_out: int, d_hidden: int | None = None) -> nn.Sequential:
    d_hidden = d_hidden or d_out
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.GELU(), nn.Linear(d_hidden, d_out))


# ----------------------------------------------------------------------------- graph building


def _flat_ids(mask: Tensor) -> tuple[Tensor, Tensor]:
    """Flat node ids of the valid slots of a padded (B, N) mask, row-major.

    Returns ``ids`` (B, N) (meaningful where mask) and ``batch`` (num_valid,).
    """
    ids = mask.flatten().long().cumsum(0).view(mask.shape) - 1  # (B, N)
    batch = mask.nonzero(as_tuple=True)[0]  # (N_valid,)
    return ids, batch


def box_relative_position(box_src: Tensor, box_dst: Tensor) -> Tensor:
    """Relative position of ``box_src`` (j) seen from ``box_dst`` (i).

    Boxes (..., 4) as (x0, y0, x1, y1) in [0, 1]. Returns (..., 4):
    (cx_j - cx_i, cy_j - cy_i, log(w_j / w_i), log(h_j / h_i)); antisymmetric in (i, j).
    """

    def centre_size(b: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        w = (b[..., 2] - b[..., 0]).clamp(min=_MIN_BOX_SIDE)
        h = (b[..., 3] - b[..., 1]).clamp(min=_MIN_BOX_SIDE)
        return (b[..., 0] + b[..., 2]) / 2, (b[..., 1] + b[..., 3]) / 2, w, h

    cxj, cyj, wj, hj = centre_size(box_src.float())
    cxi, cyi, wi, hi = centre_size(box_dst.float())
    return torch.stack([cxj - cxi, cyj - cyi, torch.log(wj / wi), torch.log(hj / hi)], dim=-1)


def region_patch_weights(boxes: Tensor, grid: tuple[int, int]) -> Tensor:
    """Pooling weights of the patches for each region.

    w_rk = 1/n_r if the centre of patch k lies inside box r (n_r such patches), else 0;
    if n_r == 0, w_rk = 1 for the patch whose centre is nearest to the box centre.

    Args:
        boxes: (B, R, 4) (x0, y0, x1, y1) in [0, 1].  grid: (H/p, W/p).
    Returns:
        (B, R, P), rows sum to 1.
    """
    c = patch_centres(*grid, device=boxes.device)  # (P, 2)
    bx = boxes.float()
    inside = (
        (c[:, 0] >= bx[..., 0:1])
        & (c[:, 0] <= bx[..., 2:3])
        & (c[:, 1] >= bx[..., 1:2])
        & (c[:, 1] <= bx[..., 3:4])
    ).float()  # (B, R, P)
    n = inside.sum(-1, keepdim=True)  # (B, R, 1)
    centre = torch.stack([(bx[..., 0] + bx[..., 2]) / 2, (bx[..., 1] + bx[..., 3]) / 2], -1)
    d2 = ((centre[..., None, :] - c) ** 2).sum(-1)  # (B, R, P)
    nearest = nn.functional.one_hot(d2.argmin(-1), c.shape[0]).float()  # (B, R, P)
    return torch.where(n > 0, inside / n.clamp(min=1.0), nearest)


def build_scene_graph(boxes: Tensor, region_mask: Tensor) -> dict[str, Tensor]:
    """Index structure of the batched visual scene graphs.

    Args:
        boxes: (B, R, 4).  region_mask: (B, R) bool, True = valid region.
    Returns:
        dict with ``node`` (N1, 2) = (b, r) of each node, ``batch`` (N1,),
        ``edge_index`` (2, E1) as (source j, target i), ``edge_attr`` (E1, 4) relative
        position of j seen from i.
    """
    r = region_mask.shape[1]
    ids, batch = _flat_ids(region_mask)
    eye = torch.eye(r, dtype=torch.bool, device=region_mask.device)
    pair = region_mask[:, :, None] & region_mask[:, None, :] & ~eye  # (B, R_i, R_j)
    pb, pi, pj = pair.nonzero(as_tuple=True)  # (E1,)
    edge_index = torch.stack([ids[pb, pj], ids[pb, pi]])  # j -> i
    edge_attr = box_relative_position(boxes[pb, pj], boxes[pb, pi])  # (E1, 4)
    node = region_mask.nonzero()  # (N1, 2)
    return {"node": node, "batch": batch, "edge_index": edge_index, "edge_attr": edge_attr}


def build_text_tree(word_mask: Tensor, heads: Tensor) -> dict[str, Tensor]:
    """Index structure of the batched dependency trees.

    Args:
        word_mask: (B, L) bool.  heads: (B, L) int64, head position or -1 (root/padding).
    Returns:
        dict with ``node`` (N2, 2) = (b, position), ``batch`` (N2,), ``edge_index``
        (2, E2), ``edge_type`` (E2,) 0 = child -> head, 1 = head -> child.
    """
    n_words = word_mask.shape[1]
    ids, batch = _flat_ids(word_mask)
    h = heads.clamp(min=0, max=n_words - 1)
    # an edge needs a valid child, a head inside the sequence, a valid head, no self-loop
    has_head = word_mask & (heads >= 0) & (heads < n_words)
    has_head = has_head & (heads != torch.arange(n_words, device=heads.device))
    has_head = has_head & torch.gather(word_mask, 1, h)
    cb, ct = has_head.nonzero(as_tuple=True)  # (E,)
    child, head = ids[cb, ct], ids[cb, h[cb, ct]]
    edge_index = torch.cat([torch.stack([child, head]), torch.stack([head, child])], dim=1)
    edge_type = torch.cat([torch.zeros_like(child), torch.ones_like(child)])
    node = word_mask.nonzero()
    return {"node": node, "batch": batch, "edge_index": edge_index, "edge_type": edge_type}


# ----------------------------------------------------------------------------- the network


class GMNLayer(MessagePassing):
    """One propagation layer: within-graph messages + cross-graph matching + node update.

    The message MLP f_msg([h_i, h_j, e_ji]) = W_2 GELU(W_1 [h_i, h_j, e_ji] + b_1) + b_2 is
    evaluated with W_1 split into its three column blocks, W_1 [h_i, h_j, e] =
    W_dst h_i + W_src h_j + W_e e: the same function, but the two node projections are
    computed once per node (N rows) instead of once per edge (E rows, ~2N for a tree).
    """

    def __init__(self, d: int, edge_dim: int):
        super().__init__(aggr="add")
        self.w_dst = nn.Linear(d, d)  # carries b_1
        self.w_src = nn.Linear(d, d, bias=False)
        self.w_e = nn.Linear(edge_dim, d, bias=False)
        self.w_2 = nn.Linear(d, d)
        self.f_node = _mlp(3 * d, d)
        self.norm = nn.LayerNorm(d)

    def forward(self, h: Tensor, edge_index: Tensor, edge_attr: Tensor, mu: Tensor) -> Tensor:
        m = self.propagate(
            edge_index, a=self.w_dst(h), b=self.w_src(h), c=self.w_e(edge_attr)
        )  # (N, D)
        return self.norm(h + self.f_node(torch.cat([h, m, mu], dim=-1)))

    def message(self, a_i: Tensor, b_j: Tensor, c: Tensor) -> Tensor:
        return self.w_2(nn.functional.gelu(a_i + b_j + c))


def _to_dense(h: Tensor, batch: Tensor, num_graphs: int) -> tuple[Tensor, Tensor, Tensor]:
    """(N, D) flat nodes in any order -> (B, N_max, D), mask (B, N_max), perm."""
    perm = torch.argsort(batch, stable=True)
    hd, mask = to_dense_batch(h[perm], batch[perm], batch_size=num_graphs)
    return hd, mask, perm


def _from_dense(xd: Tensor, mask: Tensor, perm: Tensor) -> Tensor:
    out = torch.empty(perm.shape[0], xd.shape[-1], dtype=xd.dtype, device=xd.device)
    out[perm] = xd[mask]
    return out


def cross_graph_attention(
    h1: Tensor, batch1: Tensor, h2: Tensor, batch2: Tensor, num_graphs: int
) -> tuple[Tensor, Tensor]:
    """Cross-graph matching vectors of both graphs of every pair.

    mu1_i = sum_j a_ij (h1_i - h2_j), a_ij = softmax_j(h1_i . h2_j / sqrt(D)) over the nodes j
    of the paired graph (same batch id); mu2 likewise with the roles swapped. A node whose
    paired graph is empty gets mu = 0.

    Returns mu1 (N1, D), mu2 (N2, D) in the input node order.
    """
    if h1.shape[0] == 0 or h2.shape[0] == 0:
        # one side has no node in the whole batch (no region / no word anywhere): nothing
        # to match against, mu = 0 for every node (and no empty reductions below)
        return torch.zeros_like(h1), torch.zeros_like(h2)
    d1, m1, p1 = _to_dense(h1, batch1, num_graphs)  # (B, N1, D)
    d2, m2, p2 = _to_dense(h2, batch2, num_graphs)  # (B, N2, D)
    s = torch.einsum("bid,bjd->bij", d1, d2) / math.sqrt(h1.shape[-1])  # (B, N1, N2)
    mask = m1[:, :, None] & m2[:, None, :]
    a12 = masked_softmax(s, mask, dim=2).to(d1.dtype)  # rows: G1 nodes
    a21 = masked_softmax(s, mask, dim=1).to(d1.dtype)  # cols: G2 nodes
    # sum_j a_ij (h_i - h'_j) = (sum_j a_ij) h_i - sum_j a_ij h'_j
    mu1 = a12.sum(2, keepdim=True) * d1 - torch.einsum("bij,bjd->bid", a12, d2)
    mu2 = a21.sum(1)[..., None] * d2 - torch.einsum("bij,bid->bjd", a21, d1)
    return _from_dense(mu1, m1, p1), _from_dense(mu2, m2, p2)


class GraphMatchingNetwork(nn.Module):
    """Graph matching network on batched PyG graph pairs (pair b = graph b of each side).

    Args:
        d: node width D.  edge_dim: width of the (already encoded) edge attributes.
        layers: number of propagation layers.
    """

    def __init__(self, d: int, edge_dim: int, layers: int = 2):
        super().__init__()
        self.layers = nn.ModuleList(GMNLayer(d, edge_dim) for _ in range(layers))
        self.f_gate = nn.Linear(d, d)
        self.f_val = nn.Linear(d, d)
        self.f_graph = _mlp(d, d)
        self.f_pair = _mlp(4 * d, d)

    def readout(self, h: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
        """Gated sum h_G = f_G(sum_i sigmoid(f_gate(h_i)) * f_val(h_i)); empty graph -> f_G(0)."""
        g = torch.sigmoid(self.f_gate(h)) * self.f_val(h)
        return self.f_graph(scatter(g, batch, dim=0, dim_size=num_graphs, reduce="sum"))

    def forward(
        self,
        x1: Tensor,
        edge_index1: Tensor,
        edge_attr1: Tensor,
        batch1: Tensor,
        x2: Tensor,
        edge_index2: Tensor,
        edge_attr2: Tensor,
        batch2: Tensor,
        num_graphs: int,
    ) -> Tensor:
        """Returns S (num_graphs, D), the structural-consistency feature of each pair."""
        h1, h2 = x1, x2
        for layer in self.layers:
            mu1, mu2 = cross_graph_attention(h1, batch1, h2, batch2, num_graphs)
            h1, h2 = (
                layer(h1, edge_index1, edge_attr1, mu1),
                layer(h2, edge_index2, edge_attr2, mu2),
            )
        g1 = self.readout(h1, batch1, num_graphs)
        g2 = self.readout(h2, batch2, num_graphs)
        return self.f_pair(torch.cat([g1, g2, (g1 - g2).abs(), g1 * g2], dim=-1))


class StructuralMatching(nn.Module):
    """Level 2 end to end: padded batch tensors -> scene graph + text tree -> GMN -> S (B, D).

    Args:
        d_model: D.  layers: GMN propagation layers.  num_region_labels: size of the
        detector label vocabulary (labels must lie in [0, num_region_labels)).
        grid: patch grid (H/p, W/p).
    """

    def __init__(self, d_model: int, layers: int, num_region_labels: int, grid: tuple[int, int]):
        super().__init__()
        self.grid = grid
        self.w_patch = nn.Linear(d_model, d_model)
        self.label_emb = nn.Embedding(num_region_labels, d_model)
        self.w_geom = nn.Linear(8, d_model)
        self.w_text = nn.Linear(d_model, d_model)
        # edge encoder: whether a part is in place is a property of (its kind, its position
        # relative to the body), a conjunction of an endpoint's label with the relative
        # position. With the labels and the continuous offset only concatenated, the MLPs
        # have to build that conjunction (a bump around each kind's canonical offset) and
        # learn it slowly: meso trained end to end on price did not pick up detachment
        # within the default budget. The offset is therefore also encoded as soft bins on
        # the patch-cell lattice, rbf_o(d) = exp(-|d - o|^2 / (2 s^2)), o in {-G..G}^2 in
        # cell units, read out through a weight table per endpoint label:
        #   e_pos = sum_o rbf_o(d) (W_src[label_j] + W_dst[label_i])_o        (E, D)
        # so "part of kind k at offset o from the body" is one weight W_src[k, o]: linear
        # in the features, not a conjunction to discover.
        #   e_ji = f_e([e_pos, grid * dpos, log size ratios, emb(label_j), emb(label_i)])
        gmax = max(grid) - 1
        axis = torch.arange(-gmax, gmax + 1, dtype=torch.float32)
        oy, ox = torch.meshgrid(axis, axis, indexing="ij")
        self.register_buffer(
            "rbf_centres", torch.stack([ox.reshape(-1), oy.reshape(-1)], -1), persistent=False
        )  # (O, 2) cell offsets (dx, dy)
        self.rbf_width = _RBF_WIDTH
        n_off = self.rbf_centres.shape[0]
        # Tables of (label, offset) embeddings. e_pos sums two entries (source and target
        # label), so entries of variance 1/2 give it the unit variance of the label
        # embeddings beside it: a position signal that starts much weaker than the edge
        # encoder's other inputs is learnt late, and then only in some seeds.
        self.pos_src = nn.Parameter(torch.randn(num_region_labels, n_off, d_model) * 2**-0.5)
        self.pos_dst = nn.Parameter(torch.randn(num_region_labels, n_off, d_model) * 2**-0.5)
        self.edge_label_emb = nn.Embedding(num_region_labels, _EDGE_LABEL_DIM)
        self.scene_edge = _mlp(d_model + 4 + 2 * _EDGE_LABEL_DIM, d_model, 2 * d_model)
        self.text_edge = nn.Embedding(2, d_model)
        self.gmn = GraphMatchingNetwork(d_model, edge_dim=d_model, layers=layers)

    def forward(
        self,
        v: Tensor,
        has_image: Tensor,
        boxes: Tensor,
        labels: Tensor,
        region_mask: Tensor,
        t: Tensor,
        word_mask: Tensor,
        heads: Tensor,
    ) -> Tensor:
        """
        Args:
            v: (B, P, D) patch features.  has_image: (B,) 1/0.
            boxes: (B, R, 4).  labels: (B, R).  region_mask: (B, R) bool.
            t: (B, L, D) word features.  word_mask: (B, L) bool.  heads: (B, L) int64.
        Returns:
            S (B, D).
        """
        bsz = v.shape[0]
        g1 = build_scene_graph(boxes, region_mask)
        g2 = build_text_tree(word_mask, heads)
        # region features: patch pool (zero for a missing image) + label + box geometry
        pooled = torch.einsum("brp,bpd->brd", region_patch_weights(boxes, self.grid).to(v.dtype), v)
        pooled = pooled * (has_image > 0).to(v.dtype)[:, None, None]
        bx = boxes.float()
        geom = torch.cat([bx, (bx[..., :2] + bx[..., 2:]) / 2, bx[..., 2:] - bx[..., :2]], -1)
        x1 = self.w_patch(pooled) + self.label_emb(labels) + self.w_geom(geom)  # (B, R, D)
        x1 = x1[region_mask]  # (N1, D)
        x2 = self.w_text(t[word_mask])  # (N2, D)
        rel = g1["edge_attr"]  # (E1, 4) relative position of source j seen from target i
        cell = rel.new_tensor([self.grid[1], self.grid[0], 1.0, 1.0])
        lab = labels[g1["node"][:, 0], g1["node"][:, 1]]  # (N1,) label of each node
        src, dst = g1["edge_index"]
        d_cells = rel[:, :2] * cell[:2]  # (E1, 2) centre offset in cell units
        rbf = torch.exp(
            -((d_cells[:, None, :] - self.rbf_centres[None]) ** 2).sum(-1) / (2 * self.rbf_width**2)
        )  # (E1, O)
        # e_pos = sum_o rbf_o (W_src[lab_j] + W_dst[lab_i])_o as one matmul: the rbf row is
        # placed in its label's block of a (E, 2 * labels * O) matrix, times the stacked,
        # flattened tables. The same sum as gathering a (O, D) table per edge, without the
        # (E, O, D) gather and its scatter-add backward: this stage's forward 12.5 -> 7.7 ms
        # for 32 listings on one thread.
        n_lab, n_off, d = self.pos_src.shape
        onehot = nn.functional.one_hot(torch.stack([lab[src], lab[dst]], 1), n_lab).to(rbf.dtype)
        spread = (onehot[:, :, :, None] * rbf[:, None, None, :]).reshape(
            rbf.shape[0], 2 * n_lab * n_off
        )
        tables = torch.stack([self.pos_src, self.pos_dst]).reshape(-1, d)  # (2 * L * O, D)
        e_pos = spread @ tables  # (E1, D)
        e1 = self.scene_edge(
            torch.cat(
                [
                    e_pos,
                    rel * cell,
                    self.edge_label_emb(lab[src]),
                    self.edge_label_emb(lab[dst]),
                ],
                -1,
            )
        )
        e2 = self.text_edge(g2["edge_type"])
        return self.gmn(
            x1,
            g1["edge_index"],
            e1,
            g1["batch"],
            x2,
            g2["edge_index"],
            e2,
            g2["batch"],
            num_graphs=bsz,
        )
