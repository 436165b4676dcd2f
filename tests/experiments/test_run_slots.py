"""How many runs go at once and what each run's Train workers ask for
(``hmgray.experiment.run_slots``), and the even split of a run's batch over its workers."""

import argparse

import pytest

from hmgray.errors import ConfigError
from hmgray.experiment import run_slots
from hmgray.training.settings import worker_batch_size


def _args(workers=1, gpus=0.0, max_concurrent=None):
    return argparse.Namespace(
        workers_per_trial=workers, gpus_per_trial=gpus, max_concurrent=max_concurrent
    )


def test_one_worker_runs_fill_the_cpus():
    concurrent, res = run_slots(_args(), {"CPU": 2.0})
    assert concurrent == 2 and res.num_workers == 1
    assert res.cpus_per_worker == pytest.approx(0.95)  # 2 runs' drivers keep 0.1 CPU free


def test_two_worker_runs_take_two_cpus_each():
    concurrent, res = run_slots(_args(workers=2), {"CPU": 8.0})
    assert concurrent == 4 and res.num_workers == 2
    assert concurrent * res.num_workers * res.cpus_per_worker <= 8.0 - 0.01 * concurrent
    concurrent, res = run_slots(_args(workers=2), {"CPU": 2.0})
    assert concurrent == 1 and res.cpus_per_worker == pytest.approx(0.97, abs=0.01)


def test_gpu_runs_are_sized_by_the_gpus_their_workers_hold():
    concurrent, res = run_slots(_args(workers=2, gpus=0.5), {"CPU": 16.0, "GPU": 4.0})
    assert concurrent == 4 and res.gpus_per_worker == 0.5 and res.cpus_per_worker == 1.0
    assert run_slots(_args(workers=4, gpus=1.0), {"CPU": 16.0, "GPU": 2.0})[0] == 1
    assert run_slots(_args(workers=2, max_concurrent=3), {"CPU": 2.0})[0] == 3


def test_the_batch_splits_evenly_or_the_flag_is_named():
    assert worker_batch_size(32, 1) == 32 and worker_batch_size(32, 4) == 8
    with pytest.raises(ConfigError, match="--workers-per-trial"):
        worker_batch_size(32, 3)


def test_a_batch_that_does_not_split_is_refused_before_ray_starts(tmp_path):
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "tests.contract_run", "toy", "--storage", str(tmp_path),
           "--name", "odd", "--workers-per-trial", "3"]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "batch_size 16 does not split evenly over 3 Train workers" in run.stderr
    assert "--workers-per-trial" in run.stderr and "Ray's output" not in run.stdout
    assert not (tmp_path / "odd").exists()  # the generated data went with it
