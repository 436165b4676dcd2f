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
