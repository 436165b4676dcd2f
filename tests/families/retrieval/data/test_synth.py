"""The synthetic generator's planted hierarchy: coarse traits only group, coarse and fine
traits together identify; images show the traits; splits are by identity."""

import io
import re

import numpy as np
import pytest
import torch
from PIL import Image

from hmgray.families.retrieval.data.synth import COLOURS, GROUPS, SIZE, synthetic_tables
from hmgray.families.retrieval.metrics import rank_metrics


@pytest.fixture(scope="module")
def data():
    tables, context = synthetic_tables(3200, 0)  # 1600 images, 400 identities
    return {k: v.to_pandas() for k, v in tables.items()}, context


def test_split_by_identity_with_every_group_in_every_split(data):
    frames, context = data
    ids = {k: set(f.identity) for k, f in frames.items()}
    assert not ids["train"] & ids["val"] and not ids["train"] & ids["test"]
    assert not ids["val"] & ids["test"]
    assert sum(len(v) for v in ids.values()) == context["num_identities"] == 400
    for f in frames.values():
        assert set(f.gt_group) == set(range(GROUPS))
        assert (f.groupby("image_id").identity.nunique() == 1).all()
        assert (f.groupby("image_id").size() == 2).all()  # two captions per image


def test_coarse_traits_only_group_fine_traits_identify(data):
    frames, _ = data
    for f in frames.values():
        coarse = f.groupby(["gt_upper", "gt_lower"]).identity.nunique()
        assert (coarse >= 2).all()  # every coarse description fits several identities
        assert f.groupby(["gt_upper", "gt_lower"]).gt_group.nunique().max() == 1
        full = f.groupby(["gt_upper", "gt_lower", "gt_shape", "gt_acc_colour", "gt_side"])
        assert (full.identity.nunique() == 1).all()  # ... and with the fine traits, one


CAPTION = re.compile(r"in an? (\w+) \w+ and (\w+) \w+(?: \w+ an? (\w+) (\w+) on the (\w+))?$")


def _traits_match(caption: str, row) -> int:
    """How many of the traits the caption names (upper, lower colour; accessory colour,
    shape, side) the image shows."""
    named = CAPTION.search(caption).groups()
    shown = (row.gt_upper, row.gt_lower, row.gt_acc_colour, row.gt_shape, row.gt_side)
    return sum(n == s for n, s in zip(named, shown, strict=True) if n is not None)


def test_oracle_full_captions_identify_abstract_ones_group(data):
    """Scoring each gallery image by the caption's trait words it shows: full captions
    find their identity at rank 1, abstract ones only their group."""
    frames, _ = data
    test = frames["test"]
    gallery = test.drop_duplicates("image_id")
    results = {}
    for abstract in (False, True):
        q = test[test.gt_abstract == abstract]
        # a tie favours nobody: the gallery is shuffled and a stable sort keeps the order
        gal = gallery.sample(frac=1.0, random_state=0)
        sim = torch.tensor([[_traits_match(c, r) for r in gal.itertuples()] for c in q.caption])
        results[abstract] = rank_metrics(
            sim.float(), torch.tensor(q.identity.values), torch.tensor(gal.identity.values)
        )
    assert results[False]["r1"] == 100.0 and results[False]["map"] == 100.0
    per_group = gallery.groupby("gt_group").identity.nunique().mean()
    assert results[True]["r1"] < 100.0 * 2.5 / per_group  # about 1 / identities per group
    assert results[True]["r10"] > 60.0  # ... but the group's images come first


def test_images_show_the_traits(data):
    frames, _ = data
    f = frames["train"].drop_duplicates("image_id").head(40)
    palette = np.array(list(COLOURS.values()), dtype=float)
    names = list(COLOURS)
    for row in f.itertuples():
        img = np.asarray(Image.open(io.BytesIO(row.image)), dtype=float)
        assert img.shape == (SIZE, SIZE, 3)
        for rows, want in ((slice(0, 4), row.gt_upper), (slice(SIZE - 4, SIZE), row.gt_lower)):
            median = np.median(img[rows].reshape(-1, 3), axis=0)
            assert names[int(np.argmin(np.linalg.norm(palette - median, axis=1)))] == want


def test_seeded_and_sized():
    a, _ = synthetic_tables(201, 3)
    b, _ = synthetic_tables(201, 3)
    assert a["train"].equals(b["train"])
    assert sum(t.num_rows for t in a.values()) == 201  # exactly n rows
    with pytest.raises(ValueError, match="at least"):
        synthetic_tables(16, 0)
