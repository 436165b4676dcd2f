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
