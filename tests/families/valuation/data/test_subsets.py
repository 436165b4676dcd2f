"""Few-shot and long-tail training subsets: exact counts, the Zipf law, determinism, nesting."""

import numpy as np
import pytest

from hmgray.errors import ConfigError, DataError
from hmgray.families.valuation.data.subsets import (
    few_shot,
    item_orders,
    long_tail,
    split_table,
    zipf_counts,
)
from hmgray.families.valuation.data.synth import write_synthetic_valuation


def _ids(per_item=(30,) * 12, seed=0) -> np.ndarray:
    """An item_model_id column with ``per_item[i]`` rows of item i, shuffled."""
    ids = np.repeat(np.arange(len(per_item)), per_item)
    return np.random.default_rng(seed).permutation(ids)


def test_few_shot_takes_exactly_k_per_item_model():
    ids = _ids()
    for k in (1, 5, 30):
        rows = few_shot(ids, k, seed=3)
        assert rows.size == 12 * k and np.all(np.diff(rows) > 0)  # sorted, no repeats
        assert np.bincount(ids[rows], minlength=12).tolist() == [k] * 12


def test_subsets_are_deterministic_and_depend_on_the_seed():
    ids = _ids()
    assert np.array_equal(few_shot(ids, 5, seed=(0, 1)), few_shot(ids.copy(), 5, seed=(0, 1)))
    assert not np.array_equal(few_shot(ids, 5, seed=(0, 1)), few_shot(ids, 5, seed=(0, 2)))
    a, b = long_tail(ids, 60, 1.0, seed=7), long_tail(ids, 60, 1.0, seed=7)
    assert np.array_equal(a.indices, b.indices) and a.ranks == b.ranks


def test_subsets_of_one_seed_are_nested():
    ids = _ids()
    small, large = set(few_shot(ids, 5, seed=4)), set(few_shot(ids, 20, seed=4))
    assert small < large
    # the long-tail set takes prefixes of the same per-item orders
    lt = long_tail(ids, 80, 1.0, seed=4)
    orders = item_orders(ids, seed=4)
    for item, n in lt.counts.items():
        assert set(orders[item][:n]) == set(lt.indices[ids[lt.indices] == item])


def test_few_shot_too_few_listings_names_the_item_model():
    ids = _ids(per_item=(10,) * 5 + (3,))
    with pytest.raises(DataError, match=r"k=5.*item_model_id 5: 3"):
        few_shot(ids, 5, seed=0)
    with pytest.raises(ConfigError, match="k must be"):
        few_shot(ids, 0, seed=0)


def test_zipf_counts_follow_the_power_law_and_sum_exactly():
    n, total, s = 12, 10_000, 1.5
    counts = zipf_counts(n, total, s, min_count=0)
    assert counts.sum() == total and np.all(np.diff(counts) <= 0)
    # reference written independently: total * r^-s / H(n, s), rounded by at most 1
    ranks = np.arange(1, n + 1)
    want = total * ranks**-s / np.sum(ranks**-s)
    assert np.all(np.abs(counts - want) < 1.0)
    # the law: log n_r against log r has slope -s
    slope = np.polyfit(np.log(ranks), np.log(counts), 1)[0]
    assert slope == pytest.approx(-s, abs=0.02)


def test_zipf_counts_floor_keeps_every_item_model():
    counts = zipf_counts(12, 48, 1.5, min_count=1)
    assert counts.sum() == 48 and counts.min() >= 1 and counts[0] > 10 * counts[-1] / 2
    assert zipf_counts(4, 8, 0.0, min_count=0).tolist() == [2, 2, 2, 2]  # s = 0: uniform
    with pytest.raises(ConfigError, match="less than"):
        zipf_counts(12, 11, 1.0, min_count=1)
    with pytest.raises(ConfigError, match="exponent"):
        zipf_counts(12, 100, float("nan"))


def test_long_tail_counts_head_and_tail():
    ids = _ids(per_item=(200,) * 12)
    lt = long_tail(ids, 240, 1.5, seed=1)
    assert lt.indices.size == 240
    got = np.bincount(ids[lt.indices], minlength=12)
    assert {i: int(got[i]) for i in range(12)} == lt.counts
    by_rank = sorted(lt.counts, key=lambda i: lt.ranks[i])
    assert [lt.counts[i] for i in by_rank] == zipf_counts(12, 240, 1.5).tolist()
    # tail = the 6 rarest item models, head = the other 6, most frequent first
    assert lt.head == tuple(by_rank[:6]) and lt.tail == tuple(by_rank[6:])
    assert max(lt.counts[i] for i in lt.tail) <= min(lt.counts[i] for i in lt.head)
    assert lt.counts[lt.head[0]] > 10 * lt.counts[lt.tail[-1]]


def test_long_tail_ranks_are_a_seeded_permutation():
    ids = _ids(per_item=(200,) * 12)
    heads = {long_tail(ids, 240, 1.5, seed=s).head[0] for s in range(12)}
    assert len(heads) > 3  # which item model is frequent depends on the seed


def test_long_tail_needing_more_listings_than_exist_says_which_rank():
    ids = _ids(per_item=(20,) * 12)
    with pytest.raises(DataError, match=r"rank 1 needs \d+ listings.*item_model_id 0: 20"):
        long_tail(ids, 200, 1.5, seed=0)


def test_long_tail_gives_frequent_ranks_only_to_item_models_that_can_fill_them():
    # one item model has few listings: it can never be the most frequent one
    ids = _ids(per_item=(8,) + (60,) * 11)
    for seed in range(20):
        lt = long_tail(ids, 120, 1.5, seed=seed)
        assert lt.counts[0] <= 8 and lt.ranks[0] > 1


def test_split_table_is_the_split_in_file_order(tmp_path):
    manifest = write_synthetic_valuation(str(tmp_path / "d"), n=60, seed=0)
    table = split_table(manifest, "train", ["listing_id", "item_model_id"])
    assert table.num_rows == manifest.rows("train")
    assert table.column_names == ["listing_id", "item_model_id"]
    with pytest.raises(DataError, match="no files for split 'bogus'"):
        split_table(manifest, "bogus")
