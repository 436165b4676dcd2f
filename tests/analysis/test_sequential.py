"""The group-sequential confirmation (``analysis.sequential``): spending, looks, decisions,
and the ladder table that shows them."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from analysis.errors import AnalysisError
from analysis.load import from_table
from analysis.sequential import (
    Comparison,
    Design,
    all_decided,
    default_looks,
    looks_done,
    replay,
    spent,
)
from analysis.stats import detectable_difference
from analysis.tables import ladder_table
from tests.analysis.conftest import make_results_table

LOOKS = (3, 5, 7, 9, 10)


def test_default_looks():
    assert default_looks(10) == LOOKS
    assert default_looks(3) == (3,)
    assert default_looks(4) == (3, 4)
    with pytest.raises(ValueError, match="at least 3"):
        default_looks(2)


def test_spending_adds_up_to_alpha_and_follows_lan_demets():
    for spending in ("pocock", "obrien-fleming"):
        levels = spent(0.05, LOOKS, spending)
        assert sum(levels) == pytest.approx(0.05) and all(a > 0 for a in levels)
    pocock = np.cumsum(spent(0.05, LOOKS, "pocock"))
    t = np.array(LOOKS) / 10
    assert pocock == pytest.approx(0.05 * np.log(1 + (np.e - 1) * t))
    obf = np.cumsum(spent(0.05, (5, 10), "obrien-fleming"))
    assert obf[0] == pytest.approx(2 - 2 * sps.norm.cdf(sps.norm.ppf(0.975) / math.sqrt(0.5)))
    assert obf[0] == pytest.approx(0.00557, abs=1e-5)  # the textbook value at t = 1/2
    assert spent(0.05, (3,)) == [pytest.approx(0.05)]  # one look: the fixed design


def _comparison(key, diff, sd, n=10, base=100.0, seed=0):
    rng = np.random.default_rng(seed)
    shared = rng.normal(0, 5.0, n)  # a per-seed effect both arms share: cancels in pairs
    a = base + shared + rng.normal(0, sd, n)
    b = base + diff + shared + rng.normal(0, sd, n)
    return Comparison(key, "test_mse", dict(enumerate(a)), dict(enumerate(b)))


def test_replay_decides_each_comparison_at_its_look():
    design = Design(LOOKS, "test_mse", practical=0.01)
    comparisons = [
        _comparison("big", 20.0, 0.5, seed=1),  # found at the first look
        _comparison("flat", 0.0, 0.05, seed=2),  # no difference, measured precisely
        _comparison("moderate", 1.2, 0.8, seed=3),  # needs more seeds than the first look
        _comparison("noisy", 0.0, 30.0, seed=4),  # never decided
    ]
    decisions, done = replay(design, comparisons, list(range(10)), 0.05)
    assert done == 5
    assert decisions["big"].outcome == "significant" and decisions["big"].look == 1
    assert decisions["flat"].outcome == "negligible" and decisions["flat"].look == 1
    assert decisions["moderate"].outcome == "significant" and decisions["moderate"].look > 1
    assert decisions["noisy"].outcome == "undecided" and decisions["noisy"].n_seeds == 10
    assert not all_decided(decisions, comparisons, "test_mse")
    # a negligible decision: the test at that look could detect 1 % of the baseline's mean
    flat = decisions["flat"]
    assert flat.detectable <= 0.01 * 100.0 and flat.p > flat.threshold


def test_holm_runs_within_each_look_at_its_spent_level():
    design = Design((3,), "test_mse")  # one look: Holm at 0.05 over the table
    rng = np.random.default_rng(0)
    comparisons = [_comparison(i, d, 1.0, n=3, seed=i) for i, d in enumerate((6.0, 3.0, 0.1))]
    decisions, _ = replay(design, comparisons, [0, 1, 2], 0.05)
    p = {}
    for c in comparisons:
        seeds = sorted(c.baseline)
        p[c.key] = sps.ttest_rel([c.other[s] for s in seeds], [c.baseline[s] for s in seeds]).pvalue
    order = sorted(p, key=p.get)
    want, still = {}, True
    for j, key in enumerate(order):  # Holm written again
        still = still and p[key] <= 0.05 / (3 - j)
        want[key] = still
    assert {k: d.outcome == "significant" for k, d in decisions.items()} == want
    del rng


def test_a_decision_depends_only_on_the_seeds_of_its_look():
    design = Design(LOOKS, "test_mse")
    comparisons = [_comparison(i, d, 1.0, seed=i) for i, d in enumerate((8.0, 2.0, 0.5, 0.0))]
    full, _ = replay(design, comparisons, list(range(10)), 0.05)
    early, done = replay(design, comparisons, list(range(6)), 0.05)  # 6 seeds: 2 looks
    assert done == 2 == looks_done(design, 6)
    for key, d in early.items():
        if d.decided:
            assert full[key] == d


def test_the_design_round_trips_and_bad_metadata_names_the_field():
    design = Design(LOOKS, "test_mse", spending="obrien-fleming", practical=0.02)
    assert Design.from_meta(design.as_meta(), "r.parquet") == design
    with pytest.raises(AnalysisError, match="sequential.looks"):
        Design.from_meta({"looks": "3,5", "metric": "test_mse"}, "r.parquet")
    with pytest.raises(AnalysisError, match="increasing"):
        Design.from_meta({"looks": [5, 3], "metric": "test_mse"}, "r.parquet")
    with pytest.raises(AnalysisError, match="unknown field"):
        Design.from_meta({"looks": [3], "metric": "test_mse", "boundary": 1}, "r.parquet")


def _sequential_results(seeds, effects):
    meta = {
        "ladder": "cumulative",
        "sequential": Design(LOOKS, "test_mse").as_meta(),
    }
    arms = ("global", "micro", "full")
    table = make_results_table(arms=arms, effects=effects, seeds=seeds, meta=meta)
    return from_table(table, "results.parquet")


def test_the_ladder_shows_the_sequential_decisions():
    results = _sequential_results(range(5), {"global": 0.5, "micro": 0.3, "full": 0.0})
    table = ladder_table(results)
    seq = table.options["sequential"]
    assert seq["looks_done"] == 2 and seq["seeds_run"] == 5
    assert seq["decided"] and seq["undecided"] == 0
    micro, full = table.rows[1].cells[0], table.rows[2].cells[0]
    assert micro.significant and micro.decision.look == 1 and micro.decision.n_seeds == 3
    assert full.significant
    assert "group-sequential design" in table.caption
    assert "looks after 3, 5, 7, 9, 10 seeds" in table.caption
    assert "Pocock-type Lan–DeMets" in table.caption
    assert "stopped after look 2 of 5 (5 seeds): every comparison of MSE was decided" in (
        table.caption
    )
    assert "global → micro, MSE: significant at look 1 (3 seeds" in " ".join(table.notes)


def test_an_undecided_step_is_said():
    results = _sequential_results(range(3), {"global": 0.30, "micro": 0.2999, "full": 0.0})
    table = ladder_table(results)
    assert not table.options["sequential"]["decided"]
    assert "The results hold 1 of the 5 looks (3 seeds): 1 comparison of MSE still undecided" in (
        table.caption
    )
    note = next(n for n in table.notes if n.startswith("global → micro, MSE"))
    assert note.startswith("global → micro, MSE: undecided after look 1 (3 seeds")
    micro = table.rows[1].cells[0]
    level = micro.decision.threshold
    want = detectable_difference(micro.test.sd_diff, 3, level)
    assert micro.decision.detectable == pytest.approx(want)
