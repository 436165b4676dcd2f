"""The generalized category discovery task (HypGCD).

:class:`GcdTask` is this family's ``hmgray.task.Task``: three arms, a cumulative ladder
(``euclidean`` -> ``hcl`` -> ``lhl``; ``hmgray.families.gcd.config``), their search spaces,
the model (``model.py``), the losses (``losses.py``), the evaluator and the data
(``data/``).

**Evaluation.** A row's cluster is the prototype classifier's argmax. On a split the
evaluator reports

* ``all`` / ``old`` / ``new``: clustering accuracy with one Hungarian matching over all
  classes jointly (``metrics.cluster_accuracy``), in percent: on ``test`` (the unlabelled
  training images) the numbers the GCD literature reports;
* ``known``: plain accuracy (argmax = label, no matching) on the rows of old classes,
  in percent. **Selection is on validation ``known``**: accuracy on labelled images of
  old classes held out of training, the one score that needs no test label. (The
  released code reports its best epoch by accuracy on the unlabelled images, test labels
  included; here nothing is picked by a test score.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import torch
from torch import Tensor

from hmgray.data.images import decode_images
from hmgray.families.gcd.config import ARMS, GcdConfig, stages
from hmgray.families.gcd.data.schema import GCD_SHARDS
from hmgray.families.gcd.losses import gcd_loss
from hmgray.families.gcd.metrics import cluster_accuracy
from hmgray.nn.hyperbolic import check_finite
from hmgray.task import MetricSpec, Space, Task

__all__ = ["ClusterEvaluator", "GcdTask", "RowDecoder"]

METRIC_SPECS = (
    MetricSpec("all", "All", "max", "%", best=100.0),
    MetricSpec("old", "Old", "max", "%", best=100.0),
    MetricSpec("new", "New", "max", "%", best=100.0),
    MetricSpec("known", "Known", "max", "%", best=100.0),
)


class ClusterEvaluator:
    """Accumulates each row's predicted cluster, label and old flag; scores at the end."""

    def __init__(self, groups: Mapping[str, Any] | None = None):
        self.pred: list[np.ndarray] = []
        self.label: list[np.ndarray] = []
        self.old: list[np.ndarray] = []

    def update(self, out: Mapping[str, Any], batch: Mapping[str, Any]) -> None:
        logits = out["logits"]
        n = int(batch["label"].shape[0])
        self.pred.append(np.asarray(logits[:n].detach().argmax(-1).cpu()))  # first view
        self.label.append(np.asarray(batch["label"].cpu()))
        self.old.append(np.asarray(batch["old"].cpu()).astype(bool))

    def compute(self) -> dict[str, float]:
        if not self.pred:
            return {m.name: float("nan") for m in METRIC_SPECS}
        pred, label = np.concatenate(self.pred), np.concatenate(self.label)
        old = np.concatenate(self.old)
        out = {k: 100.0 * v for k, v in cluster_accuracy(label, pred, old).items()}
        out["known"] = 100.0 * float((pred[old] == label[old]).mean()) if old.any() else np.nan
        return out


class RowDecoder:
    """Shard rows -> arrays: ``image`` uint8 (B, H, W, 3) resized to the context's
    ``image_size``, ``label`` int64, ``labelled`` and ``old`` bool."""

    def __init__(self, image_size: tuple[int, int]):
        self.image_size = tuple(image_size)

    def __call__(self, table: pa.Table) -> dict[str, np.ndarray]:
        images = decode_images(table, self.image_size)
        return {
            "image": images,
            "label": table.column("label").to_numpy().astype(np.int64),
            "labelled": table.column("labelled").to_numpy(zero_copy_only=False).astype(bool),
            "old": table.column("old").to_numpy(zero_copy_only=False).astype(bool),
        }


_ORACLE_WIDTH = 1024

_COMMON: Space = {
    "lr": {"type": "float", "low": 3e-4, "high": 3e-3, "log": True},
    "weight_decay": {"type": "float", "low": 1e-4, "high": 0.1, "log": True},
}
_STAGE_SPACE: dict[str, Space] = {
    "hcl": {
        "c": {"type": "float", "low": 0.01, "high": 1.0, "log": True},
        "clip_r": {"type": "float", "low": 1.0, "high": 3.0},
        "tau": {"type": "float", "low": 0.1, "high": 1.0, "log": True},
        "alpha": {"type": "float", "low": 0.01, "high": 1.0, "log": True},
    },
    "lhl": {
        "delta": {"type": "float", "low": 0.01, "high": 1.0, "log": True},
        "beta": {"type": "float", "low": 0.1, "high": 10.0, "log": True},
    },
}


class GcdTask(Task):
    """Generalized category discovery, a cumulative ladder ``euclidean`` -> ``hcl`` ->
    ``lhl`` (full HypGCD)."""

    name = "gcd"
    arms = ARMS
    reference_arm = "lhl"
    ladder = "cumulative"
    config_cls = GcdConfig
    metrics = METRIC_SPECS
    selection_metric = "known"
    loss_label = "val. loss"
    row_noun = "images"  # the synthetic size flag is --n-images
    transductive = True  # test = the unlabelled training images
    shards = GCD_SHARDS

    def space(self, arm: str) -> Space:
        """Learning rate and weight decay for every arm; curvature, clipping radius, class
        loss temperature and weight from ``hcl`` on; the margin and the hierarchy loss's
        weight for ``lhl``."""
        space = dict(_COMMON)
        for stage in ("hcl", "lhl"):
            if stage in stages(arm):
                space.update(_STAGE_SPACE[stage])
        return space

    def build_model(self, config: GcdConfig, context: Mapping[str, Any]):
        from hmgray.families.gcd.model import GcdModel

        return GcdModel(config, context)

    def loss(self, out, batch, config: GcdConfig) -> Tensor:
        terms = gcd_loss(out, batch, config)
        return check_finite(terms["total"], f"category discovery loss (arm {config.arm})")

    def evaluator(self, config, groups=None) -> ClusterEvaluator:
        return ClusterEvaluator(groups)

    def oracle(self, batch) -> dict[str, Any]:
        labels = batch["label"].long()
        if int(labels.max()) >= _ORACLE_WIDTH:
            raise ValueError(f"the oracle encodes classes below {_ORACLE_WIDTH}")
        return {"logits": torch.nn.functional.one_hot(labels, _ORACLE_WIDTH).float()}

    def batch_rows(self, batch) -> int:
        return int(batch["label"].shape[0])

    def decoder(self, context, settings):
        return RowDecoder(tuple(context["image_size"]))

    def generate(self, out_uri: str, n: int, seed: int):
        from hmgray.families.gcd.data.synth import write_synthetic

        return write_synthetic(out_uri, n, seed)

    def fixed_settings(self, manifest) -> dict[str, Any]:
        """Batch 128 (the released code's): the local hierarchy loss's neighbours and
        the class means are taken within a batch."""
        return {"batch_size": 128}
