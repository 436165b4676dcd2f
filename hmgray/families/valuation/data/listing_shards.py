"""The valuation task's shard format: listing rows (``schema``) and their context.

The context of a listing dataset (the manifest's ``context``) is
``{"image_size": [H, W], "market": {...}}``: the images' size in pixels and the market
graph (``hmgray.families.valuation.data.market``). :data:`LISTING_SHARDS` implements
``hmgray.task.ShardSchema`` for ``hmgray.data.shards``: the Arrow schema, the value rules,
the market indices and the dependency trees of the descriptions.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from hmgray.data.text import tokenize
from hmgray.errors import DataError
from hmgray.families.valuation.data.market import EDGE_KEYS, MARKET_KEYS
from hmgray.families.valuation.data.schema import (
    LISTING_SCHEMA,
    SCHEMA_VERSION,
    validate_table_schema,
    validate_table_values,
)

__all__ = ["LISTING_SHARDS", "ListingShards", "listing_context"]


def listing_context(market: Mapping, image_size) -> dict:
    """The manifest context of a listing dataset."""
    return {"image_size": [int(x) for x in image_size], "market": dict(market)}


def validate_market(market: Mapping, where: str) -> None:
    if not isinstance(market, Mapping):
        raise DataError(f"{where}: field 'market' must be an object, got {type(market).__name__}")
    for key in MARKET_KEYS:
        if key not in market:
            raise DataError(f"{where}: field 'market.{key}' is missing")
    edges = market["edges"]
    if not isinstance(edges, Mapping):
        raise DataError(f"{where}: field 'market.edges' must be an object")
    for key in EDGE_KEYS:
        if key not in edges:
            raise DataError(f"{where}: field 'market.edges.{key}' is missing")
    if len(market["location_coords"]) != len(market["location_names"]):
        raise DataError(
            f"{where}: field 'market.location_coords' length differs from 'location_names'"
        )
    if len(market["item_model_msrp"]) != len(market["item_models"]):
        raise DataError(
            f"{where}: field 'market.item_model_msrp' length differs from 'item_models'"
        )


def check_market_ranges(table: pa.Table, market: Mapping, where: str) -> None:
    """Index columns must point into the market's node lists."""
    limits = {
        "location_id": len(market["location_names"]),
        "period": int(market["num_periods"]),
        "item_model_id": len(market["item_models"]),
    }
    for name, hi in limits.items():
        v = table.column(name).to_numpy()
        bad = (v < 0) | (v >= hi)
        if bad.any():
            raise DataError(
                f"{where}: column {name!r} has {int(bad.sum())} row(s) outside [0, {hi}) "
                f"(the size of the manifest's market)"
            )


def check_text_heads(table: pa.Table, where: str) -> None:
    """``text_heads`` has one head per token and each head is -1 or a token index."""
    descriptions = table.column("description").to_pylist()
    heads = table.column("text_heads").to_pylist()
    ids = table.column("listing_id").to_pylist()
    for lid, text, h in zip(ids, descriptions, heads, strict=True):
        n = len(tokenize(text))
        if len(h) != n:
            raise DataError(
                f"{where}: listing {lid!r}: column 'text_heads' has {len(h)} heads for {n} tokens"
            )
        if any(x < -1 or x >= n for x in h):
            raise DataError(
                f"{where}: listing {lid!r}: column 'text_heads' has a head outside [-1, {n})"
            )


class ListingShards:
    """``hmgray.task.ShardSchema`` of listing shards."""

    version = SCHEMA_VERSION
    key_column = "listing_id"

    def order(self, table: pa.Table) -> pa.Table:
        """Contract columns first, in contract order, then the gt_* columns as given."""
        required = LISTING_SCHEMA.names
        extra = [n for n in table.column_names if n not in required]
        return table.select(required + extra)

    def validate_schema(self, schema: pa.Schema, where: str) -> None:
        validate_table_schema(schema, where)

    def validate_values(self, table: pa.Table, context: Mapping, where: str) -> None:
        validate_table_values(table, where)
        check_market_ranges(table, context["market"], where)
        check_text_heads(table, where)

    def validate_context(self, context: Mapping, where: str) -> None:
        size = context.get("image_size")
        if not (
            isinstance(size, (list, tuple))
            and len(size) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in size)
        ):
            raise DataError(
                f"{where}: field 'image_size' must be [height, width] positive ints, got {size}"
            )
        if "market" not in context:
            raise DataError(f"{where}: field 'market' is missing")
        validate_market(context["market"], where)


LISTING_SHARDS = ListingShards()


def write_listing_shards(
    tables_by_split: Mapping[str, pa.Table],
    out_uri: str,
    *,
    dataset: str,
    generator: Mapping,
    market: Mapping,
    image_size,
    **kwargs,
):
    """``hmgray.data.shards.write_shards`` for listings: the valuation task, with the
    context built from ``market`` and ``image_size`` = (H, W). Returns the Manifest."""
    from hmgray.data.shards import write_shards

    size = list(image_size) if isinstance(image_size, (list, tuple)) else image_size
    if not (isinstance(size, list) and len(size) == 2 and all(int(x) > 0 for x in size)):
        raise DataError(
            f"write_shards({out_uri}): field 'image_size' must be 2 positive ints, got {image_size}"
        )
    return write_shards(
        tables_by_split,
        out_uri,
        task="valuation",
        dataset=dataset,
        generator=generator,
        context=listing_context(market, size),
        **kwargs,
    )
