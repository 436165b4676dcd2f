import io

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from hmgray.data.text import hash_tokens, tokenize
from hmgray.errors import DataError
from hmgray.families.valuation.data.decode import decode_batch

KEYS = {
    "image": (np.float32, 4),
    "has_image": (np.float32, 1),
    "tokens": (np.int64, 2),
    "text_heads": (np.int64, 2),
    "scene_boxes": (np.float32, 3),
    "scene_labels": (np.int64, 2),
    "scene_mask": (np.float32, 2),
    "msrp": (np.float32, 1),
    "price": (np.float32, 1),
    "location_id": (np.int64, 1),
    "period": (np.int64, 1),
    "item_model_id": (np.int64, 1),
    "subtle": (np.float32, 1),
}


def _set(t, name, values, typ=None):
    return t.set_column(
        t.schema.get_field_index(name), name, pa.array(values, typ or t.schema.field(name).type)
    )


def _jpeg(w, h, seed=0):
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.fixture()
def table(small_tables):
    t = small_tables["val"]  # 9 synthetic rows
    images = t.column("image").to_pylist()
    images[1] = None
    images[2] = _jpeg(40, 32)
    t = _set(t, "image", images)
    desc = t.column("description").to_pylist()
    heads = t.column("text_heads").to_pylist()
    desc[0] = "w0 w1 w2 w3 w4 w5 w6"
    heads[0] = [6, 0, 0, -1, 3, 3, -1]  # w0 -> w6 (cut away at L=5), w4/w5 -> w3
    return _set(_set(t, "description", desc), "text_heads", heads)


def test_shapes_and_dtypes(table):
    b = decode_batch(table, image_size=(48, 48), max_words=32, max_regions=8)
    assert set(b) == set(KEYS)
    n = table.num_rows
    for k, (dtype, ndim) in KEYS.items():
        assert b[k].dtype == dtype and b[k].ndim == ndim and b[k].shape[0] == n, k
    assert b["image"].shape == (n, 3, 48, 48)
    assert b["tokens"].shape == b["text_heads"].shape == (n, 32)
    assert b["scene_boxes"].shape == (n, 8, 4) and b["scene_mask"].shape == (n, 8)


def test_image_values(table):
    b = decode_batch(table)
    png = table.column("image")[0].as_py()
    ref = (
        np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), np.float32).transpose(2, 0, 1) / 255
    )
    np.testing.assert_allclose(b["image"][0], ref, atol=1e-7)
    assert b["has_image"].tolist() == [1, 0] + [1] * (table.num_rows - 2)
    assert not b["image"][1].any()
    # the 40 x 32 JPEG is resized to 48 x 48 like PIL does
    ref = (
        Image.open(io.BytesIO(table.column("image")[2].as_py()))
        .convert("RGB")
        .resize((48, 48), Image.Resampling.BILINEAR)
    )
    np.testing.assert_allclose(
        b["image"][2], np.asarray(ref, np.float32).transpose(2, 0, 1) / 255, atol=1e-7
    )
    assert 0.0 <= b["image"].min() and b["image"].max() <= 1.0
    # a non-square target size: (H, W)
    assert decode_batch(table, image_size=(24, 32))["image"].shape == (table.num_rows, 3, 24, 32)


def test_tokens_and_heads(table):
    L = 5
    b = decode_batch(table, max_words=L, vocab_size=97)
    for i, (text, heads) in enumerate(
        zip(
            table.column("description").to_pylist(),
            table.column("text_heads").to_pylist(),
            strict=True,
        )
    ):
        ids = hash_tokens(tokenize(text), 97)[:L]
        assert b["tokens"][i].tolist() == ids + [0] * (L - len(ids))
        kept = [h if h < L else -1 for h in heads[:L]]
        assert b["text_heads"][i].tolist() == kept + [-1] * (L - len(kept))
    assert b["text_heads"][0].tolist() == [-1, 0, 0, -1, 3]


def test_regions_scalars_and_subtle(table):
    b = decode_batch(table, max_regions=8)
    boxes = table.column("scene_boxes").to_pylist()
    labels = table.column("scene_labels").to_pylist()
    for i in range(table.num_rows):
        r = len(boxes[i])
        np.testing.assert_array_equal(b["scene_boxes"][i, :r], np.asarray(boxes[i], np.float32))
        assert not b["scene_boxes"][i, r:].any()
        assert b["scene_labels"][i].tolist() == labels[i] + [0] * (8 - r)
        assert b["scene_mask"][i].tolist() == [1] * r + [0] * (8 - r)
    cut = decode_batch(table, max_regions=2)
    np.testing.assert_array_equal(cut["scene_boxes"], b["scene_boxes"][:, :2])
    assert cut["scene_mask"].sum() == 2 * table.num_rows
    np.testing.assert_allclose(b["price"], table.column("price").to_numpy().astype(np.float32))
    assert b["period"].tolist() == table.column("period").to_pylist()
    assert b["subtle"].tolist() == [float(x) for x in table.column("gt_defect_subtle").to_pylist()]
    real = table.drop_columns([c for c in table.column_names if c.startswith("gt_")])
    assert not decode_batch(real)["subtle"].any()


def test_sliced_and_chunked_tables_match(table):
    whole = decode_batch(table)
    part = decode_batch(table.slice(3, 4))  # non-zero list offsets
    chunked = decode_batch(pa.concat_tables([table.slice(0, 4), table.slice(4)]))
    for k in whole:
        np.testing.assert_array_equal(part[k], whole[k][3:7], err_msg=k)
        np.testing.assert_array_equal(chunked[k], whole[k], err_msg=k)


def test_undecodable_image_names_listing(table):
    images = table.column("image").to_pylist()
    images[4] = b"\x89PNG garbage"
    bad = _set(table, "image", images)
    lid = table.column("listing_id")[4].as_py()
    with pytest.raises(DataError, match=f"listing '{lid}': column 'image' cannot be decoded"):
        decode_batch(bad)


def test_heads_token_mismatch_names_listing(table):
    heads = table.column("text_heads").to_pylist()
    heads[5] = heads[5] + [0]
    lid = table.column("listing_id")[5].as_py()
    with pytest.raises(DataError, match=f"listing '{lid}': column 'text_heads'"):
        decode_batch(_set(table, "text_heads", heads))
