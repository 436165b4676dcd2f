"""The valuation task: second-hand item price prediction with HMG-Net.

:class:`ValuationTask` is this family's ``hmgray.task.Task``: the ablation arms and their
stage switches, the search spaces, the model factory, the training loss, the evaluator
with its metrics, and the data (listing shards with the market graph as context, the
decoder, the synthetic generator).

Metrics (all lower is better, ``direction = "min"``), on numpy arrays of prices in
currency units:

* ``mse``        mean (pred - target)^2                                  currency^2
* ``mae``        mean |pred - target|                                    currency units
* ``mape``       100 * mean |pred - target| / |target|, rows with target > 0   percent
* ``mse_subtle`` MSE over the rows with ``subtle == 1`` (listings whose defect is subtle,
                 contracts §3); NaN when there are none                 currency^2

MAPE skips rows with target == 0 (prices may be 0, contracts §1): their percentage error
is undefined, and one such row would make the mean infinite. NaN if no row is left.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from hmgray.families.valuation.config import ARM_STAGES, ARMS, HMGNetConfig
from hmgray.families.valuation.data.listing_shards import LISTING_SHARDS
from hmgray.families.valuation.space import hmgnet_space
from hmgray.task import MetricSpec, Task

__all__ = [
    "ARMS",
    "METRICS",
    "REFERENCE_ARM",
    "ValuationEvaluator",
    "ValuationTask",
    "arm_switches",
    "build_model",
    "compute_metrics",
    "loss",
]

REFERENCE_ARM = "full"

METRIC_SPECS = (
    MetricSpec("mse", "MSE", "min", "currency²", best=0.0),
    MetricSpec("mae", "MAE", "min", "currency", best=0.0),
    MetricSpec("mape", "MAPE (%)", "min", "%", best=0.0),
    MetricSpec("mse_subtle", "MSE subtle", "min", "currency²", best=0.0),
)
METRICS: dict[str, dict[str, str]] = {m.name: m.as_meta() for m in METRIC_SPECS}


def arm_switches(arm: str) -> dict[str, Any]:
    """Stage switches of an ablation arm: {"micro", "meso", "market": bool, "head": str}.

    Arms are cumulative: global < micro (+ DSCA) < meso (+ graph matching) < full (+ market
    graph, depreciation head). Raises ValueError for an unknown arm, listing the valid ones.
    """
    if arm not in ARM_STAGES:
        raise ValueError(f"unknown arm {arm!r}; valid arms: {list(ARMS)}")
    return dict(ARM_STAGES[arm])


def build_model(cfg: HMGNetConfig | dict[str, Any], market: dict | None):
    """Model factory: a config (or its dict form from the Ray boundary) -> HMGNet.
    The model's libraries (torch-geometric, transformers) are imported here, not with
    the task: flags and ``--help`` need only the task's declarations."""
    from hmgray.families.valuation.model import HMGNet

    if not isinstance(cfg, HMGNetConfig):
        cfg = HMGNetConfig.from_dict(cfg)
    return HMGNet(cfg, market)


def loss(
    out: Mapping[str, Tensor | None], batch: Mapping[str, Tensor], price_scale: float
) -> Tensor:
    """Training loss: mean squared error in depreciation units, ((pred - price) / MSRP)^2.

    The model is *trained* on the error relative to the listing's MSRP (the scale of the
    depreciation delta, price = MSRP (1 - delta)) and *evaluated* in currency units
    (``compute_metrics``). Why: MSRPs span 149..1199, so a currency-unit MSE weights the
    most expensive items ~64x more than the cheapest ones, and most listings' images and
    texts barely contribute gradient; in depreciation units every listing counts equally,
    which is what the planted per-listing evidence (wear, defect, detachment) is about.
    Rows whose MSRP is missing or <= 0 (or batches without ``msrp``) fall back to
    ``price_scale`` as the denominator, i.e. the old MSE of price / price_scale.

    Computed in float32 so bf16 autocast does not square rounding errors.
    """
    pred = out["price"].float()
    target = batch["price"].float()
    msrp = batch.get("msrp")
    if msrp is None:
        denom = torch.full_like(target, float(price_scale))
    else:
        msrp = msrp.float().to(target.device)
        denom = torch.where(msrp > 0, msrp, torch.full_like(msrp, float(price_scale)))
    return torch.mean(((pred - target) / denom) ** 2)


def compute_metrics(pred: np.ndarray, target: np.ndarray, subtle: np.ndarray) -> dict[str, float]:
    """Evaluation metrics (see the module docstring for units); all lower is better.

    Args:
        pred, target: (N,) prices in currency units.  subtle: (N,) 1 for subtle-defect rows.
    """
    pred = np.asarray(pred, dtype=np.float64).reshape(-1)
    target = np.asarray(target, dtype=np.float64).reshape(-1)
    subtle = np.asarray(subtle).reshape(-1) == 1
    if not (pred.shape == target.shape == subtle.shape):
        raise ValueError(
            f"shape mismatch: pred {pred.shape}, target {target.shape}, subtle {subtle.shape}"
        )
    if pred.size == 0:
        return {name: float("nan") for name in METRICS}
    err = pred - target
    pos = target > 0
    return {
        "mse": float(np.mean(err**2)),
        "mae": float(np.mean(np.abs(err))),
        "mape": float(100.0 * np.mean(np.abs(err[pos]) / target[pos]))
        if pos.any()
        else float("nan"),
        "mse_subtle": float(np.mean(err[subtle] ** 2)) if subtle.any() else float("nan"),
    }


class ValuationEvaluator:
    """Accumulates predicted and true prices (and the subtle flags, item model ids) over
    batches; ``compute`` gives :func:`compute_metrics` over them all and, for every group
    ``name -> item_model_ids``, ``<name>_<metric>`` over that group's rows."""

    def __init__(self, groups: Mapping[str, Sequence[int]] | None = None):
        self.groups = dict(groups or {})
        self.parts: dict[str, list[np.ndarray]] = {
            "pred": [],
            "target": [],
            "subtle": [],
            "item": [],
        }

    def update(self, out: Mapping[str, Any], batch: Mapping[str, Any]) -> None:
        self.parts["pred"].append(out["price"].float().cpu().numpy())
        self.parts["target"].append(batch["price"].float().cpu().numpy())
        self.parts["subtle"].append(batch["subtle"].float().cpu().numpy())
        self.parts["item"].append(batch["item_model_id"].cpu().numpy())

    def compute(self) -> dict[str, float]:
        pred, target, sub, item = (
            np.concatenate(v) if v else np.zeros(0) for v in self.parts.values()
        )
        out = compute_metrics(pred, target, sub)
        for name, ids in self.groups.items():
            keep = np.isin(item, np.asarray(list(ids), dtype=np.int64))
            for metric, value in compute_metrics(pred[keep], target[keep], sub[keep]).items():
                out[f"{name}_{metric}"] = value
        return out


# Decoder paddings, fixed by the data rather than searched: 32 words cover the synthetic
# descriptions and the converters' truncated ones; 4 regions = body + up to 3 parts.
DECODE_DEFAULTS = {"max_words": 32, "max_regions": 4, "vocab_size": 4096}


def _decode(table, *, image_size, max_words, max_regions, vocab_size):
    from hmgray.families.valuation.data.decode import decode_batch

    return decode_batch(
        table,
        image_size=tuple(image_size),
        max_words=max_words,
        max_regions=max_regions,
        vocab_size=vocab_size,
    )


class ValuationTask(Task):
    """HMG-Net's granularity ablation ``global -> micro -> meso -> full`` (cumulative)."""

    name = "valuation"
    arms = ARMS
    reference_arm = REFERENCE_ARM
    ladder = "cumulative"
    config_cls = HMGNetConfig
    metrics = METRIC_SPECS
    selection_metric = "mse"
    loss_label = "val. loss ((pred - price) / MSRP)²"
    row_noun = "listings"
    shards = LISTING_SHARDS

    def space(self, arm: str):
        return hmgnet_space(arm)

    def build_model(self, config: HMGNetConfig, context: Mapping[str, Any]):
        return build_model(config, context["market"])

    def loss(self, out, batch, config: HMGNetConfig) -> Tensor:
        return loss(out, batch, config.price_scale)

    def evaluator(self, config, groups=None) -> ValuationEvaluator:
        return ValuationEvaluator(groups)

    def oracle(self, batch) -> dict[str, Any]:
        return {"price": batch["price"]}

    def batch_rows(self, batch) -> int:
        return int(batch["price"].shape[0])

    def decoder(self, context, settings):
        opts = {k: settings.get(k, v) for k, v in DECODE_DEFAULTS.items()}
        return functools.partial(_decode, image_size=list(context["image_size"]), **opts)

    def generate(self, out_uri: str, n: int, seed: int):
        from hmgray.families.valuation.data.synth import write_synthetic_valuation

        return write_synthetic_valuation(out_uri, n, seed)

    def fixed_settings(self, manifest) -> dict[str, Any]:
        """Image size and decoder paddings from the data; ``price_scale`` = the mean MSRP
        of the item models (prices are regressed in units of it). Batch 32: more optimiser
        steps per epoch, measured better than 64 at the same budget."""
        prices = manifest.context["market"].get("item_model_msrp") or [1000.0]
        return {
            "image_size": list(manifest.context["image_size"]),
            **DECODE_DEFAULTS,
            "price_scale": float(sum(prices) / len(prices)),
            "batch_size": 32,
            "d_model": 48,
        }
