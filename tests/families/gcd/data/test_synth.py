"""The GCD generator's planted hierarchy: new classes share super-classes with old ones;
the coarse traits (background, shape) group super-classes, the fine ones (colour, place)
tell classes apart; the split never labels a new class."""

import io

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from hmgray.families.gcd.data.synth import PER_SUPER, SUPER, class_tree, synthetic_tables
from hmgray.families.gcd.metrics import cluster_accuracy


@pytest.fixture(scope="module")
def data():
    splits, context = synthetic_tables(960, 0)
    frame = pa.concat_tables([splits["train"], splits["val"]]).to_pandas()
    pixels = np.stack(
        [np.asarray(Image.open(io.BytesIO(b)), dtype=np.float64) for b in frame.image]
    )
    return frame, context, pixels


def test_every_new_class_shares_its_super_class_with_old_ones():
    tree = class_tree(0)
    assert len(tree) == SUPER * PER_SUPER
    for s in range(SUPER):
        members = [c for c in tree if c["super"] == s]
        assert any(c["old"] for c in members) and any(not c["old"] for c in members)
        # the fine traits are unique within the super-class
        assert len({(c["colour"], c["quadrant"]) for c in members}) == len(members)


def test_the_split_labels_only_old_classes(data):
    frame, context, _ = data
    assert not frame.labelled[~frame.old].any()
    assert set(frame.label[frame.old]) == set(context["old_classes"])
    share = frame.labelled[frame.old].mean()
    assert 0.4 < share < 0.6  # LABELLED = 0.5, seeded
    splits, _ = synthetic_tables(960, 0)
    train, val, test = (splits[s].to_pandas() for s in ("train", "val", "test"))
    assert val.labelled.all() and val.old.all()  # held-out labelled images of old classes
    assert not set(val.sample_id) & set(train.sample_id)
    # test = exactly the unlabelled training images, labels and pixels included
    unlabelled = train[~train.labelled].sort_values("sample_id").reset_index(drop=True)
    assert test.sort_values("sample_id").reset_index(drop=True).equals(unlabelled)
    assert 0.1 < len(val) / frame.labelled.sum() < 0.3  # HELD_OUT = 0.2
    a, _ = synthetic_tables(200, 4)
    b, _ = synthetic_tables(200, 4)
    assert all(a[s].equals(b[s]) for s in a)
    with pytest.raises(ValueError, match="at least"):
        synthetic_tables(50, 0)


def _kmeans_accuracy(features, labels, k, old):
    """Cluster by nearest class mean of the features (an oracle clustering) and score it."""
    means = np.stack([features[labels == c].mean(0) for c in range(k)])
    pred = ((features[:, None, :] - means[None]) ** 2).sum(-1).argmin(1)
    return cluster_accuracy(labels, pred, old)


def test_coarse_traits_group_super_classes_fine_traits_tell_classes(data):
    frame, _, pixels = data
    labels, supers = frame.label.to_numpy(), frame.gt_super.to_numpy()
    old = frame.old.to_numpy()
    # the coarse view: each image's median colour, the background's (the glyph covers at
    # most 144 of 1024 pixels); the full image shows the class's colour and place too
    coarse_background = np.median(pixels.reshape(len(pixels), -1, 3), axis=1)
    # the whole image, divided by its mean (which takes the brightness jitter off)
    full = pixels.reshape(len(pixels), -1)
    full = full / full.mean(axis=1, keepdims=True)
    by_super = _kmeans_accuracy(coarse_background, supers, SUPER, old)["all"]
    by_class_from_background = _kmeans_accuracy(coarse_background, labels, SUPER * PER_SUPER, old)
    by_class_full = _kmeans_accuracy(full, labels, SUPER * PER_SUPER, old)
    assert by_super > 0.95  # the background alone says the super-class
    assert by_class_from_background["all"] < 0.5  # ... but not the class
    assert by_class_full["all"] > 0.95 and by_class_full["new"] > 0.95  # the image does
