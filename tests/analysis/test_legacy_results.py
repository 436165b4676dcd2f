"""A results table written by hmgray 0.1 before the Task protocol (the granularity smoke
run at commit 1db1ee0, kept as a fixture) still loads, regenerates its tables, and takes
rows appended by today's writer."""

import shutil
from pathlib import Path

import numpy as np

import analysis
from hmgray.results import metric_columns, read_results, write_results
from hmgray.task import get_task

FIXTURE = Path(__file__).parent / "fixtures" / "results-v0.1-granularity-smoke.parquet"
ARMS = ("global", "micro", "meso", "full")


def test_a_table_from_before_the_task_protocol_regenerates_its_tables(tmp_path):
    uri = tmp_path / "exp" / "results.parquet"
    uri.parent.mkdir()
    shutil.copy(FIXTURE, uri)
    report = analysis.build_report(str(uri))
    ladder = report.markdown["ladder"]
    rows = [line for line in ladder.splitlines() if line.startswith("| ")]
    assert all(any(f"| {arm} |" in r for r in rows) for arm in ARMS)
    assert "MSE subtle" in ladder and "MAPE (%)" in ladder  # labels from the old metadata
    assert (tmp_path / "exp" / "report" / "ladder.tex").is_file()


def test_todays_writer_appends_to_it(tmp_path):
    uri = str(tmp_path / "results.parquet")
    shutil.copy(FIXTURE, uri)
    old, meta = read_results(uri)
    row = old.slice(0, 1).to_pylist()[0]
    row["trial_id"] = "appended"
    table = write_results(uri, [row], meta, metric_columns(get_task("valuation")))
    assert table.num_rows == old.num_rows + 1
    assert set(old.column_names) <= set(table.column_names)
    np.testing.assert_array_equal(  # NaN (search rows have no test metrics) equals NaN
        table.column("test_mse").to_numpy()[:-1], old.column("test_mse").to_numpy()
    )
