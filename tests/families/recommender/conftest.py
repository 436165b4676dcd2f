"""Shared recommender fixtures: one small synthetic dataset, written once per session."""

import pytest

from hmgray.data.shards import load_manifest
from hmgray.task import get_task


@pytest.fixture(scope="session")
def rec_data(tmp_path_factory):
    """(task, manifest, context) of 400 synthetic interactions."""
    task = get_task("recommender")
    out = str(tmp_path_factory.mktemp("rec") / "data")
    task.generate(out, 400, seed=5)
    manifest = load_manifest(out, verify=True, task=task)
    return task, manifest, task.load_context(manifest)
