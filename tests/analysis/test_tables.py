"""Table layouts: golden files for each layout, and what a table says about bad input.

Golden files live in tests/analysis/golden/; after an intended change, regenerate them
with ``UPDATE_GOLDEN=1 pytest tests/analysis/test_tables.py`` and review the diff.
"""

import csv
import io
import math
import os
from pathlib import Path

import pandas as pd
import pytest

from analysis import markdown
from analysis.errors import AnalysisError
from analysis.load import from_frame, from_table
from analysis.report import render_table
from analysis.sweep import sweep_table
from analysis.tables import datasets_table, ladder_table
from tests.analysis.conftest import METRICS, make_results_table

GOLDEN = Path(__file__).parent / "golden"
COMMAND = "python -m analysis results.parquet"
SHA = "0" * 64


def _results(table):
    return from_table(table, "results.parquet", sha256=SHA)


def _check_golden(files: dict[str, bytes]) -> None:
    for name, data in files.items():
        if name.endswith(".json"):  # the sidecar is checked in test_report
            continue
        path = GOLDEN / name
        if os.environ.get("UPDATE_GOLDEN"):
            path.write_bytes(data)
            continue
        want = path.read_bytes()
        if name.endswith(".csv"):  # full-precision floats: equal to ~1e-9, not to the last ulp
            _same_csv(data.decode(), want.decode())
        else:
            assert data.decode() == want.decode(), f"{name} differs from golden/{name}"


def _same_csv(got: str, want: str) -> None:
    a, b = list(csv.reader(io.StringIO(got))), list(csv.reader(io.StringIO(want)))
    assert a[0] == b[0] and len(a) == len(b)
    for ra, rb in zip(a[1:], b[1:], strict=True):
        for x, y in zip(ra, rb, strict=True):
            try:
                assert float(x) == pytest.approx(float(y), rel=1e-9, abs=1e-300)
            except ValueError:
                assert x == y


MIXED = {
    "test_mse": METRICS["test_mse"],
    "test_mae": METRICS["test_mae"],
    # a higher-is-better column (the planted ordering reverses: "flat" has the highest value)
    "test_mape": {"label": "Score", "direction": "max"},
}


def test_golden_ladder():
    results = _results(
        make_results_table(drop=[("no_text", 1)], nan=[("flat", 2, "test_mae")], metrics=MIXED)
    )
    table = ladder_table(results)
    _check_golden(render_table(table, results, COMMAND, extra=["arms.png", "arms.pdf"]))
    flat = table.rows[-1].cells[2]
    assert table.columns[2].metric.direction == "max" and flat.rank == "best"


def test_golden_ladder_siunitx():
    results = _results(make_results_table(drop=[("no_text", 1)]))
    table = ladder_table(results, name="ladder-siunitx")
    _check_golden(render_table(table, results, COMMAND, siunitx=True))


def test_golden_sweep():
    results = _results(make_results_table(sweep={"param": "gamma", "values": [0.1, 0.5, 1.0, 2.0]}))
    table = sweep_table(results, "gamma")
    _check_golden(render_table(table, results, COMMAND))
    assert [r.label for r in table.rows] == ["0.1", "0.5", "1", "2"]
    assert [r.cells[0].rank for r in table.rows] == ["second", "best", None, None]


def test_golden_datasets():
    results = _results(make_results_table(datasets=("synth-a", "real_b"), search_trials=0))
    table = datasets_table(results)
    _check_golden(render_table(table, results, COMMAND))
    assert [c.group for c in table.columns] == ["real_b"] * 3 + ["synth-a"] * 3


def test_ladder_marks_the_planted_ordering():
    table = ladder_table(_results(make_results_table(seeds=(0, 1, 2, 3, 4))))
    mse = [r.cells[0] for r in table.rows]
    assert [r.key for r in table.rows] == ["full", "no_market", "no_scene", "no_text", "flat"]
    assert [c.rank for c in mse] == ["best", "second", None, None, None]
    assert [c.significant for c in mse] == [False, True, True, True, True]
    assert float(mse[-1].delta_text) == pytest.approx(30.0, abs=1.0) and mse[0].delta_text == "ref."
    assert "Holm-corrected across the 12 comparisons" in table.caption


def test_missing_seed_is_marked_and_said():
    table = ladder_table(_results(make_results_table(drop=[("no_scene", 2)])))
    row = next(r for r in table.rows if r.key == "no_scene")
    assert all(c.fewer and c.stats.n == 2 and "†" in c.markers for c in row.cells)
    assert "no_scene: no run for seed 2 (2 of 3 seeds, †)." in table.notes
    assert "averaged over fewer seeds than declared" in table.caption
    assert "† averaged" in markdown.render(table)


def test_a_failed_run_is_said_and_left_out_of_its_cell():
    frame = make_results_table().to_pandas()
    meta = _meta(make_results_table())
    broken = (frame["arm"] == "no_scene") & (frame["stage"] == "confirm") & (frame["seed"] == 1)
    # a run that failed after its second epoch: its last report's metrics are in the row
    frame.loc[broken, ["status", "error"]] = ["error", "RuntimeError: injected"]
    frame.loc[broken, "test_mse"] = 99.0
    table = ladder_table(from_frame(frame, meta, "results.parquet"))
    row = next(r for r in table.rows if r.key == "no_scene")
    assert all(c.fewer and c.stats.n == 2 for c in row.cells)
    assert row.cells[0].stats.mean < 1.0  # the failed run's 99 is not averaged in
    assert (
        "no_scene: the run of seed 1 failed (its message is in the results' error column), "
        "left out (2 of 3 seeds, †)." in table.notes
    )
    assert not any("no_scene: no run for seed" in n for n in table.notes)


def test_seeds_that_differ_between_arms():
    frame = make_results_table().to_pandas()
    meta = _meta(make_results_table())
    moved = (frame["arm"] == "flat") & (frame["stage"] == "confirm")
    frame.loc[moved, "seed"] = frame.loc[moved, "seed"] + 10
    table = ladder_table(from_frame(frame, meta, "results.parquet"))
    flat = table.rows[-1]
    assert all(
        c.test is not None and c.test.n_pairs == 0 and not c.test.testable for c in flat.cells
    )
    assert any(n.startswith("flat: no run for seed 0, 1, 2") for n in table.notes)
    assert any("not among the declared seeds" in n for n in table.notes)
    assert any(n.startswith("flat vs full:") and "0 shared seeds" in n for n in table.notes)


def test_nan_metric_is_left_out_and_said():
    table = ladder_table(_results(make_results_table(nan=[("no_market", 0, "test_mse")])))
    cell = table.rows[1].cells[0]
    assert cell.stats.n == 2 and cell.nan_seeds == (0,) and cell.fewer
    assert "no_market: MSE not finite (NaN) for seed 0, left out of the mean." in table.notes


def test_arm_without_results_is_a_missing_row():
    results = _results(make_results_table(drop=[("no_text", s) for s in (0, 1, 2)]))
    table = ladder_table(results)
    row = next(r for r in table.rows if r.key == "no_text")
    assert all(c.missing and c.mean_text == "–" for c in row.cells)
    assert "no_text: no results (–)." in table.notes
    assert "– no result." in table.caption


def test_ties_at_displayed_precision_share_bold():
    base = make_results_table(effects={"no_market": 0.0}, noise=0.0)
    table = ladder_table(_results(base))
    assert [r.cells[0].rank for r in table.rows[:3]] == ["best", "best", "second"]


def test_bad_input_raises_clear_messages():
    good = make_results_table()
    with pytest.raises(AnalysisError, match="results.parquet: the results table is empty"):
        from_table(good.slice(0, 0), "results.parquet")
    with pytest.raises(AnalysisError, match="metadata 'hmgray' is missing"):
        from_table(good.replace_schema_metadata({}), "results.parquet")
    with pytest.raises(AnalysisError, match="missing column\\(s\\) config_hash"):
        from_table(good.drop_columns(["config_hash"]), "results.parquet")
    meta = _meta(good)
    meta["metrics"]["test_mse"]["direction"] = "lower"
    with pytest.raises(AnalysisError, match="metrics.test_mse.direction must be 'min' or 'max'"):
        from_frame(good.to_pandas(), meta, "results.parquet")
    frame = good.to_pandas()
    dup = frame[(frame["stage"] == "confirm") & (frame["arm"] == "flat") & (frame["seed"] == 1)]
    with pytest.raises(AnalysisError, match="2 confirm rows for arm 'flat', seed 1"):
        from_frame(pd.concat([frame, dup]), _meta(good), "results.parquet")
    search_only = frame[frame["stage"] == "search"]
    with pytest.raises(AnalysisError, match="no rows with stage 'confirm'"):
        ladder_table(from_frame(search_only, _meta(good), "results.parquet"))


def _meta(table):
    import json

    return json.loads(table.schema.metadata[b"hmgray"])


def test_sweep_fewer_runs_and_missing_param():
    frame = make_results_table(sweep={"param": "gamma", "values": [0.1, 0.5]}).to_pandas()
    meta = _meta(make_results_table(sweep={"param": "gamma", "values": [0.1, 0.5]}))
    first_sweep = frame.index[frame["stage"] == "sweep"][0]
    table = sweep_table(from_frame(frame.drop(index=first_sweep), meta, "r.parquet"), "gamma")
    assert table.rows[0].cells[0].fewer and not table.rows[1].cells[0].fewer
    assert any("2 of 3 runs" in n for n in table.notes)
    with pytest.raises(AnalysisError, match="has 'curvature' in config_json"):
        sweep_table(from_frame(frame, meta, "r.parquet"), "curvature")


def test_sweep_over_search_rows_uses_the_search_metric():
    results = _results(make_results_table())
    table = sweep_table(results, "layers", stage="search", arm="full")
    assert [c.metric.name for c in table.columns] == ["val_mse"]
    assert all(math.isfinite(r.cells[0].stats.mean) for r in table.rows)
    assert "Validation metrics" in table.caption


def test_arm_references_compare_each_group_with_its_own_reference():
    """Two ladders in one table (e.g. one per backbone): metadata ``arm_references``."""
    import json

    arms = ("a_fine", "a_full", "b_fine", "b_full")
    effects = {"a_fine": 0.3, "a_full": 0.0, "b_fine": 0.0, "b_full": 0.3}
    t = make_results_table(arms=arms, seeds=(0, 1, 2, 3, 4), effects=effects,
                           reference_arm="a_full")  # fmt: skip
    meta = json.loads(t.schema.metadata[b"hmgray"])
    meta["arm_references"] = {"a_fine": "a_full", "b_fine": "b_full"}
    table = ladder_table(_results(t.replace_schema_metadata({"hmgray": json.dumps(meta)})))
    rows = {r.key: r for r in table.rows}
    assert rows["a_full"].is_reference and rows["b_full"].is_reference
    a, b = rows["a_fine"].cells[0], rows["b_fine"].cells[0]
    assert float(a.delta_text) == pytest.approx(30.0, abs=2.0)  # worse than a_full
    assert float(b.delta_text) == pytest.approx(-23.0, abs=2.0)  # better than b_full
    assert a.significant and b.significant
    assert "a_fine vs a_full; b_fine vs b_full" in table.caption
    assert table.options["references"]["b_fine"] == "b_full"
