import hashlib
import subprocess
import sys

import numpy as np
import pytest

from hmgray.data.shards import load_manifest
from hmgray.data.text import tokenize
from hmgray.errors import ConfigError
from hmgray.families.valuation.data import synth as V
from hmgray.families.valuation.data.schema import validate_table_schema, validate_table_values


def test_determinism_same_seed_same_bytes():
    a = V.generate_valuation(120, seed=5)
    b = V.generate_valuation(120, seed=5)
    for split in ("train", "val", "test"):
        assert a[split].equals(b[split]), split  # includes the PNG bytes
    c = V.generate_valuation(120, seed=6)
    assert a["train"].column("image") != c["train"].column("image")
    assert a["train"].column("price") != c["train"].column("price")
    assert a["train"].column("description") != c["train"].column("description")


def test_written_shards_identical_for_same_seed(tmp_path):
    m1 = V.write_synthetic_valuation(str(tmp_path / "a"), n=50, seed=3)
    m2 = V.write_synthetic_valuation(str(tmp_path / "b"), n=50, seed=3)
    assert [(f.path, f.sha256) for f in m1.files] == [(f.path, f.sha256) for f in m2.files]
    assert m1.raw["generator"] == m2.raw["generator"]
    assert m1.raw["generator"]["params"]["p_detached"] == 0.2


def test_splits_schema_and_market(tmp_path, small_tables):
    assert {s: t.num_rows for s, t in small_tables.items()} == {"train": 42, "val": 9, "test": 9}
    ids = [i for t in small_tables.values() for i in t.column("listing_id").to_pylist()]
    assert len(set(ids)) == 60
    for split, t in small_tables.items():
        validate_table_schema(t.schema, split)
        validate_table_values(t, split)
    m = V.write_synthetic_valuation(str(tmp_path / "ds"), n=60, seed=0)
    loaded = load_manifest(str(tmp_path / "ds"))
    assert loaded.dataset == "synthetic-valuation" and loaded.context["image_size"] == [48, 48]
    train = small_tables["train"]
    pairs = sorted(
        {
            (i, loc)
            for i, loc in zip(
                train.column("item_model_id").to_pylist(),
                train.column("location_id").to_pylist(),
                strict=True,
            )
        }
    )
    assert m.context["market"]["edges"]["item__sold_in__location"] == [list(p) for p in pairs]
    assert m.context["market"]["item_models"] == [im.name for im in V.ITEM_MODELS]
    assert (
        len(m.context["market"]["location_names"]) == 8 and m.context["market"]["num_periods"] == 6
    )


def test_cli(tmp_path):
    out = tmp_path / "cli"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "hmgray.families.valuation.data.synth",
            "--out",
            str(out),
            "--n",
            "30",
            "--seed",
            "2",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "train=21, val=4, test=5" in r.stdout
    m = load_manifest(str(out))
    assert m.raw["generator"]["seed"] == 2 and m.raw["generator"]["n"] == 30
    assert hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest() in r.stdout


def test_price_decomposition(proof_data):
    t, _, _ = proof_data
    col = {
        c: np.asarray(t.column(c).to_pylist(), dtype=float)
        for c in (
            "gt_delta",
            "gt_delta_wear",
            "gt_delta_defect",
            "gt_delta_struct",
            "gt_delta_market",
            "gt_noise",
            "gt_market",
            "gt_wear",
            "gt_num_detached",
            "price",
            "msrp",
        )
    }
    total = (
        col["gt_delta_wear"]
        + col["gt_delta_defect"]
        + col["gt_delta_struct"]
        + col["gt_delta_market"]
        + col["gt_noise"]
    )
    np.testing.assert_allclose(col["gt_delta"], np.clip(total, 0, 0.95))
    np.testing.assert_allclose(col["price"], np.round(col["msrp"] * (1 - col["gt_delta"]), 2))
    np.testing.assert_allclose(col["gt_delta_wear"], 0.06 + 0.25 * col["gt_wear"])
    np.testing.assert_allclose(col["gt_delta_struct"], 0.15 * col["gt_num_detached"])
    np.testing.assert_allclose(col["gt_delta_market"], 0.08 * col["gt_market"])
    d = col["gt_delta_defect"][col["gt_delta_defect"] > 0]
    assert d.min() >= 0.15 and d.max() <= 0.25
    assert abs(col["gt_noise"].std() - 0.015) < 0.002


def test_rates(proof_data):
    t, _, _ = proof_data
    kind = t.column("gt_defect_kind").to_pylist()
    has = np.array([k is not None for k in kind])
    subtle = np.array(t.column("gt_defect_subtle").to_pylist())
    det = np.array(t.column("gt_detached").to_pylist())
    mentioned = np.array(t.column("gt_defect_mentioned").to_pylist())
    assert abs(has.mean() - 0.6) < 0.04
    assert abs(subtle[has].mean() - 0.5) < 0.05 and not subtle[~has].any()
    assert abs(det.mean() - 0.2) < 0.03
    assert abs(mentioned[has].mean() - 0.35) < 0.05 and not mentioned[~has].any()
    assert np.mean([x is None for x in t.column("image").to_pylist()]) < 0.03


def test_text_states_the_truth(proof_data):
    """Defect, relation and condition phrases appear exactly when the gt says so, and agree."""
    t, _, _ = proof_data
    rows = t.select(
        [
            "description",
            "gt_defect_kind",
            "gt_defect_mentioned",
            "gt_detached",
            "gt_relation_mentioned",
            "gt_wear",
            "gt_condition_mentioned",
            "item_model_id",
        ]
    ).to_pylist()
    for r in rows:
        words = tokenize(r["description"])
        s = set(words)
        assert (r["gt_defect_kind"] in s) == r["gt_defect_mentioned"]
        assert ("condition" in s) == r["gt_condition_mentioned"]
        if r["gt_condition_mentioned"]:
            quartile = ["like new", "good", "fair", "worn"][min(int(r["gt_wear"] * 4), 3)]
            assert quartile in " ".join(words)
        parts = V.ITEM_MODELS[r["item_model_id"]].parts
        for part, det, men in zip(parts, r["gt_detached"], r["gt_relation_mentioned"], strict=True):
            said_det = any(f"{part} {w}" in " ".join(words) for w in ("detached", "misplaced"))
            said_att = any(f"{part} {w}" in " ".join(words) for w in ("attached", "firmly"))
            assert said_det == (men and det) and said_att == (men and not det)


def test_dependency_trees_are_trees(proof_data):
    t, _, _ = proof_data
    for heads in t.column("text_heads").to_pylist()[:500]:
        n = len(heads)
        assert all(-1 <= h < n for h in heads)
        for i in range(n):  # following heads from any token reaches a root without a cycle
            seen, j = set(), i
            while heads[j] != -1:
                assert j not in seen
                seen.add(j)
                j = heads[j]


def _cells(box_px):
    x0, y0, x1, y1 = box_px
    return (int(x0) // 8, int(y0) // 8, (int(x1) - 1) // 8, (int(y1) - 1) // 8)


def test_layout_invariants(proof_data):
    """Objects sit on the patch grid with >= one patch of background between any two."""
    t, b, _ = proof_data
    boxes = np.rint(b["scene_boxes"][:, :3] * 48).astype(int)  # (N, 3, 4) px
    items = b["item_model_id"]
    det = np.array(t.column("gt_detached").to_pylist())
    for i in range(len(boxes)):
        bx0, by0, bx1, by1 = _cells(boxes[i, 0])
        assert (bx1 - bx0, by1 - by0) == (1, 1)  # body covers exactly a 2 x 2 cell block
        for j in (1, 2):
            cx0, cy0, cx1, cy1 = _cells(boxes[i, j])
            assert (cx0, cy0) == (cx1, cy1)  # a part lies inside one cell
            # Chebyshev cell distance 2 from the body block: the same ring attached or not
            dist = max(max(bx0 - cx0, 0, cx0 - bx1), max(by0 - cy0, 0, cy0 - by1))
            assert dist == 2
            canon = V.ITEM_MODELS[items[i]].offset_a if j == 1 else V.ITEM_MODELS[items[i]].offset_b
            at_canon = (cx0 - bx0, cy0 - by0) == canon
            assert at_canon != det[i, j - 1]
        for p, q in ((0, 1), (0, 2), (1, 2)):  # pixel gap >= 8 in x or in y
            a, c = boxes[i, p], boxes[i, q]
            gap = max(c[0] - a[2], a[0] - c[2], c[1] - a[3], a[1] - c[3])
            assert gap >= 8


def test_detached_placement_always_feasible():
    """Every catalog item, body block and detachment pattern leaves a cell for each part."""
    for im in V.ITEM_MODELS:
        offs = (im.offset_a, im.offset_b)
        lo = [max(0, *(-o[a] for o in offs)) for a in range(2)]
        hi = [min(4, *(5 - o[a] for o in offs)) for a in range(2)]
        assert lo[0] <= hi[0] and lo[1] <= hi[1]
        for bx in range(lo[0], hi[0] + 1):
            for by in range(lo[1], hi[1] + 1):
                block = (bx, by)
                canon = [(bx + o[0], by + o[1]) for o in offs]
                # one part detached, the other at its canonical cell
                assert V._detached_cells(block, canon[0], [canon[1]], 6)
                assert V._detached_cells(block, canon[1], [canon[0]], 6)
                # both detached: whatever cell part A takes, part B still has one
                first = V._detached_cells(block, canon[0], [], 6)
                assert first
                for cell in first:
                    assert V._detached_cells(block, canon[1], [cell], 6)


def test_params_validation():
    with pytest.raises(ConfigError, match="image_size"):
        V.generate_valuation(10, 0, V.SynthParams(image_size=64))
    with pytest.raises(ConfigError, match="split_fractions"):
        V.generate_valuation(10, 0, V.SynthParams(split_fractions=(0.5, 0.2, 0.2)))
    with pytest.raises(ConfigError, match="p_detached"):
        V.generate_valuation(10, 0, V.SynthParams(p_detached=1.5))
