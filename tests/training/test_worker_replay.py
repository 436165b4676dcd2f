"""The worker's validation replay: read once through the source, replayed from memory."""

import torch

from hmgray.training.worker import ReplayBatches


def _source(calls: list, n: int = 3, rows: int = 4):
    def make():
        calls.append(1)
        for i in range(n):
            yield {"x": torch.full((rows, 2), float(i)), "tag": f"b{i}"}

    return make


def test_small_source_is_read_once_and_replayed_identically():
    calls = []
    batches = ReplayBatches(_source(calls), max_bytes=10_000)
    first = [b["x"].clone() for b in batches]
    second = [b["x"] for b in batches]
    third = list(batches)
    assert len(calls) == 1
    assert len(first) == len(second) == len(third) == 3
    for a, b in zip(first, second, strict=True):
        torch.testing.assert_close(a, b)
    assert [b["tag"] for b in third] == ["b0", "b1", "b2"]


def test_source_over_the_limit_is_read_every_pass():
    calls = []
    # 3 batches x 4 rows x 2 float32 = 96 bytes > 64
    batches = ReplayBatches(_source(calls), max_bytes=64)
    for _ in range(3):
        assert len(list(batches)) == 3
    assert len(calls) == 3 and batches.cached is None


def test_abandoned_pass_does_not_fill_the_cache():
    calls = []
    batches = ReplayBatches(_source(calls), max_bytes=10_000)
    next(iter(batches))  # stop after one batch
    assert batches.cached is None
    assert len(list(batches)) == 3 and len(calls) == 2
    assert len(list(batches)) == 3 and len(calls) == 2
