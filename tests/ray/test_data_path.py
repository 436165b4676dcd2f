"""The runner's data path: materialise once or stream, picked by decoded size.

``choose_data_path`` estimates the decoded size of the splits from a decoded sample and
the manifest's row counts; the estimate must be close to what materialising the splits
really takes, and the choice must follow the object store's size. A streamed dataset
gives the same batches as a materialised one.
"""

from __future__ import annotations

import math
import os

import pytest

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module", autouse=True)
def _environment_restored():
    """An in-process ``ray.init`` sets ``RAY_AUTH_MODE=token`` (and hmgray's Train
    switches) in ``os.environ``; later tests' subprocesses must not inherit them (the
    smoke test checks that a fresh job announces token authentication)."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="module")
def valuation_shards(tmp_path_factory):
    import ray

    from hmgray.families.valuation.task import ValuationTask
    from hmgray.ray_runtime import init_ray

    task = ValuationTask()
    manifest = task.generate(str(tmp_path_factory.mktemp("shards")), 600, 0)
    init_ray(num_cpus=2, log_to_driver=False)
    yield task, manifest, task.fixed_settings(manifest)
    ray.shutdown()


def test_the_estimate_is_close_to_the_materialised_size(valuation_shards):
    from hmgray.data.ray_dataset import decoded_bytes, decoded_splits

    task, manifest, settings = valuation_shards
    splits = ("train", "val", "test")
    estimate = decoded_bytes(manifest, task, settings, splits, sample_rows=64)
    real = sum(ds.size_bytes() for ds in decoded_splits(manifest, task, settings, splits).values())
    assert real > 0
    assert 0.8 < estimate / real < 1.25, (estimate, real)


def test_auto_follows_the_object_store(valuation_shards):
    from hmgray.data.ray_dataset import MATERIALIZE_SHARE, choose_data_path, decoded_bytes

    task, manifest, settings = valuation_shards
    splits = ("train", "val", "test")
    size = decoded_bytes(manifest, task, settings, splits)
    big = choose_data_path(manifest, task, settings, splits, "auto", int(4 * size))
    assert big.materialize and big.name == "materialize" and "within" in big.why
    small = choose_data_path(
        manifest, task, settings, splits, "auto", int(0.9 * size / MATERIALIZE_SHARE)
    )
    assert not small.materialize and small.name == "stream" and "over" in small.why
    # the running cluster's object store when none is given: 600 listings fit
    assert choose_data_path(manifest, task, settings, splits).materialize


def test_explicit_paths_and_a_bad_one(valuation_shards):
    from hmgray.data.ray_dataset import choose_data_path
    from hmgray.errors import DataError

    task, manifest, settings = valuation_shards
    assert not choose_data_path(manifest, task, settings, ("train",), "stream").materialize
    assert choose_data_path(manifest, task, settings, ("train",), "materialize").materialize
    with pytest.raises(DataError, match="--data-path"):
        choose_data_path(manifest, task, settings, ("train",), "lazy")


def test_streamed_and_materialised_batches_agree(valuation_shards):
    import numpy as np

    from hmgray.data.ray_dataset import decoded_splits

    task, manifest, settings = valuation_shards
    lazy = decoded_splits(manifest, task, settings, ("val",), materialize=False)["val"]
    held = decoded_splits(manifest, task, settings, ("val",))["val"]
    a = list(lazy.iter_batches(batch_size=50, batch_format="numpy"))
    b = list(held.iter_batches(batch_size=50, batch_format="numpy"))
    assert len(a) == len(b) > 1
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        for k in x:
            np.testing.assert_array_equal(x[k], y[k])


def test_the_ingest_benchmark_feeds_every_training_row_once(capsys):
    import ray

    from benchmarks import ingest

    if ray.is_initialized():  # the benchmark starts its own Ray
        ray.shutdown()
    out = ingest.main(["--task", "valuation", "--n", "300", "--epochs", "1", "--num-cpus", "2"])
    assert set(out) == {"materialize", "stream"}
    for path in out.values():
        assert path["rows"] == 210  # the synthetic valuation split: 70 % of 300 train
        assert path["ratio"] > 0 and math.isfinite(path["ratio"])
    assert "ingest ratio" in capsys.readouterr().out
