"""Converters from real second-hand listing exports to hmgray shards.

* ``craigslist.convert_craigslist``: Kaggle "Used Cars Dataset" ``vehicles.csv``.
* ``mercari.convert_mercari``: Mercari Price Suggestion ``train.tsv``.

Both read the export robustly (bad rows reported, never a crash halfway), join a user MSRP
table by key, take images from a local folder, and write shards plus ``manifest.json`` and
``conversion_report.json`` (``common.ConversionReport``). Command line:
``python -m hmgray.data.formats {craigslist,mercari} --help``.
"""

from hmgray.families.valuation.data.formats.common import (
    ConversionError,
    ConversionReport,
    load_msrp_table,
)
from hmgray.families.valuation.data.formats.craigslist import convert_craigslist
from hmgray.families.valuation.data.formats.mercari import convert_mercari

__all__ = [
    "ConversionError",
    "ConversionReport",
    "convert_craigslist",
    "convert_mercari",
    "load_msrp_table",
]
