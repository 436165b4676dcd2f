"""Search spaces, declared once as plain data and turned into Ray Tune domains.

The same declaration goes into the results table's metadata (``search_space``), so
``analysis/`` can rebuild each arm's Optuna study (search history, importances)
from the stored rows. Spec per parameter:
``{"type": "float"|"int", "low": a, "high": b, "log": bool}`` (inclusive bounds) or
``{"type": "categorical", "choices": [...]}``. A task declares its arms' spaces
(``Task.space``); :func:`validate_space` checks one.
"""

from __future__ import annotations

import math
from typing import Any

from hmgray.errors import ConfigError
from hmgray.task import Space


def to_tune(space: Space) -> dict[str, Any]:
    """Ray Tune domains for a declared space (bounds inclusive, as declared)."""
    from ray import tune  # not at import: analysis/ reads spaces without Ray

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


def validate_space(space: Space, where: str = "search space") -> None:
    """Raise ``ConfigError`` naming the parameter unless every spec is well formed:
    a known type, finite bounds with low <= high (low > 0 on a log scale), integer bounds
    for ``int``, a non-empty ``choices`` list for ``categorical``."""
    if not isinstance(space, dict):
        raise ConfigError(f"{where}: must be a dict of parameter -> spec")
    for name, spec in space.items():
        at = f"{where}: parameter {name!r}"
        kind = spec.get("type") if isinstance(spec, dict) else None
        if kind in ("float", "int"):
            low, high = spec.get("low"), spec.get("high")
            nums = (int,) if kind == "int" else (int, float)
            if not all(isinstance(v, nums) and not isinstance(v, bool) for v in (low, high)):
                raise ConfigError(f"{at}: 'low' and 'high' must be {kind} numbers")
            if not (math.isfinite(low) and math.isfinite(high) and low <= high):
                raise ConfigError(f"{at}: needs finite low <= high, got {low}, {high}")
            if spec.get("log") and low <= 0:
                raise ConfigError(f"{at}: a log scale needs low > 0, got {low}")
        elif kind == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, (list, tuple)) or not choices:
                raise ConfigError(f"{at}: 'choices' must be a non-empty list")
        else:
            raise ConfigError(f"{at}: unknown type {kind!r} (float, int or categorical)")


def to_optuna(space: Space) -> dict[str, Any]:
    """Optuna distributions of a declared space (sorted by name), for studies rebuilt or
    mirrored from Tune's trials (the journal, the importances in ``analysis/``)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, Any] = {}
    for name, spec in sorted(space.items()):
        kind = spec.get("type")
        if kind == "float":
            out[name] = FloatDistribution(
                float(spec["low"]),
                float(spec["high"]),
                log=bool(spec.get("log", False)),
                step=spec.get("step"),
            )
        elif kind == "int":
            out[name] = IntDistribution(
                int(spec["low"]),
                int(spec["high"]),
                log=bool(spec.get("log", False)),
                step=int(spec.get("step", 1)),
            )
        elif kind == "categorical":
            out[name] = CategoricalDistribution(list(spec["choices"]))
        else:
            raise ValueError(f"search_space.{name}: unknown type {kind!r}")
    return out


def paired_points(space: Space, n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` starting candidates of ``space`` drawn so that arms share them.

    Candidate k's value of a parameter depends only on (seed, k, the parameter's name and
    its spec): two arms whose spaces both hold ``lr`` with the same range get the same
    ``lr`` in their k-th trial, whatever else their spaces hold. Searched this way, arms
    are compared on common random draws of what they share (a paired design): one arm
    cannot win by a luckier draw of the learning rate. Each value is uniform on its range
    (log-uniform on a log scale), as Optuna's own start-up samples are.
    """
    import json
    import zlib

    import numpy as np

    points = []
    for k in range(n):
        point: dict[str, Any] = {}
        for name, spec in sorted(space.items()):
            key = zlib.crc32(json.dumps([name, spec], sort_keys=True, default=str).encode())
            rng = np.random.default_rng([seed, k, key])
            kind = spec["type"]
            if kind == "categorical":
                point[name] = spec["choices"][int(rng.integers(len(spec["choices"])))]
            elif spec.get("log"):
                low, high = math.log(spec["low"]), math.log(spec["high"] + (kind == "int"))
                value = math.exp(rng.uniform(low, high))
                point[name] = min(int(value), spec["high"]) if kind == "int" else value
            elif kind == "int":
                point[name] = int(rng.integers(spec["low"], spec["high"] + 1))
            else:
                point[name] = float(rng.uniform(spec["low"], spec["high"]))
        points.append(point)
    return points


def startup_trials(num_samples: int) -> int:
    """Trials of an arm's random start-up phase, sized to its budget: a third of the trials,
    at least 1 (the task's default configuration), at most 10 (Optuna's own default for
    TPE). TPE proposes every trial after these from the ones finished so far; with
    Optuna's fixed 10, a budget of 10 trials or fewer is all random draws."""
    if num_samples < 1:
        raise ConfigError(f"num_samples must be >= 1, got {num_samples}")
    return min(10, max(1, math.ceil(num_samples / 3)))


def _plain(value: Any) -> Any:
    """Tuples and lists compare alike (Tune hands lists back for tuple choices)."""
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def point_in_space(point: dict[str, Any], space: Space, where: str) -> dict[str, Any]:
    """``point`` (one value per parameter of ``space``), checked to lie in the space, with
    categorical values as the space declares them; ``ConfigError`` naming ``where``, the
    parameter, the value and the range otherwise."""
    out: dict[str, Any] = {}
    for name, spec in sorted(space.items()):
        if name not in point:
            raise ConfigError(f"{where}: no value for searched parameter {name!r}")
        value = point[name]
        if spec["type"] == "categorical":
            match = [c for c in spec["choices"] if _plain(c) == _plain(value)]
            if not match:
                raise ConfigError(
                    f"{where}: {name}={value!r} is not among the choices {spec['choices']}"
                )
            out[name] = match[0]
            continue
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok or not spec["low"] <= value <= spec["high"]:
            raise ConfigError(
                f"{where}: {name}={value!r} lies outside the searched range "
                f"[{spec['low']}, {spec['high']}]"
            )
        out[name] = int(value) if spec["type"] == "int" else float(value)
    return out
