"""Click-through metrics: AUC, group AUC, logloss, and AUC on the long tail.

* ``auc``: ROC AUC over all rows (scikit-learn's ``roc_auc_score``);
* ``gauc``: group AUC as FuxiCTR / BARS compute it: each user's AUC over the user's rows,
  averaged with the user's number of impressions as weight; users whose rows are all of
  one class are skipped (their AUC is undefined). Per-user AUCs come from tie-averaged
  ranks (the Mann-Whitney form, equal to ``roc_auc_score`` per user; tested);
* ``logloss``: binary cross-entropy (scikit-learn's ``log_loss``, probabilities clipped
  by it as it does);
* ``auc_tail``: ``auc`` over the rows whose item is in the long tail (the ``tail`` flag).

NaN where a metric is undefined (no row, or one class only).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score

__all__ = ["ctr_metrics", "group_auc"]


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    if len(y) == 0 or y.min() == y.max():
        return float("nan")
    return float(roc_auc_score(y, p))


def group_auc(user: np.ndarray, y: np.ndarray, p: np.ndarray) -> float:
    """Impression-weighted mean of per-user AUCs, one-class users skipped (NaN if none)."""
    df = pd.DataFrame({"u": user, "y": y.astype(np.int64), "p": p})
    g = df.groupby("u", sort=False)
    n = g["y"].transform("size")
    pos = g["y"].transform("sum")
    rank = g["p"].rank(method="average")
    keep = (pos > 0) & (pos < n)
    if not keep.any():
        return float("nan")
    d = pd.DataFrame(
        {"u": df["u"][keep], "ry": (rank * df["y"])[keep], "n": n[keep], "pos": pos[keep]}
    )
    per = d.groupby("u", sort=False).agg(
        rank_pos=("ry", "sum"), n=("n", "first"), pos=("pos", "first")
    )
    neg = per["n"] - per["pos"]
    auc = (per["rank_pos"] - per["pos"] * (per["pos"] + 1) / 2) / (per["pos"] * neg)
    return float((auc * per["n"]).sum() / per["n"].sum())


def ctr_metrics(
    y: np.ndarray, p: np.ndarray, user: np.ndarray, tail: np.ndarray
) -> dict[str, float]:
    """Every metric of the family from labels, predicted probabilities, users and the
    long-tail flags of the rows of a split."""
    if len(y) == 0:
        nan = float("nan")
        return {"auc": nan, "gauc": nan, "logloss": nan, "auc_tail": nan}
    return {
        "auc": _auc(y, p),
        "gauc": group_auc(user, y, p),
        "logloss": float(log_loss(y, p, labels=[0, 1])),
        "auc_tail": _auc(y[tail], p[tail]),
    }
