"""HMG-Net's search spaces: the common training knobs plus what each granularity level adds.

Spec format: ``hmgray.search.spaces``. Ranges from ``benchmarks/planted_ordering.py`` on
the synthetic valuation data: peak learning rates above ~1e-2 (one-cycle) converge to
poor solutions; dropout above ~0.2 only slows the small models down within an 8-epoch
budget.
"""

from __future__ import annotations

from hmgray.errors import ConfigError
from hmgray.task import Space

# Shared by every arm: the usual training knobs.
_COMMON: Space = {
    "lr": {"type": "float", "low": 1e-3, "high": 8e-3, "log": True},
    "weight_decay": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    "dropout": {"type": "float", "low": 0.0, "high": 0.2, "log": False},
}
# What each granularity level adds to the search (cumulative, like the arms).
_LEVEL: dict[str, Space] = {
    "global": {},
    "micro": {
        "attention": {"type": "categorical", "choices": ["softmax", "sparsemax", "entmax15"]}
    },
    "meso": {"gmn_layers": {"type": "int", "low": 1, "high": 2, "log": False}},
    "full": {
        "gamma": {"type": "float", "low": 0.25, "high": 4.0, "log": True},
        "gnn_layers": {"type": "int", "low": 1, "high": 2, "log": False},
    },
}
_ORDER = ("global", "micro", "meso", "full")


def hmgnet_space(arm: str) -> Space:
    """The search space of one HMG-Net arm: common knobs + those of its levels."""
    if arm not in _ORDER:
        raise ConfigError(f"unknown arm {arm!r}; valid arms: {', '.join(_ORDER)}")
    space = dict(_COMMON)
    for level in _ORDER[: _ORDER.index(arm) + 1]:
        space.update(_LEVEL[level])
    return space
