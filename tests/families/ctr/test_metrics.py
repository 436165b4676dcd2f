"""AUC, group AUC and logloss against scikit-learn, edge cases NaN."""

import math

import numpy as np
from sklearn.metrics import log_loss, roc_auc_score

from hmgray.families.ctr.metrics import ctr_metrics, group_auc


def test_group_auc_is_the_impression_weighted_per_user_auc():
    rng = np.random.default_rng(0)
    user = rng.integers(0, 40, 2000)
    y = (rng.random(2000) < 0.2).astype(int)
    p = rng.random(2000).round(2)  # ties
    num = den = 0.0
    for u in np.unique(user):
        m = user == u
        if 0 < y[m].sum() < m.sum():  # users with one class only are skipped
            num += roc_auc_score(y[m], p[m]) * m.sum()
            den += m.sum()
    assert math.isclose(group_auc(user, y, p), num / den, rel_tol=1e-12)


def test_metrics_match_sklearn_and_are_nan_when_undefined():
    rng = np.random.default_rng(1)
    y = (rng.random(500) < 0.3).astype(int)
    p = np.clip(0.3 * y + 0.5 * rng.random(500), 0.01, 0.99)
    tail = rng.random(500) < 0.3
    m = ctr_metrics(y, p, rng.integers(0, 20, 500), tail)
    assert math.isclose(m["auc"], roc_auc_score(y, p))
    assert math.isclose(m["logloss"], log_loss(y, p))
    assert math.isclose(m["auc_tail"], roc_auc_score(y[tail], p[tail]))
    one_class = ctr_metrics(np.zeros(5, int), np.full(5, 0.1), np.arange(5), np.ones(5, bool))
    assert math.isnan(one_class["auc"]) and math.isnan(one_class["gauc"])
    assert one_class["logloss"] > 0
    assert all(math.isnan(v) for v in ctr_metrics(*(np.zeros(0),) * 3, np.zeros(0, bool)).values())
