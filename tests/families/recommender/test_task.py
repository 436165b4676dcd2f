"""The recommender task: ranking metrics by hand, the evaluator, BPR, spaces, the config."""

import math

import numpy as np
import pytest
import torch

from hmgray.errors import ConfigError
from hmgray.families.recommender.config import RecConfig
from hmgray.families.recommender.task import RankingEvaluator, ranking_metrics
from hmgray.task import get_task


def _hand(top, target, k):
    """Recall@k and NDCG@k with one relevant item per user, from their definitions."""
    recall, ndcg = [], []
    for row, t in zip(top, target, strict=True):
        ranks = [r for r, item in enumerate(row[:k], start=1) if item == t]
        recall.append(1.0 if ranks else 0.0)
        ndcg.append(1.0 / math.log2(ranks[0] + 1) if ranks else 0.0)
    return np.mean(recall), np.mean(ndcg)


def test_ranking_metrics_match_a_hand_computation():
    rng = np.random.default_rng(0)
    top = np.stack([rng.permutation(50)[:20] for _ in range(40)])
    target = np.where(rng.random(40) < 0.6, top[np.arange(40), rng.integers(0, 20, 40)], 99)
    got = ranking_metrics(top, target)
    for k in (10, 20):
        recall, ndcg = _hand(top, target, k)
        assert got[f"recall_{k}"] == pytest.approx(recall)
        assert got[f"ndcg_{k}"] == pytest.approx(ndcg)


def test_a_hit_at_rank_one_and_three():
    top = np.array([[7] + list(range(20, 39)), [1, 2, 7] + list(range(40, 57))])
    got = ranking_metrics(top, np.array([7, 7]))
    assert got["recall_10"] == 1.0
    assert got["ndcg_10"] == pytest.approx((1.0 + 1.0 / math.log2(4)) / 2)


def test_evaluator_accumulates_and_scores_the_image_removal_groups():
    ev = RankingEvaluator({"drop50": 0.5})
    calls = []

    def rescore(rate):
        calls.append(rate)
        return torch.tensor([[0.0, 1.0, 2.0]])  # item 2 first

    out = {"scores": torch.tensor([[3.0, 1.0, 2.0]]), "rescore": rescore, "ranking_seconds": 0.5}
    ev.update(out, {"item": torch.tensor([0])})
    ev.update(out, {"item": torch.tensor([1])})
    out = ev.compute()
    assert out["ranking_ms_per_user"] == pytest.approx(500.0)  # 1 s over 2 users
    assert calls == [0.5, 0.5]
    assert out["recall_10"] == 1.0  # 3 items: everything is in the top 10
    assert out["ndcg_10"] == pytest.approx((1.0 + 1.0 / math.log2(4)) / 2)
    assert out["drop50_ndcg_10"] == pytest.approx((1 / math.log2(4) + 1 / math.log2(3)) / 2)


def test_every_arm_searches_the_common_knobs_and_only_its_own_parts():
    task = get_task("recommender")
    common = {"lr", "reg_lambda", "d", "dropout"}
    assert set(task.space("graph")) == common
    assert set(task.space("fusion")) == common | {"attn_dim"}
    assert set(task.space("fusion_fm")) == common | {"attn_dim", "fm_k"}


def test_config_refuses_unknown_arms_and_missing_image_modes():
    with pytest.raises(ConfigError, match="unknown arm"):
        RecConfig(arm="audio")
    with pytest.raises(ConfigError, match="missing_image"):
        RecConfig(missing_image="zero")
    assert RecConfig(image_blocks=[1, 1, 1, 1]).image_blocks == (1, 1, 1, 1)
