"""The planted structure of the synthetic recommender data: each modality carries
information the others cannot recover, and the oracle needs all of them."""

import numpy as np
import pyarrow as pa
import pytest

from hmgray.data.text import tokenize
from hmgray.families.recommender.data import synth
from hmgray.families.recommender.task import ranking_metrics


@pytest.fixture(scope="module")
def data():
    return synth.synthetic_tables(8000, seed=1)


def _oracle_recall(data, drop=None):
    splits, side, ctx, _ = data
    items, users = side["items"], side["users"]
    topic, style, comm = (
        items.column(f"gt_{k}").to_numpy() for k in ("topic", "style", "community")
    )
    fav = np.stack(
        [users.column(f"gt_fav_{k}").to_numpy() for k in ("topic", "style", "community")], 1
    )
    test, train = splits["test"], splits["train"]
    u, target = test.column("user").to_numpy(), test.column("item").to_numpy()
    s = np.log(items.column("gt_pop").to_numpy())[None, :].repeat(len(u), 0)
    for name, attr, beta, k in (
        ("text", topic, synth.BETA_T, 0),
        ("image", style, synth.BETA_I, 1),
        ("graph", comm, synth.BETA_G, 2),
    ):
        if name != drop:
            s = s + beta * (attr[None, :] == fav[u, k : k + 1])
    seen = np.zeros((ctx["num_users"], ctx["num_items"]), bool)
    seen[train.column("user").to_numpy(), train.column("item").to_numpy()] = True
    seen[u, [a[0] for a in test.column("also_seen").to_pylist()]] = True  # validation items
    s[seen[u]] = -np.inf
    top = np.argsort(-s, axis=1, kind="stable")[:, :20]
    return ranking_metrics(top, target)["recall_20"]


def test_exactly_n_interactions_and_every_user_evaluated(data):
    splits, _, ctx, report = data
    assert sum(t.num_rows for t in splits.values()) == 8000
    assert splits["test"].num_rows == splits["val"].num_rows == ctx["num_users"]
    assert report.too_few == 0


def test_the_oracle_needs_every_modality(data):
    full = _oracle_recall(data)
    for drop in ("text", "image", "graph"):
        without = _oracle_recall(data, drop)
        assert without < full - 0.05, (drop, without, full)


def _accuracy(signal: list[str], label: np.ndarray) -> float:
    """How well the majority label of each signal value predicts the label."""
    hits = 0
    for value in set(signal):
        idx = [k for k, s in enumerate(signal) if s == value]
        hits += np.bincount(label[idx]).max()
    return hits / len(label)


def test_each_attribute_is_visible_in_its_modality_only(data):
    _, side, _, _ = data
    items = side["items"]
    topic, style, comm = (
        items.column(f"gt_{k}").to_numpy() for k in ("topic", "style", "community")
    )
    has_desc = np.array([d is not None for d in items.column("description").to_pylist()])
    words = [
        sorted({w.split("word")[0] for w in tokenize(d or "") if w.startswith("topic")})
        for d in items.column("description").to_pylist()
    ]
    text_topic = [" ".join(w) for w in words]
    idx = np.flatnonzero(has_desc)
    assert _accuracy([text_topic[k] for k in idx], topic[idx]) == 1.0  # text: the topic
    # near chance (1 / K; the majority of ~25 items per group inflates it to ~0.3)
    chance = 0.4
    assert _accuracy([text_topic[k] for k in idx], style[idx]) < chance  # ... not the style
    assert _accuracy([text_topic[k] for k in idx], comm[idx]) < chance  # ... nor the community
    hue = []
    from hmgray.data.images import decode_image

    with_image = [k for k, b in enumerate(items.column("image").to_pylist()) if b is not None]
    for k in with_image:
        px = decode_image(items.column("image")[k].as_py(), (16, 16), "item").reshape(-1, 3)
        bright = px[np.abs(px.astype(int) - 128).sum(1) > 120]  # the stripes
        hue.append(str(int(np.argmin(((synth.HUES[None] - bright.mean(0)[None]) ** 2).sum(-1)[0]))))
    w = np.array(with_image)
    assert _accuracy(hue, style[w]) > 0.95  # image: the style
    assert _accuracy(hue, topic[w]) < chance and _accuracy(hue, comm[w]) < chance


def test_missing_descriptions_and_images_at_the_planted_rates(data):
    _, side, _, _ = data
    items = side["items"]
    n = items.num_rows
    no_image = items.column("image").null_count / n
    no_desc = items.column("description").null_count / n
    assert abs(no_image - synth.P_NO_IMAGE) < 0.08 and abs(no_desc - synth.P_NO_DESCRIPTION) < 0.08
    assert isinstance(items, pa.Table)
