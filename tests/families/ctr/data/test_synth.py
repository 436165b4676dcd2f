"""The synthetic generator: sizes, splits, pseudo-labels from training only, and the
oracle test of its planted process (the coarse labels carry information on the tail)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from hmgray.families.ctr.data.labels import tail_mask
from hmgray.families.ctr.data.synth import DAY, DAYS, EVAL_DAY_WEIGHT, T0, synthetic_tables


@pytest.fixture(scope="module")
def data():
    splits, context = synthetic_tables(60000, 0)
    return {k: v.to_pandas() for k, v in splits.items()}, context


def test_exact_size_and_split_by_day(data):
    frames, context = data
    assert sum(len(f) for f in frames.values()) == 60000
    day = {k: (f["time"] - T0) // DAY for k, f in frames.items()}
    assert day["train"].max() == DAYS - 3 and (day["val"] == DAYS - 2).all()
    assert (day["test"] == DAYS - 1).all()
    assert context["coarse"] == ["brand", "cate"]
    # the validation and test days hold EVAL_DAY_WEIGHT times a training day's rows
    per_train_day = len(frames["train"]) / (DAYS - 2)
    for name in ("val", "test"):
        assert len(frames[name]) / per_train_day == pytest.approx(EVAL_DAY_WEIGHT, rel=0.05)


def test_pseudo_labels_and_tail_come_from_the_training_split(data):
    frames, context = data
    train = frames["train"]
    clicked = {
        (u, b) for u, b, y in zip(train.user, train.brand, train.label, strict=True) if y == 1
    }
    for f in frames.values():
        want = [int((u, b) in clicked) for u, b in zip(f.user, f.brand, strict=True)]
        assert f.y_brand.tolist() == want
    assert (train.y_cate[train.label == 1] == 1).all()  # y = 1 implies y_c = 1
    counts = np.bincount(train.item, minlength=context["fields"]["item"])[1:]
    tail = np.concatenate([[True], tail_mask(counts, context["tail_share"])])
    for f in frames.values():
        assert (f["tail"].to_numpy() == tail[f.item]).all()


def test_histories_hold_the_users_earlier_views(data):
    frames, _ = data
    test = frames["test"]
    assert test.hist_brand.map(len).mean() > 10
    assert (test.hist_brand.map(len) == test.hist_cate.map(len)).all()


def test_oracle_coarse_labels_inform_the_long_tail(data):
    """On test rows of long-tail items, the pseudo-labels (from training clicks) rank
    clicks clearly better than the item's and the user's training click rates; the
    planted probability is the ceiling."""
    frames, _ = data
    train, test = frames["train"], frames["test"]
    tail = test[test["tail"]]
    assert tail.label.sum() >= 30
    item_ctr = (train.groupby("item").label.sum() + 0.05) / (train.groupby("item").size() + 1)
    user_ctr = (train.groupby("user").label.sum() + 0.05) / (train.groupby("user").size() + 1)
    jitter = np.random.default_rng(0).random(len(tail)) * 1e-6
    auc = {
        "coarse": roc_auc_score(tail.label, tail.y_brand + tail.y_cate + jitter),
        "item": roc_auc_score(tail.label, tail.item.map(item_ctr).fillna(0.05) + jitter),
        "user": roc_auc_score(tail.label, tail.user.map(user_ctr).fillna(0.05) + jitter),
        "truth": roc_auc_score(tail.label, tail.gt_p),
    }
    assert auc["coarse"] > max(auc["item"], auc["user"]) + 0.05, auc
    assert auc["truth"] > auc["coarse"], auc
    assert isinstance(tail, pd.DataFrame)


def test_group_interests_are_shared_and_learnable_from_the_group_field(monkeypatch):
    """With ``P_GROUP_INTEREST`` = 1 every user's interest brands are the group's (the
    ``group`` column), so a (group, brand) table of training click rates ranks test
    clicks far better than with individual interests, where that table knows nothing;
    at the default (0) there is no group field."""
    import hmgray.families.ctr.data.synth as synth

    def group_table_auc(p_group):
        monkeypatch.setattr(synth, "P_GROUP_INTEREST", p_group)
        splits, context = synth.synthetic_tables(40000, 3)
        train, test = splits["train"].to_pandas(), splits["test"].to_pandas()
        assert context["fields"]["group"] == synth.GROUPS + 1
        assert train.group.between(1, synth.GROUPS).all()
        # one group per user
        assert (train.groupby("user").group.nunique() == 1).all()
        rate = (train.groupby(["group", "brand"]).label.sum() + 0.01) / (
            train.groupby(["group", "brand"]).size() + 1
        )
        score = pd.Series(list(zip(test.group, test.brand, strict=True))).map(rate).fillna(0.0)
        return roc_auc_score(test.label, score)

    assert "group" not in synth.synthetic_tables(2000, 0)[1]["fields"]
    # a p of 1e-12 keeps the group field, which p = 0 leaves out, and shares nothing
    shared, individual = group_table_auc(1.0), group_table_auc(1e-12)
    assert shared > individual + 0.1 and shared > 0.7, (shared, individual)
