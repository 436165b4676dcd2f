"""Calibration of the significance markers over many simulated ablation tables.

Each simulated table: a reference arm and 4 ablations, 5 paired seeds, 3 metrics. Every
run's metric is ``base * (1 + effect) * (1 + s_seed + w_run)`` with a seed effect
``s ~ N(0, 0.03^2)`` shared by all arms (seeds are paired) and a run effect
``w ~ N(0, 0.006^2)``, so the paired difference of two arms has sd ``sqrt(2) * 0.006 * base``
(``SD_DIFF``, relative).

* No true difference: the share of cells marked significant stays at or below alpha
  (Holm makes it far lower), and so does the share of tables with any marker (the
  family-wise error rate Holm controls), up to simulation error.
* A planted difference of 4 * SD_DIFF on one arm is detected in at least 80% of its cells
  (the t-test's power there is about 0.9 after Holm over 12 comparisons).

The step-wise tests of a cumulative ladder and the group-sequential design are calibrated
on ``analysis.calibration``'s simulated tables (the same model; ``python -m
analysis.calibration`` prints the rates and the power at each planted size), and the
power formula of ``analysis.stats`` is checked against simulated paired t-tests.
"""

import math

import numpy as np
import pytest
from scipy import stats as sps

from analysis import calibration
from analysis.load import from_table
from analysis.stats import t_power
from analysis.tables import ladder_table
from tests.analysis.conftest import make_results_table

ARMS = ("full", "a", "b", "c", "d")
NOISE = 0.03  # the builder's shared per-seed sd; its per-run sd is NOISE / 5
SD_DIFF = math.sqrt(2) * NOISE / 5
ALPHA = 0.05


def _tables(n: int, effects: dict[str, float], seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        table = make_results_table(
            arms=ARMS,
            seeds=range(5),
            effects={a: effects.get(a, 0.0) for a in ARMS},
            noise=NOISE,
            search_trials=0,
            rng=rng,
        )
        yield ladder_table(from_table(table, "simulated.parquet"), alpha=ALPHA)


def _null_rates(n: int, seed: int) -> tuple[float, float, int]:
    marked, cells, tables_marked = 0, 0, 0
    for table in _tables(n, {}, seed):
        flags = [c.significant for r in table.rows if not r.is_reference for c in r.cells]
        marked += sum(flags)
        cells += len(flags)
        tables_marked += any(flags)
    return marked / cells, tables_marked / n, n


def _planted_rates(n: int, seed: int) -> tuple[float, float]:
    hit, null_marked, null_cells = 0, 0, 0
    for table in _tables(n, {"a": 4 * SD_DIFF}, seed):
        hit += sum(c.significant for c in table.rows[1].cells)
        null = [c.significant for r in table.rows[2:] for c in r.cells]
        null_marked += sum(null)
        null_cells += len(null)
    return hit / (3 * n), null_marked / null_cells


def _check_null(cell_rate: float, fwer: float, n: int) -> None:
    assert cell_rate <= ALPHA
    assert fwer <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / n)  # 3 standard errors


def test_no_true_difference_keeps_markers_at_or_below_alpha():
    _check_null(*_null_rates(100, seed=1))


def test_planted_difference_is_detected():
    power, false_rate = _planted_rates(50, seed=2)
    assert power >= 0.8
    assert false_rate <= ALPHA


@pytest.mark.slow
def test_calibration_many_tables():
    _check_null(*_null_rates(2000, seed=3))
    power, false_rate = _planted_rates(500, seed=4)
    assert power >= 0.85 and false_rate <= ALPHA


# -- the step-wise and sequential procedures (analysis.calibration's simulated tables) --


def _se(n: int) -> float:
    return 3 * math.sqrt(ALPHA * (1 - ALPHA) / n)  # 3 standard errors of a rate near alpha


@pytest.mark.parametrize("procedure", ["steps", "star", "sequential"])
def test_null_ladders_keep_the_family_wise_error_at_alpha(procedure):
    rates = calibration.simulate(procedure, 0.0, 120, seed=5)
    assert rates.cell_rate <= ALPHA
    assert rates.any_rate <= ALPHA + _se(rates.tables)


def test_planted_steps_are_found_by_the_step_tests():
    rates = calibration.simulate("steps", 4.0, 40, seed=6)  # power about 1 (see the module)
    assert rates.cell_rate >= 0.9


def test_the_sequential_design_stops_early_when_the_steps_are_large():
    large = calibration.simulate("sequential", 4.0, 40, seed=7)
    assert large.cell_rate >= 0.9 and large.mean_seeds <= 6
    # a step of 2 SD_DIFF is found in most tables, with more seeds than a step of 4
    small = calibration.simulate("sequential", 2.0, 40, seed=8)
    assert small.cell_rate >= 0.8 and small.mean_seeds > large.mean_seeds


def test_the_power_formula_matches_simulated_paired_tests():
    rng = np.random.default_rng(9)
    for n, alpha, delta in ((3, 0.05, 2.0), (5, 0.01, 1.5), (8, 0.005, 1.0)):
        x = rng.normal(delta, 1.0, (20000, n))
        t = x.mean(axis=1) / (x.std(axis=1, ddof=1) / math.sqrt(n))
        rate = float((2 * sps.t.sf(np.abs(t), n - 1) <= alpha).mean())
        want = t_power(delta, 1.0, n, alpha)
        assert rate == pytest.approx(want, abs=3 * math.sqrt(want * (1 - want) / 20000) + 1e-3)


@pytest.mark.slow
def test_calibration_of_the_new_procedures_many_tables():
    for procedure in ("steps", "sequential"):
        rates = calibration.simulate(procedure, 0.0, 2000, seed=10)
        assert rates.cell_rate <= ALPHA and rates.any_rate <= ALPHA + _se(2000)
