"""HMG-Net's search spaces, through Ray Tune and OptunaSearch."""

import numpy as np
import pytest
from ray.tune.search.optuna import OptunaSearch

from hmgray.errors import ConfigError
from hmgray.families.valuation.space import hmgnet_space
from hmgray.search.spaces import to_tune

ARMS = ("global", "micro", "meso", "full")
N = 4000  # enough draws that every value of a 1..3 integer range appears (P(miss) ~ 1e-700)


@pytest.mark.parametrize("arm", ARMS)
def test_tune_domains_sample_inside_the_declared_inclusive_bounds(arm):
    space = hmgnet_space(arm)
    domains = to_tune(space)
    assert set(domains) == set(space)
    rng = np.random.default_rng(0)
    for name, spec in space.items():
        values = np.asarray(domains[name].sample(size=N, random_state=rng))
        if spec["type"] == "int":
            # inclusive: the declared high is reachable, high + 1 is not
            assert set(values.tolist()) == set(range(spec["low"], spec["high"] + 1)), name
        elif spec["type"] == "float":
            values = values.astype(float)
            assert values.min() >= spec["low"] and values.max() <= spec["high"], name
            # the draws cover the range (not a degenerate domain): both ends within 5%
            lo, hi = spec["low"], spec["high"]
            if spec["log"]:
                values, lo, hi = np.log(values), np.log(lo), np.log(hi)
            assert values.min() < lo + 0.05 * (hi - lo) and values.max() > hi - 0.05 * (hi - lo)
        else:
            assert set(values.tolist()) == set(spec["choices"]), name


@pytest.mark.parametrize("arm", ARMS)
def test_optuna_sees_the_declared_bounds(arm):
    """OptunaSearch converts Tune's exclusive integer upper bound back: high is declared high."""
    space = hmgnet_space(arm)
    dists = OptunaSearch.convert_search_space(to_tune(space))
    for name, spec in space.items():
        d = dists[name]
        if spec["type"] == "categorical":
            assert list(d.choices) == spec["choices"]
        else:
            assert (d.low, d.high, d.log) == (spec["low"], spec["high"], spec["log"]), name


def test_arms_are_cumulative():
    """Each arm searches everything the coarser arms search, plus its own level."""
    spaces = [set(hmgnet_space(a)) for a in ARMS]
    for coarse, fine in zip(spaces, spaces[1:], strict=False):
        assert coarse < fine
    assert {"attention", "gmn_layers", "gamma", "gnn_layers"} <= spaces[-1]


def test_unknown_arm_names_the_valid_arms():
    with pytest.raises(ConfigError) as info:
        hmgnet_space("bogus")
    msg = str(info.value)
    assert "'bogus'" in msg
    for arm in ARMS:
        assert arm in msg


def test_unknown_parameter_type_names_the_parameter():
    with pytest.raises(ConfigError, match=r"'lr'.*'normal'"):
        to_tune({"lr": {"type": "normal", "low": 0, "high": 1}})
