"""Fixtures shared across test folders."""

import pytest

from hmgray.families.valuation.data.synth import generate_valuation


@pytest.fixture(scope="session")
def small_tables():
    """A tiny synthetic valuation dataset (split -> table) for shard and format tests."""
    return generate_valuation(60, seed=0)
