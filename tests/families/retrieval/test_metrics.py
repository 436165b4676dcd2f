"""Retrieval metrics: hand-worked ranked lists, and torchmetrics as the reference."""

import pytest
import torch
from torchmetrics.functional.retrieval import retrieval_average_precision, retrieval_hit_rate

from hmgray.families.retrieval.metrics import rank_metrics


def test_hand_worked_list():
    # one query, identity 7; gallery ranked by similarity: correct at ranks 2 and 4 of 5
    sim = torch.tensor([[0.9, 0.8, 0.7, 0.6, 0.5]])
    gallery = torch.tensor([1, 7, 2, 7, 3])
    m = rank_metrics(sim, torch.tensor([7]), gallery)
    assert m["r1"] == 0.0 and m["r5"] == 100.0 and m["r10"] == 100.0
    assert m["map"] == pytest.approx(100 * (1 / 2 + 2 / 4) / 2)
    assert m["minp"] == pytest.approx(100 * 2 / 4)


def test_perfect_and_worst_rankings():
    ids = torch.tensor([0, 0, 1, 1])
    sim = (ids[:, None] == ids[None, :]).float()  # each query's identity ranked first
    m = rank_metrics(sim, ids, ids)
    assert m == {"r1": 100.0, "r5": 100.0, "r10": 100.0, "map": 100.0, "minp": 100.0}
    worst = rank_metrics(-sim, ids, ids)
    assert worst["r1"] == 0.0 and worst["minp"] == pytest.approx(50.0)  # 2 found at rank 4


def test_ties_keep_gallery_order():
    # a constant model: ties are broken by gallery position, not by chance
    sim = torch.zeros(2, 3)
    m = rank_metrics(sim, torch.tensor([5, 6]), torch.tensor([6, 5, 5]))
    assert m["r1"] == 50.0


def test_agrees_with_torchmetrics_on_random_scores():
    g = torch.Generator().manual_seed(0)
    gallery = torch.randint(0, 8, (60,), generator=g)
    queries = gallery[torch.randperm(60, generator=g)[:25]]
    # positive scores: torchmetrics counts an item with a score <= 0 as not retrieved
    sim = torch.rand(25, 60, generator=g) + 0.1
    m = rank_metrics(sim, queries, gallery, chunk=7)  # chunks must not change anything
    target = queries[:, None] == gallery[None, :]
    ap = torch.stack([retrieval_average_precision(s, t) for s, t in zip(sim, target, strict=True)])
    assert m["map"] == pytest.approx(100 * float(ap.mean()), abs=1e-4)
    for k in (1, 5, 10):
        hr = torch.stack(
            [retrieval_hit_rate(s, t, top_k=k) for s, t in zip(sim, target, strict=True)]
        )
        assert m[f"r{k}"] == pytest.approx(100 * float(hr.mean()), abs=1e-4)
    # mINP by hand: n correct / rank of the last correct
    inp = []
    for s, t in zip(sim, target, strict=True):
        ranked = t[torch.argsort(s, descending=True)]
        inp.append(ranked.sum() / (ranked.nonzero().max() + 1))
    assert m["minp"] == pytest.approx(100 * float(torch.stack(inp).mean()), abs=1e-4)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="no image in the gallery"):
        rank_metrics(torch.zeros(1, 2), torch.tensor([9]), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="query_ids"):
        rank_metrics(torch.zeros(2, 2), torch.tensor([1]), torch.tensor([1, 2]))
