"""Graph matching network: permutation invariance, cross-graph formula, graph building."""

import math

import torch

from hmgray.families.valuation.layers.gmn import (
    GraphMatchingNetwork,
    StructuralMatching,
    box_relative_position,
    build_scene_graph,
    build_text_tree,
    cross_graph_attention,
    region_patch_weights,
)
from tests.fakes import fake_batch

D = 16


def random_graphs(counts, seed, d=D, edge_dim=D):
    """Batched random graphs, nodes sorted by graph; ~half of the ordered pairs are edges."""
    g = torch.Generator().manual_seed(seed)
    batch = torch.cat([torch.full((n,), b) for b, n in enumerate(counts)]).long()
    x = torch.randn(len(batch), d, generator=g)
    same = batch[:, None] == batch[None, :]
    pick = (
        same
        & ~torch.eye(len(batch), dtype=torch.bool)
        & (torch.rand(len(batch), len(batch), generator=g) > 0.5)
    )
    edge_index = pick.nonzero().t()
    edge_attr = torch.randn(edge_index.shape[1], edge_dim, generator=g)
    return x, edge_index, edge_attr, batch


def permute(x, edge_index, edge_attr, batch, perm, edge_perm):
    """Node k of the new order is old node perm[k]; edges remapped and reordered."""
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(len(perm))
    return x[perm], inv[edge_index][:, edge_perm], edge_attr[edge_perm], batch[perm]


def within_graph_perm(batch, g):
    perm = torch.arange(len(batch))
    for b in batch.unique():
        idx = (batch == b).nonzero()[:, 0]
        perm[idx] = idx[torch.randperm(len(idx), generator=g)]
    return perm


def test_gmn_invariant_to_node_order():
    torch.manual_seed(0)
    gmn = GraphMatchingNetwork(D, edge_dim=D, layers=3).eval()
    g1 = random_graphs([4, 3, 0], seed=1)
    g2 = random_graphs([4, 2, 3], seed=2)
    out = gmn(*g1, *g2, num_graphs=3)
    assert out.shape == (3, D) and torch.isfinite(out).all()
    g = torch.Generator().manual_seed(3)
    for perm_fn in (
        lambda b: within_graph_perm(b, g),
        lambda b: torch.randperm(len(b), generator=g),
    ):
        p1 = permute(*g1, perm_fn(g1[3]), torch.randperm(g1[1].shape[1], generator=g))
        p2 = permute(*g2, perm_fn(g2[3]), torch.randperm(g2[1].shape[1], generator=g))
        torch.testing.assert_close(gmn(*p1, *p2, num_graphs=3), out, atol=1e-5, rtol=1e-5)


def test_gmn_output_depends_on_structure_and_pairing():
    torch.manual_seed(0)
    gmn = GraphMatchingNetwork(D, edge_dim=D, layers=2).eval()
    g1 = random_graphs([4, 3], seed=1)
    g2 = random_graphs([4, 2], seed=2)
    out = gmn(*g1, *g2, num_graphs=2)
    x, ei, ea, b = g1
    no_edges = gmn(x, ei[:, :0], ea[:0], b, *g2, num_graphs=2)
    assert not torch.allclose(no_edges, out, atol=1e-4)
    # swapping G2 of pair 1 for another graph changes pair 1 only
    x2, ei2, ea2, b2 = g2
    x2_new = x2.clone()
    x2_new[b2 == 1] = torch.randn(int((b2 == 1).sum()), D)
    out_new = gmn(*g1, x2_new, ei2, ea2, b2, num_graphs=2)
    torch.testing.assert_close(out_new[0], out[0])
    assert not torch.allclose(out_new[1], out[1], atol=1e-4)


def test_cross_graph_attention_matches_formula():
    g = torch.Generator().manual_seed(0)
    h1, b1 = torch.randn(6, D, generator=g), torch.tensor([0, 0, 1, 1, 1, 2])
    h2, b2 = torch.randn(4, D, generator=g), torch.tensor([1, 0, 0, 1])  # unsorted on purpose
    mu1, mu2 = cross_graph_attention(h1, b1, h2, b2, num_graphs=3)
    for ha, ba, hb, bb, mu in ((h1, b1, h2, b2, mu1), (h2, b2, h1, b1, mu2)):
        for i in range(len(ha)):
            others = hb[bb == ba[i]]
            if len(others) == 0:
                expect = torch.zeros(D)  # graph 2 of pair 2 is empty
            else:
                a = torch.softmax(others @ ha[i] / math.sqrt(D), 0)  # a_ij over j
                expect = (a[:, None] * (ha[i] - others)).sum(0)  # sum_j a_ij (h_i - h'_j)
            torch.testing.assert_close(mu[i], expect, atol=1e-5, rtol=1e-5)


def test_scene_graph_edges_and_relative_positions():
    boxes = torch.tensor(
        [
            [[0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0], [0.25, 0.0, 0.75, 0.25], [0, 0, 0, 0]],
            [[0.1, 0.1, 0.2, 0.2], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
        ]
    )
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]]).bool()
    g = build_scene_graph(boxes, mask)
    assert g["batch"].tolist() == [0, 0, 0, 1]
    assert g["edge_index"].shape == (2, 6)  # 3 * 2 ordered pairs, none in listing 1
    pairs = {tuple(e) for e in g["edge_index"].t().tolist()}
    assert pairs == {(j, i) for i in range(3) for j in range(3) if i != j}
    attr = {tuple(e): a for e, a in zip(g["edge_index"].t().tolist(), g["edge_attr"], strict=True)}
    torch.testing.assert_close(attr[(1, 0)], torch.tensor([0.5, 0.5, 0.0, 0.0]))
    torch.testing.assert_close(attr[(2, 0)], torch.tensor([0.25, -0.125, 0.0, math.log(0.5)]))
    for (j, i), a in attr.items():  # antisymmetry
        torch.testing.assert_close(attr[(i, j)], -a)


def test_relative_position_of_degenerate_box_is_finite():
    rel = box_relative_position(
        torch.tensor([0.3, 0.3, 0.3, 0.3]), torch.tensor([0.0, 0.0, 1.0, 1.0])
    )
    assert torch.isfinite(rel).all()
    torch.testing.assert_close(rel[2], torch.tensor(math.log(1e-3)))


def test_text_tree_edges():
    word_mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 0, 0, 0], [0, 0, 0, 0, 0]]).bool()
    heads = torch.tensor([[-1, 0, 0, 2, -1], [1, -1, -1, -1, -1], [-1, -1, -1, -1, -1]])
    g = build_text_tree(word_mask, heads)
    assert g["batch"].tolist() == [0, 0, 0, 0, 1, 1]
    edges = {
        (s, d, t)
        for (s, d), t in zip(g["edge_index"].t().tolist(), g["edge_type"].tolist(), strict=True)
    }
    child_head = {(1, 0), (2, 0), (3, 2), (4, 5)}
    assert edges == {(c, h, 0) for c, h in child_head} | {(h, c, 1) for c, h in child_head}


def test_region_patch_weights():
    grid = (4, 4)  # centres at 0.125, 0.375, ...
    boxes = torch.tensor(
        [
            [
                [0.0, 0.0, 0.5, 0.5],  # covers patches 0, 1, 4, 5
                [0.6, 0.6, 0.61, 0.61],  # contains no centre -> the nearest, patch 10
            ]
        ]
    )
    w = region_patch_weights(boxes, grid)
    expect0 = torch.zeros(16)
    expect0[[0, 1, 4, 5]] = 0.25
    torch.testing.assert_close(w[0, 0], expect0)
    assert w[0, 1].argmax().item() == 10 and w[0, 1].sum().item() == 1.0


def test_structural_matching_invariant_to_padding_slot_order():
    torch.manual_seed(0)
    b = fake_batch(3, max_words=8, max_regions=4, seed=5)
    sm = StructuralMatching(D, layers=2, num_region_labels=8, grid=(6, 6)).eval()
    v, t = torch.randn(3, 36, D), torch.randn(3, 8, D)
    wm = b["tokens"] > 0
    args = (
        v,
        b["has_image"],
        b["scene_boxes"],
        b["scene_labels"],
        b["scene_mask"] > 0,
        t,
        wm,
        b["text_heads"],
    )
    out = sm(*args)
    assert out.shape == (3, D) and torch.isfinite(out).all()
    rp, wp = torch.tensor([2, 0, 3, 1]), torch.tensor([5, 3, 7, 0, 6, 1, 4, 2])
    inv = torch.empty_like(wp)
    inv[wp] = torch.arange(8)
    heads = b["text_heads"][:, wp]
    heads = torch.where(heads >= 0, inv[heads.clamp(min=0)], heads)  # head positions remapped
    out_p = sm(
        v,
        b["has_image"],
        b["scene_boxes"][:, rp],
        b["scene_labels"][:, rp],
        b["scene_mask"][:, rp] > 0,
        t[:, wp],
        wm[:, wp],
        heads,
    )
    torch.testing.assert_close(out_p, out, atol=1e-5, rtol=1e-5)


def test_the_position_signal_starts_at_the_scale_of_the_label_embeddings():
    # e_pos ("part of kind k at offset o") is what detachment is read from: at
    # initialisation it must not be drowned by the edge encoder's other inputs, or the
    # meso and full arms learn detachment late and only in some seeds
    torch.manual_seed(0)
    b = fake_batch(16, max_words=8, max_regions=4, seed=3)
    sm = StructuralMatching(48, layers=1, num_region_labels=8, grid=(6, 6)).eval()
    seen = {}
    sm.scene_edge.register_forward_pre_hook(lambda _, inp: seen.update(x=inp[0]))
    with torch.no_grad():
        sm(
            torch.randn(16, 36, 48),
            b["has_image"],
            b["scene_boxes"],
            b["scene_labels"],
            b["scene_mask"] > 0,
            torch.randn(16, 8, 48),
            b["tokens"] > 0,
            b["text_heads"],
        )
    x = seen["x"]  # (E, D + 4 + 2 * label dim): [e_pos, offset, label_j, label_i]
    e_pos, labels = x[:, :48], x[:, 52:]
    ratio = float(e_pos.pow(2).mean().sqrt() / labels.pow(2).mean().sqrt())
    assert 0.5 < ratio < 2.0, ratio
