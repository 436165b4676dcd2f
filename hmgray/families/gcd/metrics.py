"""Clustering accuracy for generalized category discovery: All / Old / New.

The protocol of the GCD literature (``split_cluster_acc_v2`` of the GCD and SimGCD code,
which HypGCD evaluates with): on the unlabelled training images, the predicted clusters
are matched to the true classes by one Hungarian assignment over **all** classes jointly
(``scipy.optimize.linear_sum_assignment`` maximising the matched counts), then

* ``all``: the share of images whose cluster is matched to their class;
* ``old``: the same share over the images of the old (known) classes;
* ``new``: over the images of the new classes.

Every value is a fraction in [0, 1], higher is better. A cluster matched to no class (more
clusters than classes) counts as wrong for all of its images. ``old`` or ``new`` is NaN
when no image of that kind is evaluated.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["cluster_accuracy"]


def cluster_accuracy(y_true, y_pred, old_mask) -> dict[str, float]:
    """``{"all", "old", "new"}`` of predicted cluster ids against true class ids.

    Args:
        y_true: (N,) int class ids >= 0.
        y_pred: (N,) int cluster ids >= 0 (any numbering).
        old_mask: (N,) bool, True where the image's true class is an old (known) class.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    old_mask = np.asarray(old_mask, dtype=bool)
    if not (y_true.shape == y_pred.shape == old_mask.shape) or y_true.ndim != 1:
        raise ValueError(
            f"y_true {y_true.shape}, y_pred {y_pred.shape} and old_mask {old_mask.shape} "
            "must be the same 1-d shape"
        )
    if y_true.size == 0:
        return {"all": float("nan"), "old": float("nan"), "new": float("nan")}
    if y_true.min() < 0 or y_pred.min() < 0:
        raise ValueError("class and cluster ids must be >= 0")
    d = int(max(y_pred.max(), y_true.max())) + 1
    counts = np.zeros((d, d), dtype=np.int64)  # counts[cluster, class]
    np.add.at(counts, (y_pred, y_true), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    cluster_of_class = np.full(d, -1, dtype=np.int64)
    cluster_of_class[cols] = rows
    correct = cluster_of_class[y_true] == y_pred  # (N,)

    def share(mask: np.ndarray) -> float:
        return float(correct[mask].mean()) if mask.any() else float("nan")

    return {"all": share(np.ones_like(old_mask)), "old": share(old_mask), "new": share(~old_mask)}
