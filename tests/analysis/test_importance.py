"""Optuna importances rebuilt from search rows, and the cases where they mean nothing."""

import pytest

from analysis.importance import distributions, param_importances
from analysis.load import from_table
from tests.analysis.conftest import SEARCH_SPACE, make_results_table


def _search(arm="full", trials=12):
    results = from_table(make_results_table(search_trials=trials), "r.parquet")
    rows = results.stage("search")
    return rows[rows["arm"] == arm].sort_values(["created_at", "trial_id"])


def test_distributions_follow_the_search_space():
    d = distributions(SEARCH_SPACE)
    assert d["lr"].log and d["lr"].low == 1e-4 and d["lr"].high == 1e-2
    assert d["layers"].low == 1 and d["layers"].high == 3 and d["layers"].step == 1
    assert d["attention"].choices == ("softmax", "sparsemax")
    with pytest.raises(ValueError, match="unknown type"):
        distributions({"x": {"type": "uniform"}})


def test_importances_sum_to_one_are_stable_and_find_the_planted_parameter():
    rows = _search()
    first = param_importances(rows, SEARCH_SPACE, "val_mse", "min")
    assert first.values is not None and first.n_trials == 12
    assert sum(first.values.values()) == pytest.approx(1.0)
    assert max(first.values, key=first.values.get) == "lr"  # the val loss is a bowl in log(lr)
    assert param_importances(rows, SEARCH_SPACE, "val_mse", "min") == first


def test_too_few_trials_or_one_parameter_says_so():
    one = param_importances(_search(trials=1), SEARCH_SPACE, "val_mse", "min")
    assert one.values is None and "too few" in one.message
    single = param_importances(_search(), {"lr": SEARCH_SPACE["lr"]}, "val_mse", "min")
    assert single.values is None and "one searched parameter (lr)" in single.message
    none = param_importances(_search(), None, "val_mse", "min")
    assert none.values is None and "no search space" in none.message


def test_trials_outside_the_space_are_skipped():
    narrow = {**SEARCH_SPACE, "lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True}}
    result = param_importances(_search(), narrow, "val_mse", "min")
    assert result.n_trials < 12
