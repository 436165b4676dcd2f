"""Converters of real data sets into category discovery shards (``cub-gcd``)."""
