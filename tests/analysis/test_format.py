"""Direction-aware highlighting (with ties) and number formatting."""

import math

import pytest

from analysis.format import column_decimals, delta_percent, fixed, rank_marks, signed_percent


def test_rank_lower_is_better():
    assert rank_marks([0.3, 0.1, 0.2, 0.4], "min") == [None, "best", "second", None]


def test_rank_higher_is_better():
    assert rank_marks([0.3, 0.1, 0.2, 0.4], "max") == ["second", None, None, "best"]


@pytest.mark.parametrize(
    ("direction", "expected"),
    [
        ("min", ["best", "best", "second", "second", None]),
        ("max", [None, None, "second", "second", "best"]),
    ],
)
def test_ties_share_the_mark(direction, expected):
    assert rank_marks([0.1, 0.1, 0.2, 0.2, 0.3], direction) == expected


def test_all_tied_is_all_best_and_no_second():
    assert rank_marks([0.5, 0.5, 0.5], "min") == ["best", "best", "best"]


def test_missing_cells_are_not_ranked():
    assert rank_marks([None, 0.2, math.nan, 0.1], "min") == [None, "second", None, "best"]
    assert rank_marks([None, None], "max") == [None, None]


def test_bad_direction_is_refused():
    with pytest.raises(ValueError, match="direction"):
        rank_marks([1.0], "lower")


def test_decimals_give_two_significant_digits_of_the_median_std():
    assert column_decimals([0.25, 0.26, 0.27], [0.0042, 0.0051, 0.0063]) == 4  # 0.0051 -> 4
    assert column_decimals([12.0, 13.0, 14.0], [0.22, 0.23, 0.39]) == 2
    assert column_decimals([1234.0, 1250.0], [12.3, 45.0]) == 0
    # one freak tiny std (two seeds agreeing by chance) does not set the column's precision
    assert column_decimals([14.0] * 5, [0.044, 0.012, 0.089, 0.000077, 0.114]) == 3


def test_decimals_without_spread_use_four_significant_digits_of_the_mean():
    assert column_decimals([0.25, 0.31], [math.nan, math.nan]) == 4
    assert column_decimals([123.4], [0.0]) == 1
    assert column_decimals([math.nan], [math.nan]) == 2


def test_fixed_never_prints_negative_zero():
    assert fixed(-0.00001, 3) == "0.000"
    assert fixed(-0.5, 1) == "-0.5"


def test_delta_and_sign():
    assert delta_percent(1.1, 1.0) == pytest.approx(10.0)
    assert delta_percent(-1.1, -1.0) == pytest.approx(-10.0)  # relative to |reference|
    assert delta_percent(1.0, 0.0) is None
    assert signed_percent(3.21) == "+3.2"
    assert signed_percent(-12.5) == "-12.5"
    assert signed_percent(0.01) == "0.0"
