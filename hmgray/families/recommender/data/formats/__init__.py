"""Converters from real public recommendation data to recommender shards:
``amazon2023.convert_amazon2023`` (Amazon Reviews 2023). Command line:
``python -m hmgray.data.formats amazon2023 --help``."""
