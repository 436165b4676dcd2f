"""``--seeds auto:MAX`` through the runner on a local Ray: the toy task's two arms (``mean``
-> ``linear``, a step so large that the first look decides it), rounds that stop there,
the design in the results, the report's caption, and ``--resume`` replaying the rounds
without running anything again. About 8 min, marked ``slow`` (``make test-slow``): the
rounds' logic is tested without Ray in ``tests/experiments/test_sequential_seeds.py``.
"""

import sys

import pytest

from tests.ray.procs import ok_results, run_in_new_session

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def _run(storage, *extra):
    cmd = [sys.executable, "-m", "tests.contract_run", "toy", "--storage", str(storage)]
    # 1200 rows x 6 epochs: ~300 steps, so the linear arm learns y = x . w (one epoch of
    # the contract run's 120 rows leaves it at the mean's error)
    flags = ["--name", "seq", "--seeds", "auto:4", "--epochs", "6", "--n-rows", "1200"]
    run, log = run_in_new_session([*cmd, *flags, *extra], 540)
    if run is None:
        pytest.fail(f"the sequential toy run did not finish:\n{log[-3000:]}")
    return run


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    storage = tmp_path_factory.mktemp("runs")
    return storage, _run(storage)


def test_the_rounds_stop_at_the_first_look_that_decides(sequential):
    storage, run = sequential
    rows, meta = ok_results(run, storage / "seq")
    confirm = [r for r in rows if r["stage"] == "confirm"]
    assert sorted((r["arm"], r["seed"]) for r in confirm) == [
        (arm, s) for arm in ("linear", "mean") for s in (0, 1, 2)
    ]
    assert meta["seeds"] == [0, 1, 2] and meta["sequential"]["looks"] == [3, 4]
    assert "confirm, look 1 of 2: seeds [0, 1, 2]" in run.stdout
    assert "decided after 3 seeds: stop" in run.stdout
    ladder = (storage / "seq" / "report" / "ladder.md").read_text()
    assert "group-sequential design" in ladder
    assert "stopped after look 1 of 2 (3 seeds)" in ladder


def test_resume_replays_the_rounds(sequential):
    storage, run = sequential
    first, _ = ok_results(run, storage / "seq")
    resumed = _run(storage, "--resume")
    again, meta = ok_results(resumed, storage / "seq")
    assert sorted(r["trial_id"] for r in again) == sorted(r["trial_id"] for r in first)
    assert meta["seeds"] == [0, 1, 2]
