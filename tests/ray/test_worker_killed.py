"""Spot-safe runs: the Train worker of the toy task's seed-1 linear confirmation run kills
itself with SIGKILL in its third epoch (``HMGRAY_TOY_KILL``: no exception, no clean-up,
as when a node is lost). Ray Train restarts the worker group, the run goes on from its
epoch-2 checkpoint and finishes all 4 epochs, each reported once; the results table shows
the restart; the experiment exits 0; finished runs' checkpoints are pruned."""

import json
import os
import sys

import pytest

from hmgray.results import read_results
from hmgray.training.checkpoint import MANIFEST_FILE
from tests.ray.procs import run_in_new_session
from tests.toy_task import KILL_ENV

pytestmark = pytest.mark.ray

EPOCHS = 4
# 1200 rows: 840 for training, 53 steps of 16 per epoch; step 120 is in the third epoch,
# after the checkpoint of epoch 2 (step 106)
STEP = 120


def test_a_killed_worker_resumes_from_its_checkpoint(tmp_path):
    marker = tmp_path / "killed.txt"
    cmd = [sys.executable, "-m", "tests.contract_run", "toy", "--storage", str(tmp_path),
           "--name", "kill", "--seeds", "2", "--epochs", str(EPOCHS), "--n-rows", "1200",
           "--arms", "linear"]  # fmt: skip
    env = {**os.environ, KILL_ENV: f"linear:1:{STEP}:{marker}"}
    run, log = run_in_new_session(cmd, 480, env=env)
    if run is None:
        pytest.fail(f"the toy run did not finish:\n{log[-3000:]}")
    assert run.returncode == 0, run.stdout[-4000:]
    assert marker.exists() and f"at step {STEP}" in marker.read_text()  # the kill happened

    table, _ = read_results(str(tmp_path / "kill" / "results.parquet"))
    rows = table.to_pylist()
    assert all(r["status"] == "ok" for r in rows)
    confirm = {r["seed"]: r for r in rows if r["stage"] == "confirm"}
    assert sorted(confirm) == [0, 1]
    killed, other = confirm[1], confirm[0]
    # the same epoch count as an uninterrupted run, and the restart shows
    assert killed["training_iteration"] == other["training_iteration"] == EPOCHS
    assert (killed["restarts"], other["restarts"]) == (1, 0)
    curve = json.loads(killed["curve_json"])
    assert curve["epoch"] == [1.0, 2.0, 3.0, 4.0]  # one point per epoch: none redone twice

    # Tune's record of the run: every epoch reported once, the last two after going on
    # from the checkpoint of epoch 2 (not from scratch)
    trial_dir = next(
        p.parent
        for p in (tmp_path / "kill").rglob("result.json")
        if killed["trial_id"] in str(p.parent)
    )
    reports = [json.loads(line) for line in (trial_dir / "result.json").read_text().splitlines()]
    assert [r["epoch"] for r in reports] == [1, 2, 3, 4]
    assert [r["resumed_from"] for r in reports] == [0, 0, 2, 2]
    assert [r["restarts"] for r in reports] == [0, 0, 1, 1]

    # checkpoints: whole, in the experiment's storage; once a run has finished, a search
    # run's are deleted and a confirmation run keeps its last (Ray kept two while it ran)
    train = tmp_path / "kill" / "train"
    for r in rows:
        kept = sorted(p.name for p in (train / f"train-{r['trial_id']}").glob("epoch-*"))
        assert kept == ([] if r["stage"] == "search" else ["epoch-0004"]), (r["stage"], kept)
        assert all((train / f"train-{r['trial_id']}" / k / MANIFEST_FILE).exists() for k in kept)
