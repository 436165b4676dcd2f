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


def test_an_autoscaling_cluster_is_sized_by_what_it_may_grow_to():
    from hmgray.experiment import autoscaled_slots

    present = {"CPU": 8.0}  # the head only: no GPU worker is up yet
    ceiling = {"CPU": 24.0, "GPU": 4.0}  # e.g. head + 0..4 one-GPU workers
    args = _args(gpus=0.5)
    concurrent, res, bundles, why = autoscaled_slots(args, present, ceiling, most_runs=16)
    assert concurrent == 8 and res.gpus_per_worker == 0.5
    assert bundles == [{"CPU": 1.0, "GPU": 0.5}] * 8 and "autoscaler's maximum" in why
    assert "4 GPU" in why
    # capped at the largest stage; every worker of every run is asked for
    concurrent, _, bundles, _ = autoscaled_slots(_args(gpus=0.5, workers=2), present, ceiling, 3)
    assert concurrent == 3 and len(bundles) == 6  # 4 runs fit; the largest stage has 3
    assert autoscaled_slots(args, present, ceiling, most_runs=3)[0] == 3
    # without a GPU present and without a ceiling: one run at a time, nothing asked
    concurrent, _, bundles, why = autoscaled_slots(args, present, None, most_runs=16)
    assert (concurrent, bundles, why) == (1, [], "the resources present")
    # --max-concurrent wins and asks for nothing
    concurrent, _, bundles, why = autoscaled_slots(
        _args(gpus=0.5, max_concurrent=5), present, ceiling, 16
    )
    assert (concurrent, bundles, why) == (5, [], "--max-concurrent")


def test_the_autoscaler_ceiling_is_read_from_the_cluster_config(monkeypatch):
    import ray._private.state as ray_state
    from ray.core.generated import autoscaler_pb2

    from hmgray.ray_runtime import autoscaler_ceiling

    config = autoscaler_pb2.ClusterConfig()
    head = config.node_group_configs.add(name="head", min_count=1, max_count=1)
    head.resources["CPU"] = 8
    gpu = config.node_group_configs.add(name="gpu", min_count=0, max_count=4)
    gpu.resources.update({"CPU": 4, "GPU": 1})
    monkeypatch.setattr(ray_state.state, "get_cluster_config", lambda: config)
    assert autoscaler_ceiling() == {"CPU": 24.0, "GPU": 4.0}
    gpu.max_count = 0  # nothing can scale up: a fixed cluster
    assert autoscaler_ceiling() is None
    gpu.max_count = -1  # unlimited: nothing to size by
    assert autoscaler_ceiling() is None
    monkeypatch.setattr(ray_state.state, "get_cluster_config", lambda: None)
    assert autoscaler_ceiling() is None
