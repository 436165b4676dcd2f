"""Small, independent statistics for the planted-information proofs (numpy only)."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def fit_logistic(x: np.ndarray, y: np.ndarray, ridge: float = 1.0, iters: int = 25):
    """Ridge-penalised logistic regression by Newton steps; returns a probability function.

    Features are standardised on the training data; the intercept is not penalised.
    """
    mu, sd = x.mean(0), x.std(0) + 1e-9  # +eps: constant columns would divide by zero
    xs = np.c_[np.ones(len(x)), (x - mu) / sd]
    penalty = ridge * np.diag(np.r_[0.0, np.ones(xs.shape[1] - 1)])
    w = np.zeros(xs.shape[1])
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-xs @ w))
        grad = xs.T @ (p - y) + penalty @ w
        hess = (xs * (p * (1 - p))[:, None]).T @ xs + penalty
        w -= np.linalg.solve(hess, grad)

    def predict(z: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.c_[np.ones(len(z)), (z - mu) / sd] @ w))

    return predict


def auc(score: np.ndarray, label: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with mid-ranks for ties)."""
    label = label.astype(bool)
    ranks = rankdata(score)
    n1, n0 = label.sum(), (~label).sum()
    return float((ranks[label].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def lstsq_mse(x: np.ndarray, y: np.ndarray, train: np.ndarray) -> float:
    """Held-out MSE of ordinary least squares (with intercept) fitted on ``train`` rows."""
    xs = np.c_[np.ones(len(x)), x]
    w, *_ = np.linalg.lstsq(xs[train], y[train], rcond=None)
    return float(np.mean((xs[~train] @ w - y[~train]) ** 2))
