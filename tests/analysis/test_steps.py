"""Which comparisons a table makes (``analysis.baselines``) and what each could detect.

A cumulative ladder tests every step against the arm before it; a star tests every arm
against its reference. The planted ladder below has two large steps and one tiny one
(micro -> meso), so the two rules mark different cells on the same runs.
"""

import json
import math

import pytest

from analysis import build_report
from analysis.baselines import baselines
from analysis.compare import compare_table
from analysis.errors import AnalysisError
from analysis.load import from_table
from analysis.stats import POWER, detectable_difference, seeds_needed, t_power
from analysis.tables import ladder_table
from tests.analysis.anchor_results import make_anchor_table
from tests.analysis.conftest import make_results_table, write_results

LADDER = ("global", "micro", "meso", "full")
# worsening relative to the best arm: two large steps and a tiny one (0.14 % of micro)
EFFECTS = {"global": 0.60, "micro": 0.40, "meso": 0.398, "full": 0.0}


def _results(kind: str | None = "cumulative", seeds=range(5), **meta):
    extra = {**({"ladder": kind} if kind else {}), **meta}
    table = make_results_table(arms=LADDER, effects=EFFECTS, seeds=seeds, meta=extra)
    return from_table(table, "results.parquet")


def _mse(table):
    return {r.key: r.cells[0] for r in table.rows}


def test_a_cumulative_ladder_tests_each_step_against_the_arm_before_it():
    table = ladder_table(_results())
    mse = _mse(table)
    assert {k: c.against for k, c in mse.items()} == {
        "global": None,
        "micro": "global",
        "meso": "micro",
        "full": "meso",
    }
    assert [mse[a].significant for a in LADDER] == [False, True, False, True]
    # Δ is the step's: meso against micro, not against full
    want = (mse["meso"].stats.mean - mse["micro"].stats.mean) / mse["micro"].stats.mean * 100
    assert mse["meso"].delta_pct == pytest.approx(want)
    assert mse["global"].delta_text == "base"
    assert "relative to the arm before it in the ladder (global → micro → meso → full)" in (
        table.caption
    )
    assert "the step from the arm before it is significant at α = 0.05" in table.caption
    assert "Holm-corrected across the 9 comparisons" in table.caption


def test_a_star_tests_every_arm_against_the_reference():
    table = ladder_table(_results("star"))
    mse = _mse(table)
    assert {k: c.against for k, c in mse.items()} == {
        "global": "full",
        "micro": "full",
        "meso": "full",
        "full": None,
    }
    assert [mse[a].significant for a in LADDER] == [True, True, True, False]
    assert mse["full"].delta_text == "ref."
    assert "different from full" in table.caption


def test_results_without_a_ladder_kind_keep_the_reference_tests():
    assert _mse(ladder_table(_results(None)))["meso"].against == "full"


def test_a_bad_ladder_kind_names_the_field():
    with pytest.raises(AnalysisError, match="metadata 'ladder'"):
        ladder_table(_results("diagonal"))


def test_steps_run_within_each_group_of_arms():
    arms = ("a_fine", "a_hard", "a_mgipf", "b_fine", "b_hard", "b_mgipf")
    refs = {"a_fine": "a_mgipf", "a_hard": "a_mgipf", "b_fine": "b_mgipf", "b_hard": "b_mgipf"}
    table = make_results_table(
        arms=arms,
        reference_arm="a_mgipf",
        effects={"a_fine": 0.2, "a_hard": 0.1, "b_fine": 0.3, "b_hard": 0.2, "b_mgipf": 0.1},
        meta={"ladder": "cumulative", "arm_references": refs},
    )
    results = from_table(table, "results.parquet")
    assert baselines(results, arms) == {
        "a_fine": None,
        "a_hard": "a_fine",
        "a_mgipf": "a_hard",
        "b_fine": None,
        "b_hard": "b_fine",
        "b_mgipf": "b_hard",
    }
    ladder = ladder_table(results)
    assert [r.cells[0].delta_text for r in ladder.rows][::3] == ["base", "base"]
    assert "a_fine → a_hard → a_mgipf; b_fine → b_hard → b_mgipf" in ladder.caption


def test_the_compare_table_follows_the_ladder_kind():
    table = make_anchor_table()
    meta = json.loads(table.schema.metadata[b"hmgray"])
    table = table.replace_schema_metadata({"hmgray": json.dumps({**meta, "ladder": "cumulative"})})
    results = from_table(table, "results.parquet")
    arms = results.arms(results.stage("fewshot"))
    fewshot = compare_table(results, "fewshot_k", name="fewshot", stages=["fewshot"])
    first, second = arms
    tested = {c.group: c.show_delta for c in fewshot.columns}
    assert tested == {first: False, second: True}  # the second arm is the step
    assert "the step from the arm before it is significant" in fewshot.caption


def test_each_test_states_what_it_could_detect(tmp_path):
    results = _results()
    table = ladder_table(results)
    m = 9
    for row in table.rows:
        for cell in row.cells:
            if cell.test is None:
                assert math.isnan(cell.detectable)
                continue
            want = detectable_difference(cell.test.sd_diff, cell.test.n_pairs, 0.05 / m)
            assert cell.detectable == pytest.approx(want)
            assert cell.detectable_alpha == pytest.approx(0.05 / m)
    assert f"{POWER:.0%} power at α/m = {0.05 / m:.2g}" in table.caption
    uri = write_results(make_results_table(arms=LADDER, effects=EFFECTS, seeds=range(5),
                                           meta={"ladder": "cumulative"}),
                        tmp_path / "exp" / "results.parquet")  # fmt: skip
    build_report(uri)
    doc = json.loads((tmp_path / "exp" / "report" / "ladder.json").read_text())
    meso = next(c for c in doc["cells"] if c["row"] == "meso" and c["column"] == "test_mse")
    assert meso["test"]["against"] == "micro"
    assert meso["test"]["detectable_difference"]["absolute"] == pytest.approx(
        _mse(table)["meso"].detectable
    )
    assert doc["statistics"]["comparisons"].startswith("each arm against the arm before it")


def test_a_step_that_is_not_significant_says_how_many_seeds_it_would_need():
    table = ladder_table(_results())
    meso = _mse(table)["meso"]
    level = 0.05 / 9
    n = seeds_needed(meso.test.mean_diff, meso.test.sd_diff, level)
    assert n is not None and n > 5
    note = next(x for x in table.notes if x.startswith("micro → meso, MSE:"))
    assert f"about {n} seeds" in note and "not significant with 5 seeds" in note
    # the planning figure is the least n with 80 % power for the observed difference
    assert t_power(meso.test.mean_diff, meso.test.sd_diff, n, level) >= POWER
    assert t_power(meso.test.mean_diff, meso.test.sd_diff, n - 1, level) < POWER
    assert not any(x.startswith("global → micro, MSE") for x in table.notes)  # significant


def test_detectable_difference_is_the_difference_found_with_80_percent_power():
    for n, alpha in ((3, 0.05), (5, 0.01), (10, 0.005), (40, 0.05)):
        d = detectable_difference(1.0, n, alpha)
        assert t_power(d, 1.0, n, alpha) == pytest.approx(POWER, abs=1e-6)
        assert detectable_difference(2.5, n, alpha) == pytest.approx(2.5 * d)
    assert detectable_difference(1.0, 10, 0.05) < detectable_difference(1.0, 5, 0.05)
    assert detectable_difference(0.0, 5, 0.05) == 0.0
    assert math.isnan(detectable_difference(1.0, 2, 0.05))
    assert math.isnan(detectable_difference(math.nan, 5, 0.05))


def test_seeds_needed_edges():
    assert seeds_needed(0.0, 1.0, 0.05) is None
    assert seeds_needed(1e-6, 1.0, 0.05) is None  # beyond reach
    assert seeds_needed(5.0, 0.0, 0.05) == 3
    n = seeds_needed(1.0, 1.0, 0.05)
    assert t_power(1.0, 1.0, n, 0.05) >= POWER > t_power(1.0, 1.0, n - 1, 0.05)
