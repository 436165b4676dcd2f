"""Market GNN: relations in both directions, listing-order independence, graph dependence."""

import pytest
import torch

from hmgray.families.valuation.layers.market_gnn import MarketGNN, market_relations
from tests.fakes import fake_market


def test_every_edge_type_in_both_directions():
    market = fake_market()
    rels = market_relations(market)
    assert len(rels) == 2 * len(market["edges"])
    ei = rels[("item", "sold_in", "location")]
    assert ei.tolist() == torch.tensor(market["edges"]["item__sold_in__location"]).t().tolist()
    assert rels[("location", "rev_sold_in", "item")].tolist() == ei.flip(0).tolist()
    assert ("period", "rev_next", "period") in rels


def test_bad_edges_raise():
    market = fake_market()
    market["edges"]["item__sold_in__planet"] = [[0, 0]]
    with pytest.raises(ValueError, match="planet"):
        market_relations(market)
    market = fake_market()
    market["edges"]["period__next__period"] = [[0, 99]]
    with pytest.raises(ValueError, match="out of range"):
        market_relations(market)


def listings(seed, n=6):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randint(0, 3, (n,), generator=g),
        torch.randint(0, 4, (n,), generator=g),
        torch.randint(0, 5, (n,), generator=g),
    )


def test_listing_output_independent_of_batch_order_and_content():
    torch.manual_seed(0)
    gnn = MarketGNN(fake_market(), d_model=16, layers=2, dropout=0.1).eval()
    loc, per, item = listings(1)
    out = gnn(loc, per, item)
    assert out.shape == (6, 16) and torch.isfinite(out).all()
    perm = torch.randperm(6, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(gnn(loc[perm], per[perm], item[perm]), out[perm])
    torch.testing.assert_close(gnn(loc[:1], per[:1], item[:1]), out[:1])  # alone in its batch
    # same indices -> same E_market, wherever they sit in the batch
    twice = gnn(loc[[0, 0]], per[[0, 0]], item[[0, 0]])
    torch.testing.assert_close(twice[0], twice[1])


def test_output_depends_on_graph_edges():
    torch.manual_seed(0)
    market = fake_market()
    gnn = MarketGNN(market, d_model=16, layers=2).eval()
    loc, per, item = listings(3)
    out = gnn(loc, per, item)
    cut = dict(market, edges={k: [] for k in market["edges"]})
    torch.manual_seed(0)
    gnn_cut = MarketGNN(cut, d_model=16, layers=2).eval()  # same init, no edges
    assert not torch.allclose(gnn_cut(loc, per, item), out, atol=1e-4)


def test_gradients_reach_embeddings_and_convs():
    torch.manual_seed(0)
    gnn = MarketGNN(fake_market(), d_model=16, layers=2)
    gnn(*listings(4)).square().sum().backward()
    for name, p in gnn.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert gnn.emb["location"].weight.grad.abs().sum() > 0
