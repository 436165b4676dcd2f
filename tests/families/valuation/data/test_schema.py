import pyarrow as pa
import pytest

from hmgray.errors import DataError
from hmgray.families.valuation.data.schema import (
    GT_FIELDS,
    LISTING_SCHEMA,
    listing_schema,
    validate_table_schema,
    validate_table_values,
)


def test_contract_columns_and_types():
    # written out again, independently of the module, from docs/contracts.md section 1
    expected = {
        "listing_id": pa.string(),
        "image": pa.binary(),
        "description": pa.string(),
        "msrp": pa.float64(),
        "price": pa.float64(),
        "location_id": pa.int32(),
        "timestamp": pa.timestamp("s", tz="UTC"),
        "period": pa.int32(),
        "item_model": pa.string(),
        "item_model_id": pa.int32(),
        "category": pa.string(),
        "scene_boxes": pa.list_(pa.list_(pa.float32())),
        "scene_labels": pa.list_(pa.int32()),
        "text_heads": pa.list_(pa.int32()),
    }
    assert {f.name: f.type for f in LISTING_SCHEMA} == expected
    for name in (
        "gt_delta",
        "gt_delta_wear",
        "gt_delta_defect",
        "gt_delta_struct",
        "gt_market",
        "gt_defect_box",
        "gt_defect_subtle",
        "gt_defect_mentioned",
    ):
        assert name in GT_FIELDS
    assert GT_FIELDS["gt_defect_box"] == pa.list_(pa.float32())


def test_valid_schemas_pass():
    validate_table_schema(LISTING_SCHEMA, "x")
    validate_table_schema(listing_schema(list(GT_FIELDS)), "x")
    validate_table_schema(LISTING_SCHEMA.append(pa.field("gt_anything", pa.string())), "x")
    # Parquet read-back form of the timestamp
    i = LISTING_SCHEMA.get_field_index("timestamp")
    validate_table_schema(
        LISTING_SCHEMA.set(i, pa.field("timestamp", pa.timestamp("ms", tz="UTC"))), "x"
    )


@pytest.mark.parametrize(
    ("schema", "pattern"),
    [
        (
            LISTING_SCHEMA.remove(LISTING_SCHEMA.get_field_index("scene_labels")),
            r"f.parquet: missing required column 'scene_labels'",
        ),
        (
            LISTING_SCHEMA.set(3, pa.field("msrp", pa.float32())),
            r"f.parquet: column 'msrp' has type float, expected double",
        ),
        (
            LISTING_SCHEMA.set(6, pa.field("timestamp", pa.timestamp("s"))),
            r"f.parquet: column 'timestamp' has type timestamp\[s\], expected timestamp\[s, tz=UTC\]",
        ),
        (
            LISTING_SCHEMA.append(pa.field("extra", pa.int8())),
            r"f.parquet: unexpected column 'extra'",
        ),
        (
            LISTING_SCHEMA.append(pa.field("gt_delta", pa.float32())),
            r"f.parquet: column 'gt_delta' has type float, expected double",
        ),
        (
            LISTING_SCHEMA.append(pa.field("price", pa.float64())),
            r"duplicate column\(s\) \['price'\]",
        ),
    ],
)
def test_bad_schemas_name_file_and_field(schema, pattern):
    with pytest.raises(DataError, match=pattern):
        validate_table_schema(schema, "f.parquet")


def test_values_nulls_and_boxes(small_tables):
    t = small_tables["val"]
    validate_table_values(t, "v")
    desc = t.column("description").to_pylist()
    desc[1] = None
    bad = t.set_column(t.schema.get_field_index("description"), "description", pa.array(desc))
    with pytest.raises(DataError, match=r"v: column 'description' has 1 null"):
        validate_table_values(bad, "v")
    boxes = t.column("scene_boxes").to_pylist()
    boxes[0][1] = boxes[0][1][:3]
    bad = t.set_column(
        t.schema.get_field_index("scene_boxes"),
        "scene_boxes",
        pa.array(boxes, pa.list_(pa.list_(pa.float32()))),
    )
    with pytest.raises(
        DataError, match=r"v: column 'scene_boxes' has 1 box\(es\) without 4 values"
    ):
        validate_table_values(bad, "v")
