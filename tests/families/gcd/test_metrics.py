"""Clustering accuracy with Hungarian matching, against hand-worked cases."""

import itertools
import math

import numpy as np
import pytest

from hmgray.families.gcd.metrics import cluster_accuracy


def test_a_permuted_perfect_clustering_scores_one():
    y = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    perm = np.array([2, 0, 3, 1])  # cluster ids are any relabelling of the classes
    out = cluster_accuracy(y, perm[y], y < 2)
    assert out == {"all": 1.0, "old": 1.0, "new": 1.0}


def test_hand_worked_case_with_old_and_new():
    # classes 0, 1 old; 2 new. Clusters: 5 holds {0,0,0,1}, 7 holds {1,1,2}, 9 holds {2,2}
    y_true = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    y_pred = np.array([5, 5, 5, 5, 7, 7, 7, 9, 9])
    out = cluster_accuracy(y_true, y_pred, y_true < 2)
    # best joint matching: 5->0 (3), 7->1 (2), 9->2 (2): 7 of 9 right
    assert out["all"] == pytest.approx(7 / 9)
    assert out["old"] == pytest.approx(5 / 6)  # 3 of class 0, 2 of class 1
    assert out["new"] == pytest.approx(2 / 3)


def test_joint_matching_is_the_best_of_all_assignments():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, 40)
    y_pred = rng.integers(0, 4, 40)
    best = max(
        sum(int(((y_pred == c) & (y_true == k)).sum()) for c, k in zip(range(4), p, strict=True))
        for p in itertools.permutations(range(4))
    )
    assert cluster_accuracy(y_true, y_pred, y_true < 2)["all"] == pytest.approx(best / 40)


def test_extra_clusters_count_as_wrong_and_empty_sides_are_nan():
    y_true = np.array([0, 0, 1, 1])
    y_pred = np.array([0, 3, 1, 2])  # two clusters beyond the classes, matched to nothing useful
    out = cluster_accuracy(y_true, y_pred, np.ones(4, dtype=bool))
    assert out["all"] == pytest.approx(0.5) and math.isnan(out["new"])
    with pytest.raises(ValueError, match="same 1-d shape"):
        cluster_accuracy(y_true, y_pred[:3], np.ones(4, dtype=bool))
    with pytest.raises(ValueError, match=">= 0"):
        cluster_accuracy(np.array([-1]), np.array([0]), np.array([True]))
