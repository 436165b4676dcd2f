"""``--workers-per-trial 2``: each run a data-parallel Ray Train run over two CPU workers
(DDP over gloo), the run's batch split across them. The toy task's linear arm, one
worker against two with the same global batch, seed and searched configuration, gives
the same validation error within the stated tolerance (the workers see the rows in
another order, so not bit for bit), and the two-worker runs did run on two workers."""

import glob
import json
import sys

import pytest

from tests.ray.procs import ok_results, run_in_new_session

pytestmark = pytest.mark.ray

# Four epochs of the searched configuration take the linear arm most of the way to
# y = x . w (validation R^2 0.829 with one worker, 0.828 with two, measured 2026-12-02);
# the two data orders leave the errors within 10 % of each other. A mean predictor has
# R^2 0, so the R^2 bound fails a run that did not learn.
TOLERANCE = 0.10


def _run(storage, name, workers):
    cmd = [sys.executable, "-m", "tests.contract_run", "toy", "--arms", "linear"]
    flags = ["--storage", str(storage), "--name", name, "--seeds", "1", "--epochs", "4",
             "--n-rows", "1200", "--workers-per-trial", str(workers)]  # fmt: skip
    run, log = run_in_new_session([*cmd, *flags], 420)
    if run is None:
        pytest.fail(f"the {workers}-worker toy run did not finish:\n{log[-3000:]}")
    return ok_results(run, storage / name), run


def _world_sizes(experiment) -> set[int]:
    sizes = set()
    for path in glob.glob(str(experiment / "*" / "*" / "result.json")):
        with open(path) as f:
            sizes |= {json.loads(line)["world_size"] for line in f if line.strip()}
    return sizes


def test_two_workers_match_one_worker(tmp_path):
    (one, _), _ = _run(tmp_path, "one", 1)
    (two, meta), run = _run(tmp_path, "two", 2)
    assert "each on 2 Train workers (data parallel)" in run.stdout
    assert _world_sizes(tmp_path / "one") == {1} and _world_sizes(tmp_path / "two") == {2}

    def pick(rows, stage):
        (row,) = [r for r in rows if r["stage"] == stage]
        return row

    assert pick(one, "search")["config_json"] == pick(two, "search")["config_json"]
    a, b = pick(one, "confirm"), pick(two, "confirm")
    assert a["val_r2"] > 0.6 and b["val_r2"] > 0.6, (a["val_r2"], b["val_r2"])
    assert abs(a["val_mse"] - b["val_mse"]) <= TOLERANCE * a["val_mse"], (
        a["val_mse"],
        b["val_mse"],
    )
