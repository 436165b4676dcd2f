"""Search spaces, declared once as plain data and turned into Ray Tune domains.

The same declaration goes into the results table's metadata (``search_space``), so
``analysis/`` can rebuild each arm's Optuna study (search history, importances)
from the stored rows. Spec per parameter:
``{"type": "float"|"int", "low": a, "high": b, "log": bool}`` (inclusive bounds) or
``{"type": "categorical", "choices": [...]}``.
"""

from __future__ import annotations

from typing import Any

from ray import tune

from hmgray.errors import ConfigError

Spec = dict[str, Any]
Space = dict[str, Spec]

# Shared by every arm: the usual training knobs.
# Ranges from benchmarks/planted_ordering.py on the synthetic valuation data: peak
# learning rates above ~1e-2 (one-cycle) converge to poor solutions; dropout above ~0.2
# only slows the small models down within an 8-epoch budget.
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


def to_tune(space: Space) -> dict[str, Any]:
    """Ray Tune domains for a declared space (bounds inclusive, as declared)."""
    out: dict[str, Any] = {}
    for name, spec in space.items():
        kind = spec.get("type")
        if kind == "float":
            fn = tune.loguniform if spec.get("log") else tune.uniform
            out[name] = fn(spec["low"], spec["high"])
        elif kind == "int":
            # Tune's integer upper bounds are exclusive; declared ones are inclusive.
            fn = tune.lograndint if spec.get("log") else tune.randint
            out[name] = fn(spec["low"], spec["high"] + 1)
        elif kind == "categorical":
            out[name] = tune.choice(list(spec["choices"]))
        else:
            raise ConfigError(f"search space parameter {name!r}: unknown type {kind!r}")
    return out
