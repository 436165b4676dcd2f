"""Leave-last-out by time, the users left out of evaluation, review texts, co-purchase."""

import numpy as np

from hmgray.families.recommender.data.split import cooccurrence_edges, leave_last_out


def _split(min_interactions=3):
    # user 0: items 5, 3, 9, 1 at times 40, 10, 30, 20 -> order 3, 1, 9, 5
    # user 1: two interactions only; user 2: none
    user = np.array([0, 0, 0, 0, 1, 1])
    item = np.array([5, 3, 9, 1, 3, 5])
    ts = np.array([40, 10, 30, 20, 7, 8])
    reviews = ["r5", "r3", "r9", "r1", "u1a", "u1b"]
    return leave_last_out(user, item, ts, np.ones(6), reviews, 3, min_interactions)


def test_last_is_test_the_one_before_validation_the_rest_history():
    tables, _, report = _split()
    rows = {s: t.to_pylist() for s, t in tables.items()}
    assert [(r["user"], r["item"]) for r in rows["test"]] == [(0, 5)]
    assert [(r["user"], r["item"]) for r in rows["val"]] == [(0, 9)]
    assert [(r["user"], r["item"]) for r in rows["train"] if r["user"] == 0] == [(0, 3), (0, 1)]
    assert rows["test"][0]["also_seen"] == [9]  # the validation item is masked at test
    assert rows["val"][0]["also_seen"] == []


def test_users_with_too_few_interactions_train_only_and_are_reported():
    tables, _, report = _split()
    assert [r["user"] for r in tables["train"].to_pylist()].count(1) == 2
    assert 1 not in tables["val"].column("user").to_pylist()
    assert (report.users, report.evaluated_users, report.too_few) == (2, 1, 1)
    assert any("1 users with fewer than 3" in line for line in report.lines())


def test_review_text_is_the_last_five_training_reviews_only():
    _, texts, _ = _split()
    assert texts == ["r3 r1", "u1a u1b", ""]  # not r9 (validation) nor r5 (test)
    user = np.zeros(8, dtype=int)
    _, texts, _ = leave_last_out(
        user, np.arange(8), np.arange(8), np.ones(8), [f"t{k}" for k in range(8)], 1
    )
    assert texts == ["t1 t2 t3 t4 t5"]  # training = t0..t5; the last five, oldest first


def test_cooccurrence_counts_pairs_of_training_items():
    tables, _, _ = leave_last_out(
        np.array([0, 0, 0, 1, 1, 1, 1, 1]),
        np.array([1, 2, 7, 1, 2, 3, 8, 9]),
        np.arange(8),
        np.ones(8),
        [""] * 8,
        2,
    )
    pairs, weight = cooccurrence_edges(tables["train"], 10)
    got = {(int(a), int(b)): float(w) for a, b, w in zip(pairs[0], pairs[1], weight, strict=True)}
    # user 0 trains on {1}, user 1 on {1, 2, 3}: pairs of user 1 only
    assert got == {(1, 2): 1.0, (1, 3): 1.0, (2, 3): 1.0}
