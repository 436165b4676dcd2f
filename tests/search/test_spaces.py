"""Declared search spaces: validation with messages naming the parameter, and their Tune
and Optuna forms (bounds inclusive in both)."""

import pytest

from hmgray.errors import ConfigError
from hmgray.search.spaces import to_optuna, to_tune, validate_space

GOOD = {
    "lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
    "layers": {"type": "int", "low": 1, "high": 3, "log": False},
    "norm": {"type": "categorical", "choices": ["softmax", "sparsemax"]},
}


def test_a_well_formed_space_passes_and_converts_with_inclusive_bounds():
    validate_space(GOOD)
    tune_space, optuna_space = to_tune(GOOD), to_optuna(GOOD)
    assert (tune_space["layers"].lower, tune_space["layers"].upper) == (1, 4)  # Tune: exclusive
    assert (optuna_space["layers"].low, optuna_space["layers"].high) == (1, 3)
    assert optuna_space["lr"].log and optuna_space["norm"].choices == ("softmax", "sparsemax")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "float", "low": 1.0, "high": 0.5}, "finite low <= high"),
        ({"type": "float", "low": 0.0, "high": 1.0, "log": True}, "log scale needs low > 0"),
        ({"type": "int", "low": 1.5, "high": 3}, "must be int numbers"),
        ({"type": "categorical", "choices": []}, "non-empty list"),
        ({"type": "uniform", "low": 0, "high": 1}, "unknown type 'uniform'"),
    ],
)
def test_a_malformed_parameter_is_named(spec, message):
    with pytest.raises(ConfigError, match=f"arm 'micro'.*parameter 'x'.*{message}"):
        validate_space({"x": spec}, "arm 'micro'")


def test_paired_points_share_what_two_spaces_share():
    from hmgray.search.spaces import paired_points

    base = {
        "lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
        "d": {"type": "categorical", "choices": [8, 16, 32]},
        "k": {"type": "int", "low": 1, "high": 6, "log": False},
    }
    more = {**base, "w": {"type": "float", "low": 0.0, "high": 1.0, "log": False}}
    narrower = {**base, "lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True}}
    a, b, c = (paired_points(s, 8, seed=3) for s in (base, more, narrower))
    for p, q in zip(a, b, strict=True):
        assert {k: q[k] for k in base} == p  # the extra parameter changes nothing shared
        assert 0.0 <= q["w"] <= 1.0
    assert [p["lr"] for p in a] != [p["lr"] for p in c]  # another range: other draws
    assert all(1e-3 <= p["lr"] <= 1e-2 for p in c)
    assert all(p["d"] in (8, 16, 32) and 1 <= p["k"] <= 6 for p in a)
    assert paired_points(base, 8, seed=3) == a != paired_points(base, 8, seed=4)
    assert len({p["lr"] for p in a}) == 8  # the candidates differ from one another


@pytest.mark.parametrize(
    "n, expected", [(1, 1), (2, 1), (3, 1), (4, 2), (9, 3), (30, 10), (300, 10)]
)
def test_the_random_start_up_phase_is_a_third_of_the_budget_within_1_and_10(n, expected):
    from hmgray.search.spaces import startup_trials

    assert startup_trials(n) == expected


def test_a_budget_below_one_trial_is_refused():
    from hmgray.search.spaces import startup_trials

    with pytest.raises(ConfigError, match="num_samples"):
        startup_trials(0)


_SPACE = {
    "lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
    "layers": {"type": "int", "low": 1, "high": 3},
    "blocks": {"type": "categorical", "choices": [(1, 1), (2, 2)]},
}


def test_a_point_in_the_space_comes_back_with_choices_as_declared():
    from hmgray.search.spaces import point_in_space

    got = point_in_space({"lr": 1e-3, "layers": 2, "blocks": [2, 2]}, _SPACE, "here")
    assert got == {"blocks": (2, 2), "layers": 2, "lr": 1e-3}
    assert isinstance(got["blocks"], tuple) and isinstance(got["layers"], int)


@pytest.mark.parametrize(
    "point, message",
    [
        (
            {"lr": 1e-1, "layers": 2, "blocks": (1, 1)},
            r"here: lr=0.1 lies outside .*\[0.0001, 0.01\]",
        ),
        ({"lr": 1e-3, "layers": 0, "blocks": (1, 1)}, r"layers=0 lies outside"),
        ({"lr": 1e-3, "layers": 2, "blocks": (3, 3)}, r"blocks=\(3, 3\) is not among"),
        ({"lr": 1e-3, "blocks": (1, 1)}, r"no value for searched parameter 'layers'"),
        ({"lr": "fast", "layers": 2, "blocks": (1, 1)}, r"lr='fast' lies outside"),
    ],
)
def test_a_point_outside_the_space_is_named(point, message):
    from hmgray.search.spaces import point_in_space

    with pytest.raises(ConfigError, match=message):
        point_in_space(point, _SPACE, "here")
