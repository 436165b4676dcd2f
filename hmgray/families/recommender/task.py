"""The recommender task: Top-K items for each user from text x image x item graph.

:class:`RecommenderTask` is this family's ``hmgray.task.Task``: the arms
(``hmgray.families.recommender.config``), their search spaces, the model
(``hmgray.families.recommender.model``), BPR, the ranking evaluator and the data
(interaction shards + item / user / edge side tables, the synthetic generator).

Metrics (higher is better, ``direction = "max"``), per-user means over the users of a
split, full ranking over all items with the user's training items (and ``also_seen``)
masked; each user has one held-out item (leave-last-out), so:

* ``recall_K`` = Recall@K: 1 if the held-out item is in the user's top K, else 0;
* ``ndcg_K``   = NDCG@K: 1 / log2(rank + 1) for the item's 1-based rank <= K, else 0
  (the ideal DCG of one relevant item is 1).

They are computed with torchmetrics' retrieval metrics (``RetrievalRecall``,
``RetrievalNormalizedDCG``) on each user's top-20 list; a test checks them against the
formulas above. Selection is on validation Recall@20 (MMRec's choice).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import torch
from torch import Tensor
from torch.nn import functional as F

from hmgray.data.arrow import pad_lists
from hmgray.families.recommender.config import ARMS, SIZES, RecConfig
from hmgray.families.recommender.data.schema import REC_SHARDS
from hmgray.task import MetricSpec, Space, Task

__all__ = ["RankingEvaluator", "RecommenderTask", "bpr_loss", "ranking_metrics"]

KS = (10, 20)
TOP = max(KS)
METRIC_SPECS = tuple(
    MetricSpec(f"{kind}_{k}", f"{label}@{k}", "max", best=1.0)
    for kind, label in (("recall", "Recall"), ("ndcg", "NDCG"))
    for k in KS
)
ALSO_SEEN_WIDTH = 4  # also_seen holds the validation item of a test row: 1 is enough


def bpr_loss(out: Mapping[str, Tensor], reg_lambda: float) -> Tensor:
    """BPR: mean_b -ln sigmoid(y_ui - y_uj) + lambda ||Theta||^2 (float32).

    The write-up sums over the pairs; the mean keeps lambda independent of the batch
    size (the sum is the mean times B, so it is the same objective with lambda / B)."""
    diff = out["pos"].float() - out["neg"].float()
    return -F.logsigmoid(diff).mean() + reg_lambda * out["reg"].float()


def ranking_metrics(top: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Recall@K and NDCG@K (K in ``KS``), per-user means, with torchmetrics.

    Args: top (U, TOP) each user's top items, best first; target (U,) the held-out item.
    NaN when there are no users.
    """
    from torchmetrics.retrieval import RetrievalNormalizedDCG, RetrievalRecall

    if len(target) == 0:
        return {m.name: float("nan") for m in METRIC_SPECS}
    u, width = top.shape
    relevant = torch.as_tensor(top == target[:, None])  # (U, TOP)
    # torchmetrics counts only positive predictions as retrieved: scores TOP..1 by rank
    preds = torch.arange(width, 0, -1, dtype=torch.float32).repeat(u, 1)
    queries = torch.arange(u).repeat_interleave(width)
    out = {}
    for k in KS:
        for name, metric in (("recall", RetrievalRecall), ("ndcg", RetrievalNormalizedDCG)):
            m = metric(top_k=k, empty_target_action="neg")
            m.update(preds.flatten(), relevant.flatten(), queries)
            out[f"{name}_{k}"] = float(m.compute())
    return out


class RankingEvaluator:
    """Accumulates each user's top-``TOP`` items over batches; ``compute`` gives the
    metrics and, for every group ``name -> rate``, ``<name>_<metric>`` with that share of
    the item images removed (the model's ``rescore``), and ``ranking_ms_per_user``: the
    model's full-ranking wall time per user (its ``ranking_seconds``)."""

    def __init__(self, groups: Mapping[str, float] | None = None):
        self.groups = dict(groups or {})
        self.top: dict[str, list[np.ndarray]] = {"": [], **{g: [] for g in self.groups}}
        self.target: list[np.ndarray] = []
        self.ranking_seconds = 0.0

    @staticmethod
    def _top(scores: Tensor) -> np.ndarray:
        k = min(TOP, scores.shape[1])
        idx = torch.topk(scores.float(), k, dim=1).indices.cpu().numpy()
        return np.pad(idx, ((0, 0), (0, TOP - k)), constant_values=-1)

    def update(self, out: Mapping[str, Any], batch: Mapping[str, Any]) -> None:
        self.top[""].append(self._top(out["scores"]))
        for name, rate in self.groups.items():
            self.top[name].append(self._top(out["rescore"](float(rate))))
        self.target.append(batch["item"].cpu().numpy())
        self.ranking_seconds += float(out.get("ranking_seconds", 0.0))

    def compute(self) -> dict[str, float]:
        target = np.concatenate(self.target) if self.target else np.zeros(0, np.int64)
        out = {}
        for name, parts in self.top.items():
            top = np.concatenate(parts) if parts else np.zeros((0, TOP), np.int64)
            prefix = f"{name}_" if name else ""
            out.update({prefix + k: v for k, v in ranking_metrics(top, target).items()})
        # wall time of the full ranking (all items scored, seen ones masked) per user
        out["ranking_ms_per_user"] = 1000 * self.ranking_seconds / max(len(target), 1)
        return out


def decode_rows(table: pa.Table) -> dict[str, np.ndarray]:
    """Interaction rows -> ``user``, ``item`` (int64) and ``also_seen`` (B, 4), -1 padded."""
    also, _ = pad_lists(table.column("also_seen"), ALSO_SEEN_WIDTH, -1, np.int64)
    return {
        "user": table.column("user").to_numpy().astype(np.int64),
        "item": table.column("item").to_numpy().astype(np.int64),
        "also_seen": also,
    }


_COMMON: Space = {
    "lr": {"type": "float", "low": 5e-4, "high": 1e-2, "log": True},
    "reg_lambda": {"type": "float", "low": 1e-7, "high": 1e-4, "log": True},
    "d": {"type": "categorical", "choices": [16, 32, 64]},
    "dropout": {"type": "float", "low": 0.0, "high": 0.3, "log": False},
}
_FUSION: Space = {"attn_dim": {"type": "categorical", "choices": [16, 32, 64]}}
_FM: Space = {"fm_k": {"type": "categorical", "choices": [8, 16, 32]}}


class RecommenderTask(Task):
    """Modality ablation of the multimodal recommender (a star around ``fusion_fm``)."""

    name = "recommender"
    arms = ARMS
    reference_arm = "fusion_fm"
    ladder = "star"
    config_cls = RecConfig
    metrics = METRIC_SPECS
    selection_metric = "recall_20"
    loss_label = "val. BPR loss"
    row_noun = "interactions"
    shards = REC_SHARDS

    def space(self, arm: str) -> Space:
        """Learning rate, BPR's lambda, the fusion width d and dropout for every arm; the
        fusion's attention width for the attention arms, FM factors for the FM arm."""
        self.check_arm(arm)
        space = dict(_COMMON)
        if arm.startswith("fusion"):
            space.update(_FUSION)
        if arm.endswith("_fm"):
            space.update(_FM)
        return space

    def build_model(self, config: RecConfig, context: Mapping[str, Any]):
        from hmgray.families.recommender.model import MultimodalRecommender

        return MultimodalRecommender(config, context)

    def loss(self, out, batch, config: RecConfig) -> Tensor:
        return bpr_loss(out, config.reg_lambda)

    def evaluator(self, config, groups=None) -> RankingEvaluator:
        return RankingEvaluator(groups)

    def oracle(self, batch) -> dict[str, Any]:
        item = batch["item"].long()
        scores = torch.zeros(len(item), int(item.max()) + 2)
        scores[torch.arange(len(item)), item] = 1.0
        return {"scores": scores}

    def batch_rows(self, batch) -> int:
        return int(batch["user"].shape[0])

    def decoder(self, context, settings):
        return decode_rows

    def generate(self, out_uri: str, n: int, seed: int):
        from hmgray.families.recommender.data.synth import write_synthetic

        return write_synthetic(out_uri, n, seed)

    def load_context(self, manifest) -> dict[str, Any]:
        from hmgray.families.recommender.data.context import load_context

        return load_context(manifest)

    def fixed_settings(self, manifest) -> dict[str, Any]:
        """The CPU size (``SIZES["cpu"]``), batch 256 and no AdamW weight decay: BPR's
        lambda ||Theta||^2 is the regulariser (searched)."""
        return {**SIZES["cpu"], "image_blocks": list(SIZES["cpu"]["image_blocks"]),
                "batch_size": 256, "weight_decay": 0.0}  # fmt: skip
