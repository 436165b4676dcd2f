"""The click-through task (MGIPF): fine- and coarse-grained interest heads, soft coarse loss.

:class:`CtrTask` is this family's ``hmgray.task.Task``: six arms (``din``/``deepfm`` x
``fine``/``hard``/``mgipf``, ``hmgray.families.ctr.config``), their search spaces, the
model (``hmgray.families.ctr.model``), the loss, the evaluator
(``hmgray.families.ctr.metrics``) and the data (``hmgray.families.ctr.data``).

The loss of a row i (:func:`mgipf_loss`), faithful to the authors' released
``models/basemodel.py``::

    L = BCE(y_hat, y) + w_coarse * sum_c w_i^c BCE(sigmoid(z_c), y_c)
        + w_main * BCE(sigmoid(z_m), y) + l2 * ||embeddings||^2

    w_i^c = 1 if y = 1;  w_pn if y = 0 and y_c = 1;  w_nn if y = 0 and y_c = 0

(``hard`` arms: w_pn = w_nn = 1; ``fine`` arms: ``BCE(sigmoid(z_m), y)`` alone). The
authors sum over the batch (batch 8192, Adam); here each term is a mean over the batch,
the same objective scaled by 1/B, so that the searched weights do not depend on the
batch size (Adam is invariant to that scale up to its epsilon; ``l2`` is searched on the
same scale).
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
from hmgray.families.ctr.config import ARMS, CtrConfig, arm_parts
from hmgray.families.ctr.data.schema import CTR_SHARDS
from hmgray.families.ctr.metrics import ctr_metrics
from hmgray.task import MetricSpec, Space, Task

__all__ = ["CtrEvaluator", "CtrTask", "RowDecoder", "mgipf_loss"]

METRIC_SPECS = (
    MetricSpec("auc", "AUC", "max", best=1.0),
    MetricSpec("gauc", "gAUC", "max", best=1.0),
    MetricSpec("logloss", "Logloss", "min", best=0.0),
    MetricSpec("auc_tail", "AUC (long tail)", "max", best=1.0),
)


def sample_weights(y: Tensor, y_c: Tensor, w_pn: float, w_nn: float) -> Tensor:
    """MGIPF's soft weight of each row's coarse term: 1, ``w_pn`` or ``w_nn``."""
    neg = torch.where(y_c > 0.5, torch.full_like(y_c, w_pn), torch.full_like(y_c, w_nn))
    return torch.where(y > 0.5, torch.ones_like(y_c), neg)


def mgipf_loss(out: Mapping[str, Tensor], batch: Mapping[str, Tensor], config: CtrConfig,
               coarse: tuple[str, ...]) -> dict[str, Tensor]:  # fmt: skip
    """The loss terms (float32, batch means) and their weighted ``total``."""
    y = batch["label"].float()
    bce = F.binary_cross_entropy_with_logits
    terms = {"main": bce(out["z_main"].float(), y)}
    if config.mode == "fine":
        total = terms["main"]
    else:
        terms["output"] = bce(out["logit"].float(), y)
        coarse_sum = out["logit"].new_zeros((), dtype=torch.float32)
        for k, c in enumerate(coarse):
            y_c = batch[f"y_{c}"].float()
            w = sample_weights(y, y_c, config.w_pn, config.w_nn)
            per_row = bce(out["z_coarse"][:, k].float(), y_c, reduction="none")
            terms[f"coarse_{c}"] = (w * per_row).mean()
            coarse_sum = coarse_sum + terms[f"coarse_{c}"]
        total = terms["output"] + config.w_coarse * coarse_sum + config.w_main * terms["main"]
    if "l2" in out:
        total = total + config.l2 * out["l2"].float()
    terms["total"] = total
    return terms


class CtrEvaluator:
    """Accumulates labels, predicted click probabilities, users and tail flags."""

    def __init__(self, groups: Mapping[str, Any] | None = None):
        self.parts: dict[str, list[np.ndarray]] = {"y": [], "p": [], "user": [], "tail": []}

    def update(self, out: Mapping[str, Any], batch: Mapping[str, Any]) -> None:
        self.parts["p"].append(torch.sigmoid(out["logit"].float()).detach().cpu().numpy())
        self.parts["y"].append(batch["label"].cpu().numpy())
        self.parts["user"].append(batch["user"].cpu().numpy())
        self.parts["tail"].append(batch["tail"].cpu().numpy().astype(bool))

    def compute(self) -> dict[str, float]:
        cat = {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in self.parts.items()}
        return ctr_metrics(
            cat["y"].astype(np.int64), cat["p"].astype(np.float64), cat["user"],
            cat["tail"].astype(bool),
        )  # fmt: skip


class RowDecoder:
    """Shard rows -> tensors: every field column (int64), the history (B, max_history)
    0-padded, newest first, and label, pseudo-labels and tail flag."""

    def __init__(self, fields: tuple[str, ...], max_history: int):
        self.fields = fields
        self.max_history = max_history

    def __call__(self, table: pa.Table) -> dict[str, np.ndarray]:
        out = {f: table.column(f).to_numpy().astype(np.int64) for f in self.fields}
        for c in ("brand", "cate"):
            out[f"hist_{c}"], _ = pad_lists(
                table.column(f"hist_{c}"), self.max_history, 0, np.int64
            )
        out["label"] = table.column("label").to_numpy().astype(np.float32)
        out["y_brand"] = table.column("y_brand").to_numpy().astype(np.float32)
        out["y_cate"] = table.column("y_cate").to_numpy().astype(np.float32)
        out["tail"] = table.column("tail").to_numpy(zero_copy_only=False).astype(np.bool_)
        return out


_COMMON: Space = {
    "lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
    "embedding_dim": {"type": "categorical", "choices": [8, 16, 32]},
    "l2": {"type": "float", "low": 1e-8, "high": 1e-2, "log": True},
}
_COARSE: Space = {
    "w_coarse": {"type": "float", "low": 0.01, "high": 10.0, "log": True},
    "w_main": {"type": "float", "low": 0.0, "high": 1.0, "log": False},
}
_SOFT: Space = {
    "w_pn": {"type": "float", "low": 0.0, "high": 1.0, "log": False},
    "w_nn": {"type": "float", "low": 0.0, "high": 1.0, "log": False},
}


class CtrTask(Task):
    """MGIPF's coarse-loss ablation, a cumulative ladder per backbone
    (``fine`` -> ``hard`` -> ``mgipf``)."""

    name = "ctr"
    # clicks are ~2.6% of rows and the test day a quarter: 1,000 rows give ~6 test clicks
    min_synthetic_rows = 1000
    arms = ARMS
    reference_arm = "din_mgipf"
    ladder = "cumulative"
    config_cls = CtrConfig
    metrics = METRIC_SPECS
    selection_metric = "auc"
    loss_label = "val. loss"
    row_noun = "impressions"
    shards = CTR_SHARDS

    def space(self, arm: str) -> Space:
        """Learning rate, embedding size and L2 for every arm; ``w_coarse`` (log, 0.01 to
        10) and ``w_main`` for the arms with coarse heads; ``w_pn`` and ``w_nn`` for the
        soft coarse loss."""
        _, mode = arm_parts(arm)
        space = dict(_COMMON)
        if mode != "fine":
            space.update(_COARSE)
        if mode == "mgipf":
            space.update(_SOFT)
        return space

    def arm_config(self, arm: str) -> dict[str, Any]:
        """The arm; the hard arms fix w_pn = w_nn = 1."""
        _, mode = arm_parts(arm)
        return {"arm": arm, **({"w_pn": 1.0, "w_nn": 1.0} if mode == "hard" else {})}

    def references(self, arms) -> dict[str, str]:
        """Each arm's reference in the tables: the ``mgipf`` arm of its backbone."""
        out = {}
        for arm in arms:
            backbone, _ = arm_parts(arm)
            if f"{backbone}_mgipf" in arms:
                out[arm] = f"{backbone}_mgipf"
        return out

    def build_model(self, config: CtrConfig, context: Mapping[str, Any]):
        from hmgray.families.ctr.model import CtrModel

        return _WithL2(CtrModel(config, context))

    def loss(self, out, batch, config: CtrConfig) -> Tensor:
        return mgipf_loss(out, batch, config, tuple(out["coarse"]))["total"]

    def evaluator(self, config, groups=None) -> CtrEvaluator:
        return CtrEvaluator(groups)

    def oracle(self, batch) -> dict[str, Any]:
        y = batch["label"].float()
        # a perfect ranking whose probabilities are also calibrated (logloss -> 0)
        return {"logit": (2 * y - 1) * 30.0}

    def batch_rows(self, batch) -> int:
        return int(batch["label"].shape[0])

    def decoder(self, context, settings):
        return RowDecoder(tuple(context["fields"]), int(context["max_history"]))

    def generate(self, out_uri: str, n: int, seed: int):
        from hmgray.families.ctr.data.synth import write_synthetic

        return write_synthetic(out_uri, n, seed)

    def fixed_settings(self, manifest) -> dict[str, Any]:
        """Batch 256 and no AdamW weight decay (``l2`` on the embeddings is the
        regulariser, searched); the history length of the data. (The authors' batch is
        8192 over 26 M rows, thousands of steps per epoch; 256 keeps a few hundred steps per
        epoch on the default synthetic data.)"""
        return {
            "batch_size": 256,
            "weight_decay": 0.0,
            "max_history": int(manifest.context["max_history"]),
        }


class _WithL2(torch.nn.Module):
    """The model, with its embedding L2 and coarse granularities in the outputs (the
    training loop hands the loss only ``out``, ``batch`` and the config)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, batch):
        out = self.model(batch)
        out["coarse"] = self.model.coarse
        if self.training:
            out["l2"] = self.model.embedding_l2()
        return out
