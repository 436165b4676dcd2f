"""The results table (contracts §5): one row per run, appended atomically, with metadata."""

import hashlib
import json
import math
import os
import re
from pathlib import Path

import pyarrow as pa
import pytest

from hmgray import results, storage
from hmgray.errors import StorageError
from hmgray.results import metric_columns, read_results, run_row, write_results
from hmgray.task import get_task

CONTRACTS = Path(__file__).resolve().parent.parent / "docs" / "contracts.md"
ARROW_TYPES = {
    "string": pa.string(),
    "string, nullable": pa.string(),
    "int64": pa.int64(),
    "bool": pa.bool_(),
    "float64": pa.float64(),
    "timestamp[us, UTC]": pa.timestamp("us", tz="UTC"),
}
COLUMNS = metric_columns(get_task("valuation"))  # the valuation task's val_/test_ metrics
PROVENANCE = {"git_commit": "0" * 40, "data_manifest_hash": "f" * 64}
META = {
    "experiment": "exp",
    "reference_arm": "full",
    "arm_order": ["global", "full"],
    "metrics": {"test_mse": {"label": "MSE", "direction": "min"}},
    "command": "python experiments/granularity_ablation.py --smoke-test",
    "seeds": [0, 1],
    "search_space": {"full": {"lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}}},
    "search_metric": "val_mse",
    "search_mode": "min",
}


def contract_columns() -> dict[str, pa.DataType]:
    """Column -> arrow type, parsed from the §5 table of docs/contracts.md."""
    text = CONTRACTS.read_text()
    section = text.split("## 5.", 1)[1].split("\n## ", 1)[0]
    cols = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0].startswith("`"):
            continue
        for name in re.findall(r"`([^`]+)`", cells[0]):
            cols[name] = ARROW_TYPES[cells[1]]
    return cols


def _row(iters=3, max_epochs=3, error=None, config=None, stage="search", trial="t1"):
    config = config or {"arm": "full", "seed": 2, "lr": 1e-3, "_driver_t0": 123.0}
    metrics = {"training_iteration": iters, "val_mse": 4.0, "wall_s": 9.5, "startup_s": 2.0}
    return run_row(
        experiment="exp",
        dataset="synthetic-valuation",
        stage=stage,
        trial_id=trial,
        config=config,
        metrics=metrics if error is None else {},
        max_epochs=max_epochs,
        error=error,
        provenance=PROVENANCE,
        columns=COLUMNS,
    )


def test_contract_section_parses():
    cols = contract_columns()
    assert cols["stopped_early"] == pa.bool_() and cols["created_at"].tz == "UTC"
    assert {"val_mse_subtle", "test_mape", "ray_version", "status", "error"} <= set(cols)


def test_schema_is_exactly_the_contract():
    schema = results.results_schema(COLUMNS)
    assert dict(zip(schema.names, schema.types, strict=True)) == contract_columns()


def test_completed_run():
    row = _row(iters=3, max_epochs=3)
    assert row["status"] == "ok" and row["error"] is None
    assert row["stopped_early"] is False
    assert row["training_iteration"] == 3 and row["seed"] == 2 and row["arm"] == "full"
    assert row["val_mse"] == 4.0 and row["wall_time_s"] == 9.5 and row["startup_s"] == 2.0
    assert math.isnan(row["test_mse"]) and math.isnan(row["val_mae"])  # not reported -> NaN
    assert row["git_commit"] == PROVENANCE["git_commit"]


def test_run_stopped_by_asha():
    row = _row(iters=1, max_epochs=3)
    assert row["stopped_early"] is True and row["status"] == "ok"


def test_a_run_resumed_from_a_checkpoint_counts_its_epochs_and_restarts():
    # Tune restarted the trial on --resume: 2 reports, but the run went on from epoch 2
    metrics = {"training_iteration": 2, "epoch": 4, "restarts": 1, "val_mse": 4.0}
    row = run_row(experiment="exp", dataset="d", stage="confirm", trial_id="t",
                  config={"arm": "full", "seed": 0}, metrics=metrics, max_epochs=4,
                  error=None, provenance=PROVENANCE, columns=COLUMNS)  # fmt: skip
    assert row["training_iteration"] == 4 and row["stopped_early"] is False
    assert row["restarts"] == 1
    assert _row()["restarts"] == 0  # a run that reported none never restarted


def test_failed_run_is_an_error_not_an_early_stop():
    row = _row(iters=0, max_epochs=3, error="RuntimeError: boom")
    assert row["status"] == "error" and row["error"] == "RuntimeError: boom"
    assert row["stopped_early"] is False
    assert row["training_iteration"] == 0 and math.isnan(row["val_mse"])


def test_config_json_and_hash():
    a = _row(config={"seed": 2, "lr": 1e-3, "arm": "full", "_driver_t0": 1.0})
    b = _row(config={"arm": "full", "lr": 1e-3, "seed": 2, "_driver_t0": 99.0})
    c = _row(config={"arm": "full", "lr": 2e-3, "seed": 2})
    # key order and the driver's start time are not part of the resolved config
    assert a["config_json"] == b["config_json"] == '{"arm": "full", "lr": 0.001, "seed": 2}'
    assert a["config_hash"] == b["config_hash"] != c["config_hash"]
    expected = hashlib.sha256(a["config_json"].encode()).hexdigest()[:12]
    assert a["config_hash"] == expected and re.fullmatch(r"[0-9a-f]{12}", expected)


def test_write_then_append_keeps_rows_and_metadata(tmp_path):
    uri = str(tmp_path / "exp" / "results.parquet")
    first = [_row(trial="s1"), _row(trial="s2", iters=1)]
    t1 = write_results(uri, first, META, COLUMNS)
    assert t1.num_rows == 2
    meta2 = {**META, "seeds": [0, 1, 2]}
    confirm = [_row(stage="confirm", trial="c1", error="ValueError: x")]
    write_results(uri, confirm, meta2, COLUMNS)
    table, meta = read_results(uri)
    assert table.column("trial_id").to_pylist() == ["s1", "s2", "c1"]
    assert table.column("stage").to_pylist() == ["search", "search", "confirm"]
    assert table.column("stopped_early").to_pylist() == [False, True, False]
    assert table.column("status").to_pylist() == ["ok", "ok", "error"]
    assert meta == meta2  # the latest metadata, whole
    assert os.listdir(tmp_path / "exp") == ["results.parquet"]  # no temporary files left


def test_table_read_back_matches_contract(tmp_path):
    uri = str(tmp_path / "results.parquet")
    write_results(uri, [_row(), _row(stage="confirm", trial="c")], META, COLUMNS)
    table = storage.read_parquet(uri)
    contract = contract_columns()
    got = dict(zip(table.schema.names, table.schema.types, strict=True))
    assert got == contract
    meta = json.loads(table.schema.metadata[b"hmgray"])
    for key in ("experiment", "reference_arm", "arm_order", "metrics", "command", "seeds"):
        assert key in meta
    for key in ("search_space", "search_metric", "search_mode"):
        assert meta[key] == META[key]
    created = table.column("created_at").to_pylist()
    assert all(t.tzinfo is not None and t.utcoffset().total_seconds() == 0 for t in created)
    # the analysis package reads what hmgray writes
    from analysis.load import load_results

    loaded = load_results(uri)
    assert loaded.reference_arm == "full" and loaded.search_metric == "val_mse"


def test_failed_write_keeps_the_old_table(tmp_path, monkeypatch):
    """A crash between writing the temporary file and the rename leaves the old table whole."""
    uri = str(tmp_path / "results.parquet")
    write_results(uri, [_row(trial="old")], META, COLUMNS)
    before = (tmp_path / "results.parquet").read_bytes()

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(storage.os, "replace", crash)
    with pytest.raises(StorageError, match="results.parquet"):
        write_results(uri, [_row(trial="new")], META, COLUMNS)
    monkeypatch.undo()
    assert (tmp_path / "results.parquet").read_bytes() == before
    assert os.listdir(tmp_path) == ["results.parquet"]
    table, _ = read_results(uri)
    assert table.column("trial_id").to_pylist() == ["old"]


def test_git_commit(tmp_path, monkeypatch):
    monkeypatch.delenv("HMGRAY_GIT_COMMIT", raising=False)
    here = results.git_commit()
    assert re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", here), here
    assert results.git_commit(tmp_path) == "unknown"  # not a checkout
    # a job shipped without .git (Ray's working_dir) gets the commit from the submitter
    monkeypatch.setenv("HMGRAY_GIT_COMMIT", "abc123+dirty")
    assert results.git_commit(tmp_path) == "abc123+dirty"


def test_ablation_arm_extra_metrics_and_curve():
    row = run_row(
        experiment="exp",
        dataset="d",
        stage="fewshot",
        trial_id="t",
        config={"arm": "full", "head": "direct", "ablation_arm": "direct", "seed": 0},
        metrics={"training_iteration": 2, "test_tail_mape": 12.5, "val_curve": '{"step": [0]}'},
        max_epochs=2,
        error=None,
        provenance=PROVENANCE,
        columns=(*COLUMNS, "test_tail_mape", "test_head_mape"),
    )
    assert row["arm"] == "direct"  # the ablation arm, not the model arm
    assert row["test_tail_mape"] == 12.5 and math.isnan(row["test_head_mape"])
    assert row["curve_json"] == '{"step": [0]}'
    assert _row()["curve_json"] is None  # no curve reported


def test_extra_metric_columns_and_appending_to_an_older_table(tmp_path):
    """A table written before curve_json / extra columns existed stays appendable."""
    uri = str(tmp_path / "results.parquet")
    full = results.results_schema(COLUMNS)
    old_schema = pa.schema([f for f in full if f.name != "curve_json"])
    old = pa.Table.from_pylist([_row(trial="old")], schema=old_schema)
    storage.atomic_write_parquet(old.replace_schema_metadata({"hmgray": json.dumps(META)}), uri)
    new = _row(trial="new")
    new.update(curve_json='{"step": [1]}', test_tail_mape=3.0)
    table = write_results(uri, [new], META, (*COLUMNS, "test_tail_mape"))
    assert table.schema.names == results.results_schema((*COLUMNS, "test_tail_mape")).names
    assert "test_tail_mape" in table.schema.names
    assert table.column("curve_json").to_pylist() == [None, '{"step": [1]}']
    assert table.column("test_tail_mape").to_pylist() == [None, 3.0]
    # a later append that does not name the extra column keeps it (null for the new row)
    table = write_results(uri, [_row(trial="later")], META, COLUMNS)
    assert table.column("test_tail_mape").to_pylist() == [None, 3.0, None]
    names = results.results_schema(("test_mse", "x", "x")).names
    assert names.count("x") == 1 and names.index("test_mse") < names.index("x")
    assert names.index("x") < names.index("wall_time_s")  # metrics sit between the bookkeeping


def test_a_failed_runs_error_keeps_the_workers_own_exception():
    from hmgray.results import error_summary, error_text

    inner = "RuntimeError: injected failure at training step 120 of seed 1"
    wrapped = (
        "\x1b[36mray::ImplicitFunc.train()\x1b[39m (pid=1, repr=run_trial)\n"
        + '  File "x.py", line 1, in f\n' * 400
        + "ray.train.WorkerGroupError: Training failed due to worker errors:\n"
        + '  File "loop.py", line 9, in train_epoch\n'
        + inner
    )
    text = error_text(RuntimeError(wrapped))
    assert len(text) <= 4000 and "\x1b[" not in text
    assert text.startswith("RuntimeError: ray::ImplicitFunc.train()") and text.endswith(inner)
    assert error_summary(text) == inner
    assert error_summary("ValueError: bad\n") == "ValueError: bad"
    assert error_summary("something odd\nmore") == "something odd"
    assert error_summary(None) == "no message"
