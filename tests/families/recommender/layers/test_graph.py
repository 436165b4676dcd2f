"""GraphSAGE with co-occurrence weights: the weighted mean, and SAGEConv's own mean."""

import torch
from torch_geometric.nn import SAGEConv

from hmgray.families.recommender.layers.graph import GraphEncoder, weighted_adjacency

EDGES = torch.tensor([[0, 1, 1, 2, 0, 3], [1, 0, 2, 1, 3, 0]])  # undirected: both directions


def test_equal_weights_give_sageconv_mean_aggregation():
    torch.manual_seed(0)
    ours = SAGEConv(3, 2, aggr="sum")
    mean = SAGEConv(3, 2, aggr="mean")
    mean.load_state_dict(ours.state_dict())
    x = torch.randn(5, 3)  # node 4 has no edge
    adj = weighted_adjacency(EDGES, torch.ones(EDGES.shape[1]), 5)
    torch.testing.assert_close(ours(x, adj), mean(x, EDGES))


def test_weighted_mean_by_hand():
    torch.manual_seed(1)
    conv = SAGEConv(2, 2, aggr="sum")
    x = torch.randn(4, 2)
    w = torch.tensor([1.0, 1.0, 3.0, 3.0, 2.0, 2.0])  # edge weights, per direction
    out = conv(x, weighted_adjacency(EDGES, w, 4))
    # node 1's neighbours: 0 (weight 1) and 2 (weight 3); node 0's: 1 (1) and 3 (2)
    agg1 = (1 * x[0] + 3 * x[2]) / 4
    agg0 = (1 * x[1] + 2 * x[3]) / 3
    torch.testing.assert_close(out[1], conv.lin_l(agg1) + conv.lin_r(x[1]))
    torch.testing.assert_close(out[0], conv.lin_l(agg0) + conv.lin_r(x[0]))


def test_encoder_is_equivariant_to_renumbering_the_items():
    torch.manual_seed(2)
    enc = GraphEncoder(4, EDGES, torch.ones(6), 5, 6, 3, dropout=0.0).eval()
    perm = torch.tensor([2, 0, 3, 1])  # new id of old item k is perm[k]
    other = GraphEncoder(4, perm[EDGES], torch.ones(6), 5, 6, 3, dropout=0.0).eval()
    other.load_state_dict(enc.state_dict())
    with torch.no_grad():
        other.emb.weight[perm] = enc.emb.weight
    torch.testing.assert_close(other()[perm], enc())
