"""A failing run is a row, not a crash: the toy task's linear arm raises in the third epoch
of its seed-1 confirmation run (a fault injected through ``HMGRAY_TOY_FAIL``). That run gets
a results row with status ``error`` and the message; every other run finishes; the ladder
leaves the failed seed out and says so; the script exits 1 naming the run."""

import os
import sys

import pytest

from hmgray.results import read_results
from tests.ray.procs import run_in_new_session
from tests.toy_task import FAIL_ENV

pytestmark = pytest.mark.ray

# 1200 rows: 840 for training, 53 steps of 16 per epoch; step 120 is in the third epoch
FAULT = "linear:1:120"


def test_a_failing_run_is_a_row_and_a_non_zero_exit(tmp_path):
    cmd = [sys.executable, "-m", "tests.contract_run", "toy", "--storage", str(tmp_path),
           "--name", "fail", "--seeds", "3", "--epochs", "4", "--n-rows", "1200"]  # fmt: skip
    run, log = run_in_new_session(cmd, 480, env={**os.environ, FAIL_ENV: FAULT})
    if run is None:
        pytest.fail(f"the toy run did not finish:\n{log[-3000:]}")
    assert run.returncode == 1, run.stdout[-4000:]
    assert "error: 1 run(s) failed" in run.stdout
    assert "  confirm linear seed 1 (trial " in run.stdout
    assert "injected failure at training step 120 of seed 1" in run.stdout

    table, _ = read_results(str(tmp_path / "fail" / "results.parquet"))
    rows = table.to_pylist()
    bad = [r for r in rows if r["status"] != "ok"]
    assert [(r["stage"], r["arm"], r["seed"]) for r in bad] == [("confirm", "linear", 1)]
    assert "injected failure" in bad[0]["error"] and bad[0]["training_iteration"] == 2
    confirm = sorted((r["arm"], r["seed"]) for r in rows if r["stage"] == "confirm")
    assert confirm == [(a, s) for a in ("linear", "mean") for s in (0, 1, 2)]
    ladder = (tmp_path / "fail" / "report" / "ladder.md").read_text()
    assert "linear: the run of seed 1 failed" in ladder and "2 of 3 seeds" in ladder
