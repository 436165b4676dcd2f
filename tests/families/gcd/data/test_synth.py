"""The GCD generator's planted hierarchy: new classes share super-classes with old ones;
the coarse traits (background, shape) group super-classes, the fine ones (colour, place)
tell classes apart; the split never labels a new class."""

import io

import numpy as np
import pytest
from PIL import Image

from hmgray.families.gcd.data.synth import PER_SUPER, SUPER, class_tree, synthetic_tables
from hmgray.families.gcd.metrics import cluster_accuracy


@pytest.fixture(scope="module")
def data():
    table, context = synthetic_tables(960, 0)
    frame = table.to_pandas()
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
    assert (frame.split[~frame.labelled] == "unlabelled").all()
    assert set(frame.split[frame.labelled]) == {"labelled", "val"}
    share = frame.labelled[frame.old].mean()
    assert 0.4 < share < 0.6  # LABELLED = 0.5, seeded
    a, _ = synthetic_tables(200, 4)
    b, _ = synthetic_tables(200, 4)
    assert a.equals(b)
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
    # the coarse view: the centre of the image, which no glyph reaches (glyphs sit in the
    # quadrants, at most 1 pixel of jitter), shows only the background; the full image
    # shows the class's colour and place too
    coarse_background = pixels[:, 15:17, 15:17].reshape(len(pixels), -1)
    full = pixels.reshape(len(pixels), -1)
    by_super = _kmeans_accuracy(coarse_background, supers, SUPER, old)["all"]
    by_class_from_background = _kmeans_accuracy(coarse_background, labels, SUPER * PER_SUPER, old)
    by_class_full = _kmeans_accuracy(full, labels, SUPER * PER_SUPER, old)
    assert by_super > 0.95  # the background alone says the super-class
    assert by_class_from_background["all"] < 0.5  # ... but not the class
    assert by_class_full["all"] > 0.95 and by_class_full["new"] > 0.95  # the image does
