"""Converters from real public formats to hmgray shards, one entry point for all::

    python -m hmgray.data.formats craigslist --csv vehicles.csv --msrp msrp.csv --out DIR
    python -m hmgray.data.formats mercari --tsv train.tsv --msrp msrp.csv --out DIR
    python -m hmgray.data.formats amazon2023 --reviews Baby.jsonl.gz --meta meta_Baby.jsonl.gz \\
        --out DIR [--images DIR] [--k-core 5]

Each format belongs to a family; :data:`CONVERTERS` maps it to the family's command-line
module (``main(argv) -> exit status``), imported only when that format is asked for.
"""

from __future__ import annotations

__all__ = ["CONVERTERS"]

# format -> (module with main(argv), what it reads)
CONVERTERS: dict[str, tuple[str, str]] = {
    "craigslist": (
        "hmgray.families.valuation.data.formats.__main__",
        "Kaggle 'Used Cars Dataset' vehicles.csv (valuation)",
    ),
    "mercari": (
        "hmgray.families.valuation.data.formats.__main__",
        "Mercari Price Suggestion train.tsv (valuation)",
    ),
    "amazon2023": (
        "hmgray.families.recommender.data.formats.__main__",
        "Amazon Reviews 2023 <Category>.jsonl + meta_<Category>.jsonl (recommender)",
    ),
}
