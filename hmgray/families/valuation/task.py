"""The valuation task: second-hand item price prediction with HMG-Net.

Pieces used by training and search: the ablation arms and their stage switches, the
model factory, the training loss, and the evaluation metrics with their directions.

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

from typing import Any

import numpy as np
import torch
from torch import Tensor

from hmgray.families.valuation.model import ARM_STAGES, ARMS, HMGNet, HMGNetConfig

__all__ = [
    "ARMS",
    "METRICS",
    "REFERENCE_ARM",
    "arm_switches",
    "build_model",
    "compute_metrics",
    "loss",
]

REFERENCE_ARM = "full"

METRICS: dict[str, dict[str, str]] = {
    "mse": {"label": "MSE", "direction": "min"},
    "mae": {"label": "MAE", "direction": "min"},
    "mape": {"label": "MAPE (%)", "direction": "min"},
    "mse_subtle": {"label": "MSE (subtle defects)", "direction": "min"},
}


def arm_switches(arm: str) -> dict[str, Any]:
    """Stage switches of an ablation arm: {"micro", "meso", "market": bool, "head": str}.

    Arms are cumulative: global < micro (+ DSCA) < meso (+ graph matching) < full (+ market
    graph, depreciation head). Raises ValueError for an unknown arm, listing the valid ones.
    """
    if arm not in ARM_STAGES:
        raise ValueError(f"unknown arm {arm!r}; valid arms: {list(ARMS)}")
    return dict(ARM_STAGES[arm])


def build_model(cfg: HMGNetConfig | dict[str, Any], market: dict | None) -> HMGNet:
    """Model factory: a config (or its dict form from the Ray boundary) -> HMGNet."""
    if not isinstance(cfg, HMGNetConfig):
        cfg = HMGNetConfig.from_dict(cfg)
    return HMGNet(cfg, market)


def loss(out: dict[str, Tensor | None], batch: dict[str, Tensor], price_scale: float) -> Tensor:
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
